"""`GET /api/v1/thread-density`: every thread's time per bucket and reason, the
summary an "all threads over time" view draws before any event one by one.

Known samples through the real store and Flask app (SQLite and PostgreSQL):
each bucket's answer is worked out by hand below.
"""

from __future__ import annotations

import time

from profiler.model import Frame, Sample
from profiler.query.density import MAX_BUCKETS, Density
from profiler.query.tracks import TrackColumns
from profiler.store import SeriesBatch

MS = 10**6
T0 = time.time_ns() - 300 * 10**9
T0 -= T0 % 10**9
PID, BURNER, SLEEPER, WAITER, OLD = 900, 901, 902, 903, 904
WORK = (Frame("main", "native"), Frame("work", "native"))
NAP = (Frame("main", "native"), Frame("nap", "native"))


def on(tid: int, ms: float, dur: float = 10, name: str = "burner") -> Sample:
    return Sample("cpu", T0 + int(ms * MS), PID, tid, 0, "demo", name, WORK, int(dur * MS))


def off(tid: int, ms: float, dur: float, reason: str, name: str, count: int = 1) -> Sample:
    return Sample("offcpu", T0 + int(ms * MS), PID, tid, 0, "demo", name, NAP, int(dur * MS),
                  count=count, reason=reason)


def samples() -> tuple[list[Sample], list[Sample]]:
    """Over [T0, T0 + 1 s): the burner on the CPU all along (a 10 ms sample
    every 10 ms); the sleeper asleep 100 ms at a time from 0; the waiter on
    a lock 250..650 ms, and 3 short waits of 60 ms in all the kernel summed
    up to 1000 ms (placed from 940 ms: when each was is lost);
    an old thread asleep from 1 s before T0 to 300 ms after it."""
    cpu = [on(BURNER, t) for t in range(0, 1000, 10)]
    offs = [off(SLEEPER, t, 100, "sleep", "sleeper") for t in range(0, 1000, 100)]
    offs += [off(WAITER, 250, 400, "lock", "waiter"), off(WAITER, 940, 60, "lock", "waiter", 3)]
    offs.append(off(OLD, -1000, 1300, "sleep", "old"))
    return cpu, offs


def load(app) -> None:
    st = app.extensions["flamecam"]
    cpu, offs = samples()
    labels = {"service_name": "demo"}
    st.store.write("anonymous", [SeriesBatch("cpu", labels, cpu),
                                 SeriesBatch("offcpu", labels, offs)])


