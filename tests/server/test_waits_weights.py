"""Intervals the agent kept 1 in N past its CPU budget (label `kept_1_in`,
issue 15 item 14) count N times in /api/v1/waits, so its counts and totals
stay unbiased; a client's label that is not a sane number counts once (real
app, SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import zstandard

from profiler.agent.batch import encode_batch
from profiler.model import OFFCPU, Frame, Sample

AGENT = {"Content-Type": "application/x-flamecam-batch"}
SLEEP = (Frame("main", "native"), Frame("do_nanosleep", "kernel"))


def _sleeps(labels: dict[str, str], n: int, value: int, t0: int) -> list[Sample]:
    return [Sample(OFFCPU, t0 + i * 10**6, 100, 101, 0, "app", "w", SLEEP, value,
                   reason="sleep", labels=labels) for i in range(n)]


def test_kept_intervals_are_weighed_back(client):
    t0 = time.time_ns() - 10**9
    samples = (_sleeps({"syscall": "clock_nanosleep", "kept_1_in": "4"}, 10, 2 * 10**6, t0)
               + _sleeps({"syscall": "nanosleep"}, 3, 5 * 10**6, t0)
               + _sleeps({"syscall": "poll", "kept_1_in": "4x"}, 2, 10**6, t0))
    data = encode_batch(samples, lambda s: {"service_name": "app"}, agent_id="a", seq=1)
    r = client.post("/api/v1/agent/push", headers=AGENT,
                    data=zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 24))
    assert r.status_code == 200, r.data[:200]
    got = client.get("/api/v1/waits?query=offcpu{}&from=now-1h&until=now").get_json()["waits"]
    assert [(w["syscall"], w["count"], w["total_ns"], w["p50_ns"]) for w in got] == [
        ("clock_nanosleep", 40, 80 * 10**6, 2 * 10**6),
        ("nanosleep", 3, 15 * 10**6, 5 * 10**6),
        ("poll", 2, 2 * 10**6, 10**6)]
