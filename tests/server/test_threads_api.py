"""GET /api/v1/threads: thread names and the off-CPU time split by reason."""

from __future__ import annotations

import time

from profiler.model import Sample
from profiler.query.engine import QueryEngine, Selection
from profiler.query.selector import parse_selector
from profiler.store import SeriesBatch, Store
from tests.server.helpers import BURN, MAIN, READ


def test_runtime_thread_name_wins_over_the_comm_of_first_samples(db_url):
    """The recorder writes the comm ("python3") until the runtime has read a new
    thread's `threading` name: the thread still lists under its real name."""
    t0 = time.time_ns() - 60 * 10**9
    cpu = [Sample("cpu", t0 + i * 10**8, 10, 21, 0, "python3",
                  "python3" if i < 3 else "worker-7", (MAIN, BURN), 10**7) for i in range(10)]
    cpu.append(Sample("cpu", t0, 10, 10, 0, "python3", "python3", (MAIN, BURN), 10**7))
    off = [Sample("offcpu", t0 + i * 10**8, 10, 21, 0, "python3", "worker-7", (MAIN, READ),
                  3 * 10**6, reason="io") for i in range(4)]
    off += [Sample("offcpu", t0 + i * 10**8, 10, 21, 0, "python3", "worker-7", (MAIN,),
                   5 * 10**6, reason="lock") for i in range(2)]
    store = Store(db_url)
    try:
        store.write("t", [SeriesBatch("cpu", {"service_name": "py"}, cpu),
                          SeriesBatch("offcpu", {"service_name": "py"}, off)])
        eng = QueryEngine(store)
        sel = Selection("t", parse_selector('{service_name="py"}'), t0 - 10**9, t0 + 60 * 10**9)
        rows = {t["tid"]: t for t in eng.threads(sel, reasons=True)}
        assert rows[21]["thread_name"] == "worker-7" and rows[21]["comm"] == "python3"
        assert rows[10]["thread_name"] == "python3"  # the main thread: only its comm
        assert rows[21]["cpu_ns"] == 10 * 10**7
        assert rows[21]["offcpu_ns"] == 22 * 10**6
        assert rows[21]["offcpu_by_reason"] == {"io": 12 * 10**6, "lock": 10 * 10**6}
        assert rows[10]["offcpu_by_reason"] == {}
        assert "offcpu_by_reason" not in eng.threads(sel)[0]
        events, _ = eng.track_events(sel, tids=[21])
        assert events.names[(10, 21)] == ("worker-7", "python3")
    finally:
        store.close()


def test_threads_route_reasons_flag(client):
    r = client.get("/api/v1/threads", query_string={"query": "cpu{}", "from": "now-1h",
                                                    "until": "now", "reasons": "1"})
    assert r.status_code == 200 and r.get_json() == {"threads": []}


def test_frame_threads_lists_the_threads_through_one_frame(db_url):
    t0 = time.time_ns() - 60 * 10**9
    cpu = [Sample("cpu", t0 + i * 10**8, 10, 11 + i % 2, 0, "app", f"t{11 + i % 2}",
                  (MAIN, BURN) if i % 2 else (MAIN, READ), 10**7) for i in range(10)]
    cpu.append(Sample("cpu", t0, 20, 21, 0, "other", "other", (MAIN, BURN), 3 * 10**7))
    store = Store(db_url)
    try:
        store.write("t", [SeriesBatch("cpu", {"service_name": "a"}, cpu)])
        eng = QueryEngine(store)
        sel = Selection("t", parse_selector('{service_name="a"}'), t0 - 10**9, t0 + 60 * 10**9)
        got = [(t["pid"], t["tid"], t["value"]) for t in eng.frame_threads(sel, BURN.name)]
        assert got == [(10, 12, 5 * 10**7), (20, 21, 3 * 10**7)]
        assert [t["tid"] for t in eng.frame_threads(sel, MAIN.name)] == [11, 12, 21]
        assert eng.frame_threads(sel, "nowhere") == []
    finally:
        store.close()


def test_frame_param_is_bounded(client):
    args = {"query": "cpu{}", "from": "now-1h", "until": "now"}
    assert client.get("/api/v1/threads", query_string={**args, "frame": ""}).status_code == 400
    r = client.get("/api/v1/threads", query_string={**args, "frame": "x" * 5000})
    assert r.status_code == 400 and "frame" in r.get_json()["error"]
    r = client.get("/api/v1/threads", query_string={**args, "frame": "<b>"})
    assert r.status_code == 200 and r.get_json() == {"threads": []}