def get(app, lo_ms: float = 0, hi_ms: float = 1000, **params):
    q = {"query": 'wall{service_name="demo"}', "from": str((T0 + int(lo_ms * MS)) // 1000),
         "until": str((T0 + int(hi_ms * MS)) // 1000), **params}
    return app.test_client().get("/api/v1/thread-density", query_string=q)


def cells(answer: dict, tid: int) -> dict[tuple[int, str], int]:
    t = next(t for t in answer["threads"] if t["tid"] == tid)
    c, out = t["cells"], {}
    for i in range(0, len(c), 4):  # [bucket, reason, value, run]: run buckets from bucket
        for b in range(c[i], c[i] + c[i + 3]):
            assert (b, answer["reasons"][c[i + 1]]) not in out
            out[(b, answer["reasons"][c[i + 1]])] = c[i + 2]
    return out


def test_each_bucket_holds_the_time_of_each_reason(app):
    load(app)
    a = get(app, buckets="10").get_json()
    assert a["buckets"] == 10 and a["step_ms"] == 100 and a["more"] == 0
    assert a["reasons"][0] == "cpu"
    assert cells(a, BURNER) == {(b, "cpu"): 100 * MS for b in range(10)}
    assert cells(a, SLEEPER) == {(b, "sleep"): 100 * MS for b in range(10)}
    # 250..650 ms split over buckets 2..6; the kernel's sum of 3 waits spread
    # over the second before its end (6 ms a bucket)
    kept = {2: 50, 3: 100, 4: 100, 5: 100, 6: 50}
    assert cells(a, WAITER) == {(b, "lock"): (kept.get(b, 0) + 6) * MS for b in range(10)}
    # began a second before the window: it colours the window up to 300 ms, and comes last
    assert cells(a, OLD) == {(b, "sleep"): 100 * MS for b in range(3)}
    assert a["threads"][-1]["tid"] == OLD and a["threads"][-1]["thread_name"] == "old"
    # ranked as the threads list ranks them (on + off time, most first)
    listed = app.test_client().get("/api/v1/threads", query_string={
        "query": 'wall{service_name="demo"}', "from": str(T0 // 1000),
        "until": str((T0 + 1000 * MS) // 1000)}).get_json()["threads"]
    assert [t["tid"] for t in a["threads"][:-1]] == [t["tid"] for t in listed]


def test_sums_equal_the_thread_totals(app):
    load(app)
    a = get(app, -2000, 3000, buckets="333").get_json()  # the whole of every event inside
    listed = app.test_client().get("/api/v1/threads", query_string={
        "query": 'wall{service_name="demo"}', "from": str((T0 - 2000 * MS) // 1000),
        "until": str((T0 + 3000 * MS) // 1000), "reasons": "1"}).get_json()["threads"]
    assert {t["tid"] for t in listed} == {BURNER, SLEEPER, WAITER, OLD}
    for t in listed:
        got = cells(a, t["tid"])
        assert sum(v for (_b, r), v in got.items() if r == "cpu") == t["cpu_ns"]
        by = {}
        for (_b, r), v in got.items():
            if r != "cpu":
                by[r] = by.get(r, 0) + v
        assert by == {r: v for r, v in t["offcpu_by_reason"].items() if v}


def test_selection_limit_and_bounds(app):
    load(app)
    a = get(app, buckets="4", limit="2").get_json()
    assert len(a["threads"]) == 2 and a["more"] == 2
    only = get(app, tid=str(WAITER)).get_json()
    assert [t["tid"] for t in only["threads"]] == [WAITER]
    cpu_only = get(app, buckets="2", query='cpu{service_name="demo"}').get_json()
    assert [t["tid"] for t in cpu_only["threads"]] == [BURNER]
    for bad in ({"buckets": "0"}, {"buckets": str(MAX_BUCKETS + 1)}, {"limit": "0"},
                {"buckets": "2000", "limit": "10000"}, {"buckets": "x"},
                {"trace_id": "ab" * 16}, {"query": "wall{"}):
        r = get(app, **bad)
        assert r.status_code == 400, bad
        assert set(r.get_json()) == {"error"} and "\n" not in r.get_json()["error"]


def test_a_trace_s_columns_sum_the_same_way():
    """`Density.add_columns`: what a trace view sums its `TrackColumns` with."""
    d = Density(T0, T0 + 100 * MS, 4)
    ev = TrackColumns(cpu=[1, 0, 0], ts_ns=[T0, T0 + 20 * MS, T0 + 90 * MS],
                      dur_ns=[10 * MS, 40 * MS, 5 * MS], pid=[1, 1, 1], tid=[2, 2, 3],
                      stack_id=[0, 0, 0], reason=["", "io", "lock"], span_id=["", "", ""],
                      names={}, count=[1, 1, 4])
    d.add_columns(ev)
    a = d.answer([{"pid": 1, "tid": 2}, {"pid": 1, "tid": 3}], 10)
    assert a["reasons"] == ["cpu", "io", "lock"]
    assert a["threads"][0]["cells"] == [0, 0, 10 * MS, 1, 0, 1, 5 * MS, 1, 1, 1, 25 * MS, 1,
                                        2, 1, 10 * MS, 1]
    # the kernel's sum of 4 (5 ms up to 95 ms) spread over the second before:
    # 0.5% of each 25 ms bucket, the window's part of it
    assert a["threads"][1]["cells"] == [0, 2, 125_000, 3, 3, 2, 100_000, 1]


def test_a_long_wait_is_one_run():
    d = Density(T0, T0 + 1000 * MS, 100)
    ev = TrackColumns(cpu=[0, 1], ts_ns=[T0 - 5 * MS, T0 + 995 * MS], dur_ns=[2000 * MS, 10 * MS],
                      pid=[1, 1], tid=[2, 2], stack_id=[0, 0], reason=["sleep", ""],
                      span_id=["", ""], names={})
    d.add_columns(ev)
    # asleep all through: 100 buckets of 10 ms in one run; the sample cut at the window's end
    assert d.of((1, 2)) == [99, 0, 5 * MS, 1, 0, 1, 10 * MS, 100]
