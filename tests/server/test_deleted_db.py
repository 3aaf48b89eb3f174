"""A SQLite database deleted under a running server (issue 15 item 5): every
request that would store or read answers 503 with Retry-After (agents keep
their batches spooled), /healthz reports unhealthy, and nothing is
acknowledged that a restart would not find (real server process)."""

from __future__ import annotations

import time

import requests

from profiler.agent.batch import encode_batch
from profiler.model import Sample
from tests.server.helpers import BURN, MAIN, profile, push_request

PROTO = {"Content-Type": "application/proto"}
AGENT = {"Content-Type": "application/x-flamecam-batch", "Content-Encoding": "zstd"}


def _agent_batch(seq: int) -> bytes:
    t0 = time.time_ns() - 10**9
    samples = [Sample("cpu", t0 + i * 10**7, 100, 101, 0, "app", "w", (MAIN, BURN), 10**7)
               for i in range(5)]
    return encode_batch(samples, lambda s: {"host": "h"}, agent_id="agent-1", seq=seq)


def test_deleted_sqlite_file_answers_503_and_healthz_unhealthy(tmp_path, server_factory):
    db = tmp_path / "flamecam.db"
    srv = server_factory(f"sqlite:///{db}").start()
    push = push_request({"service_name": "before"}, profile())
    assert requests.post(srv.url + "/push.v1.PusherService/Push", data=push, headers=PROTO,
                         timeout=10).status_code == 200
    assert requests.post(srv.url + "/api/v1/agent/push", data=_agent_batch(1), headers=AGENT,
                         timeout=10).status_code == 200
    for f in tmp_path.glob("flamecam.db*"):
        f.unlink()
    r = requests.post(srv.url + "/push.v1.PusherService/Push",
                      data=push_request({"service_name": "after"}, profile()), headers=PROTO,
                      timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"], (r.status_code, r.text[:200])
    r = requests.post(srv.url + "/api/v1/agent/push", data=_agent_batch(2), headers=AGENT,
                      timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"], (r.status_code, r.text[:200])
    r = requests.post(srv.url + "/ingest?name=app", data=b"a;b 1", timeout=10)
    assert r.status_code == 503, (r.status_code, r.text[:200])
    r = requests.get(srv.url + "/api/v1/series?query={}", timeout=10)
    assert r.status_code == 503, (r.status_code, r.text[:200])
    r = requests.get(srv.url + "/healthz", timeout=10)
    assert r.status_code == 503 and r.json() == {"status": "unhealthy"}, r.text[:200]
    assert not db.exists(), "the server made a new, empty database in its place"
    srv.stop()
    # A restart makes a new database: it is empty, and nothing said otherwise.
    srv2 = server_factory(f"sqlite:///{db}").start()
    got = requests.get(srv2.url + "/api/v1/series?query={}&from=0", timeout=10).json()
    assert got == {"series": []}
