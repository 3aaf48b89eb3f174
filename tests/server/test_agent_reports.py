"""What an agent batch says beyond its samples (issue 15 items 6 and 7): the
losses it reports are stored and answered by /api/v1/losses per host and
reason, once however often the batch is resent; and the resend key is per
tenant, so one tenant's batch numbers never make another's real batch a
"duplicate" nor tell it which batches the other sent (real app, SQLite and
PostgreSQL; the schema migrated from the previous revision too)."""

from __future__ import annotations

import time

import pytest
import zstandard
from sqlalchemy import create_engine, inspect, text

from profiler.agent.batch import encode_batch
from profiler.model import Sample
from profiler.server.app import ServerConfig, create_app, shutdown
from profiler.store.migrate import upgrade
from tests.server.helpers import BURN, MAIN

AGENT = {"Content-Type": "application/x-flamecam-batch"}


def batch(agent_id: str, seq: int, host: str = "host-a", n: int = 5,
          lost: dict[str, int] | None = None) -> bytes:
    t0 = time.time_ns() - 10**9
    samples = [Sample("cpu", t0 + i * 10**7, 100, 101, 0, "app", "w", (MAIN, BURN), 10**7)
               for i in range(n)]
    data = encode_batch(samples, lambda s: {"host": host, "service_name": "app"},
                        agent_id=agent_id, seq=seq, lost=lost)
    return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 24)


def test_losses_are_stored_once_and_answered(client):
    lost = {"spool_dropped": 365528, "rejected": 12, "lost_cpu": 3}
    for _ in range(2):  # a resend stores nothing twice, losses included
        r = client.post("/api/v1/agent/push", data=batch("a1", 7, lost=lost), headers=AGENT)
        assert r.status_code == 200, r.data[:200]
    r = client.post("/api/v1/agent/push", data=batch("a1", 8, lost={"spool_dropped": 2}),
                    headers=AGENT)
    assert r.get_json() == {"accepted_samples": 5, "duplicate": False}
    client.post("/api/v1/agent/push", data=batch("b1", 1, host="host-b",
                                                 lost={"rejected": 5}), headers=AGENT)
    got = client.get("/api/v1/losses?query=cpu{}&from=now-1h&until=now").get_json()["losses"]
    assert [(x["host"], x["reason"], x["count"]) for x in got] == [
        ("host-a", "spool_dropped", 365530), ("host-a", "rejected", 12),
        ("host-b", "rejected", 5), ("host-a", "lost_cpu", 3)]
    assert all(x["lost"] for x in got)  # all lost; only offcpu_summed is sampled
    assert (got[0]["unit"], got[0]["why"]) == ("samples",
                                               "dropped from the agent's full spool or disk")
    # Label matchers keep the losses of the hosts they select.
    got = client.get('/api/v1/losses?query=cpu{host="host-b"}&from=now-1h&until=now')
    assert [(x["host"], x["count"]) for x in got.get_json()["losses"]] == [("host-b", 5)]
    # Out of the range: none.
    got = client.get("/api/v1/losses?query=cpu{}&from=now-3h&until=now-2h").get_json()
    assert got == {"losses": []}


@pytest.mark.parametrize("lost", [{"Bad Key": 1}, {"x" * 65: 1},
                                  {f"k{i}": 1 for i in range(33)}])
def test_bad_loss_keys_are_400(client, lost):
    r = client.post("/api/v1/agent/push", data=batch("a1", 1, lost=lost), headers=AGENT)
    assert r.status_code == 400 and r.get_json()["error"], r.data[:200]
    assert client.get("/api/v1/losses?query=cpu{}").get_json() == {"losses": []}


@pytest.fixture
def tenant_client(db_url):
    app = create_app(ServerConfig(db_url=db_url, maintenance=False, multitenancy=True))
    yield app.test_client()
    shutdown(app)


def _push(c, org: str, data: bytes) -> dict:
    r = c.post("/api/v1/agent/push", data=data, headers={**AGENT, "X-Scope-OrgID": org})
    assert r.status_code == 200, r.data[:200]
    return r.get_json()


def _ticks(c, org: str) -> int:
    r = c.get("/api/v1/render?query=cpu{}&from=now-1h&until=now",
              headers={"X-Scope-OrgID": org})
    return r.get_json()["flamebearer"]["numTicks"]


def test_resend_key_is_per_tenant(tenant_client):
    c = tenant_client
    # Tenant B sends A's agent id and next seq first.
    assert _push(c, "b", batch("agent-of-a", 43, n=2)) == {"accepted_samples": 2,
                                                           "duplicate": False}
    # A's real batch 43 is stored, and B learned nothing of A's batches.
    assert _push(c, "a", batch("agent-of-a", 43, n=5)) == {"accepted_samples": 5,
                                                           "duplicate": False}
    assert _push(c, "b", batch("agent-of-a", 44, n=1))["duplicate"] is False
    assert _ticks(c, "a") == 5 * 10**7 and _ticks(c, "b") == 3 * 10**7
    # A's own resend is still recognised.
    assert _push(c, "a", batch("agent-of-a", 43, n=5)) == {"accepted_samples": 0,
                                                           "duplicate": True}
    assert _ticks(c, "a") == 5 * 10**7


def test_migration_from_0002_keeps_resend_records(db_url):
    """A database made by the previous revision gains the tenant and the loss table;
    its resend records stay, for the single-tenant server's tenant."""
    from alembic import command
    from alembic.config import Config

    from profiler.store.migrate import MIGRATIONS

    eng = create_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO agent_batches (agent_id, seq, received_ns) "
                          "VALUES ('old-agent', 9, :t)"), {"t": time.time_ns()})
    upgrade(eng)
    insp = inspect(eng)
    assert "agent_losses" in insp.get_table_names()
    assert {c["name"] for c in insp.get_columns("agent_batches")} >= {"tenant"}
    eng.dispose()
    app = create_app(ServerConfig(db_url=db_url, maintenance=False))
    try:
        c = app.test_client()
        assert c.post("/api/v1/agent/push", data=batch("old-agent", 9),
                      headers=AGENT).get_json() == {"accepted_samples": 0, "duplicate": True}
    finally:
        shutdown(app)
