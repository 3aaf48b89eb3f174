"""Sums past int64 (issue 15 item 3): a request whose values add up past int64
is refused with a one-line 400 and stores nothing; values that pass one by
one but overflow once merged (two pushes of 6e18 ns) are compacted with
saturated sums; and a group that cannot be compacted is skipped and reported,
not a stop for every later group (real app, SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import time

from sqlalchemy import create_engine, text

from profiler.agent.batch import encode_batch
from profiler.model import Profile, Sample
from profiler.store.maintenance import MaintenanceConfig, compact
from tests.server.helpers import BURN, MAIN, push_request

PROTO = {"Content-Type": "application/proto"}
I63 = (1 << 63) - 1


def _prof(values: list[int], t0: int) -> Profile:
    return Profile([Sample("cpu", t0 + i * 10**7, 100, 101, 0, "app", "w", (MAIN, BURN), v)
                    for i, v in enumerate(values)], t0, t0 + len(values) * 10**7, 100)


def _refused_400(r) -> None:
    assert r.status_code == 400, (r.status_code, r.data[:200])
    assert r.get_json()["error"] and "\n" not in r.get_json()["error"]


def _stored_nothing(client) -> None:
    r = client.get("/api/v1/series?query={}&from=0&until=now%2B1h")
    assert r.status_code == 200 and r.get_json()["series"] == [], r.data[:200]


def test_pprof_push_summing_past_int64_is_400(client):
    t0 = time.time_ns() - 5 * 10**9
    body = push_request({"service_name": "big"}, _prof([1 << 62] * 3, t0))
    _refused_400(client.post("/push.v1.PusherService/Push", data=body, headers=PROTO))
    _stored_nothing(client)


def test_agent_batch_summing_past_int64_is_400(client):
    t0 = time.time_ns() - 5 * 10**9
    samples = [Sample("cpu", t0 + i, 100, 101, 0, "app", "w", (MAIN, BURN), (1 << 64) - 1)
               for i in range(2)]
    import zstandard
    data = zstandard.ZstdDecompressor().decompress(
        encode_batch(samples, lambda s: {"host": "h"}, agent_id="a", seq=1),
        max_output_size=1 << 24)
    r = client.post("/api/v1/agent/push", data=data,
                    headers={"Content-Type": "application/x-flamecam-batch"})
    _refused_400(r)
    _stored_nothing(client)


def test_legacy_pprof_in_ms_summing_past_int64_is_400(client):
    t0 = time.time_ns() - 5 * 10**9
    raw = _pprof_ms([1 << 62] * 3, t0)
    r = client.post("/ingest?name=app&format=pprof", data=raw)
    _refused_400(r)
    _stored_nothing(client)


def _pprof_ms(values: list[int], t0: int) -> bytes:
    """A pprof whose one sample type is cpu/milliseconds, one sample per value."""
    from profiler.formats.proto import profile_pb2

    p = profile_pb2.Profile()
    p.string_table.extend(["", "cpu", "milliseconds", "main"])
    p.sample_type.add(type=1, unit=2)
    p.function.add(id=1, name=3)
    p.location.add(id=1).line.add(function_id=1)
    for v in values:
        p.sample.add(location_id=[1], value=[v])
    p.time_nanos = t0
    return p.SerializeToString()


def _series_blocks(db_url: str) -> list[tuple[int, int, int]]:
    eng = create_engine(db_url)
    with eng.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT series_id, level, total FROM blocks ORDER BY series_id, level"))]
    eng.dispose()
    return rows


def test_two_pushes_that_overflow_once_merged_compact(app, client, db_url):
    """Each push is one 6e18 ns sample (each fine); merged they pass int64."""
    t0 = time.time_ns() - 50 * 60 * 10**9
    for i in range(2):
        body = push_request({"service_name": "big"}, _prof([6 * 10**18], t0 + i * 10**9))
        r = client.post("/push.v1.PusherService/Push", data=body, headers=PROTO)
        assert r.status_code == 200, r.data[:200]
    store = app.extensions["flamecam"].store
    assert compact(store, MaintenanceConfig()) == 1
    assert _series_blocks(db_url) == [(1, 1, I63)]
    fb = client.get("/api/v1/render?query=cpu{}&from=now-1h&until=now").get_json()
    assert fb["flamebearer"]["numTicks"] == I63


def test_a_group_that_cannot_be_compacted_is_skipped_and_reported(app, client, db_url,
                                                                   caplog):
    """A block whose samples cannot be read (damaged on disk) fails its group's
    merge; every other group is still compacted, and the bad one is logged once."""
    t0 = time.time_ns() - 50 * 60 * 10**9
    for service in ("bad", "good"):
        for i in range(2):
            body = push_request({"service_name": service}, _prof([10**7], t0 + i * 10**9))
            assert client.post("/push.v1.PusherService/Push", data=body,
                               headers=PROTO).status_code == 200
    eng = create_engine(db_url)
    with eng.begin() as conn:
        bad = conn.execute(text("SELECT id FROM series WHERE labels LIKE '%bad%'")).scalar()
        conn.execute(text("UPDATE blocks SET raw = :r WHERE series_id = :s"),
                     {"r": b"FCR2\x05\x00\x00\x00damaged", "s": bad})
    eng.dispose()
    store = app.extensions["flamecam"].store
    cfg = MaintenanceConfig()
    skipped: set = set()
    with caplog.at_level(logging.ERROR, logger="profiler.store.maintenance"):
        assert compact(store, cfg, skipped=skipped) == 1
        assert compact(store, cfg, skipped=skipped) == 0  # not tried again
    reports = [r for r in caplog.records if "cannot compact" in r.getMessage()]
    assert len(reports) == 1 and f"series {bad}" in reports[0].getMessage()
    assert len(skipped) == 1
    levels = {}
    for sid, level, _total in _series_blocks(db_url):
        levels.setdefault(sid, []).append(level)
    assert levels[bad] == [0, 0]
    assert [v for k, v in levels.items() if k != bad] == [[1]]
