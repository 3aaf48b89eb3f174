"""`GET /api/v1/thread-events`: several threads' samples one by one, for the web
UI's thread tracks, over the stored profiles or one trace's linked samples.

Real samples through the real store and Flask app, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from profiler.query import packed
from profiler.store import SeriesBatch
from tests.server.test_traces_links import (
    FAST,
    MS,
    OTHER_TID,
    PID,
    POOL_TID,
    POOLED,
    REQ_TID,
    ROOT,
    SLOW,
    T0,
    known_trace,
    loaded,  # noqa: F401
)

RANGE = {"from": str((T0 - 10**9) // MS), "until": str((T0 + 10**9) // MS)}


def get(app, **params):
    return app.test_client().get("/api/v1/thread-events", query_string={**RANGE, **params})


def rows(answer: dict) -> list[tuple]:
    """(tid, kind, start ms from T0, duration ms, reason, leaf frame, span) per event."""
    ev = answer["events"]
    out = []
    for i in range(len(ev["t_us"])):
        th = answer["threads"][ev["thread"][i]]
        start = answer["t0_ms"] * MS + ev["t_us"][i] * 1000
        stack = answer["stacks"][ev["stack"][i]]
        leaf = answer["frames"][stack[-1]][0] if stack else ""
        out.append((th["tid"], "cpu" if ev["cpu"][i] else "offcpu", (start - T0) / MS,
                    ev["dur_ns"][i] / MS, answer["reasons"][ev["reason"][i]], leaf,
                    answer["spans"][ev["span"][i]]))
    return out


def test_a_trace_s_threads_with_their_stacks_and_intervals(loaded):  # noqa: F811
    a = get(loaded, query="wall{}", trace_id=SLOW).get_json()
    assert {t["tid"] for t in a["threads"]} == {REQ_TID, POOL_TID}
    got = rows(a)
    assert [r[:5] for r in got if r[0] == REQ_TID] == [
        (REQ_TID, "cpu", 5, 10, ""), (REQ_TID, "cpu", 15, 10, ""),
        (REQ_TID, "offcpu", 20, 50, "lock"), (REQ_TID, "cpu", 72, 10, ""),
        (REQ_TID, "offcpu", 75, 20, "sleep")]
    lock = next(r for r in got if r[4] == "lock")
    assert lock[5] == "[off-cpu:lock]" and lock[6] == ROOT
    assert ["slow_path", "python"] in a["frames"] and ["futex_wait_[k]", "kernel"] in a["frames"]
    by_thread = {a["threads"][i]["tid"]: (s, e, a["spans"][sp]) for i, s, e, sp in
                 a["intervals"]}
    t0 = a["t0_ms"] * 1000
    assert by_thread[POOL_TID] == ((T0 // 1000 + 30_000) - t0, (T0 // 1000 + 50_000) - t0,
                                   POOLED)
    assert not a["truncated"]
    # One span (and its children) only: the pool worker's span.
    b = get(loaded, query="wall{}", trace_id=SLOW, span_id=POOLED).get_json()
    assert {r[0] for r in rows(b)} == {POOL_TID}
    # A limit keeps the first events by time, across the threads.
    d = get(loaded, query="wall{}", trace_id=SLOW, limit="6").get_json()
    assert [(r[0], r[2]) for r in rows(d)] == [
        (REQ_TID, 5), (REQ_TID, 15), (REQ_TID, 20), (POOL_TID, 35), (POOL_TID, 45),
        (REQ_TID, 72)] and d["truncated"]
    # Only some threads of the trace.
    c = get(loaded, query="wall{}", trace_id=SLOW, tids=str(POOL_TID)).get_json()
    assert [t["tid"] for t in c["threads"]] == [POOL_TID]


def test_plain_threads_of_a_process_in_time_order(loaded):  # noqa: F811
    st = loaded.extensions["flamecam"]
    _, _, samples = known_trace()
    plain = [replace(s, trace_id="", span_id="") for s in samples]
    labels = {"service_name": "shop"}
    st.store.write("anonymous", [
        SeriesBatch("cpu", labels, [s for s in plain if s.kind == "cpu"]),
        SeriesBatch("offcpu", labels, [s for s in plain if s.kind == "offcpu"])])
    a = get(loaded, query='wall{service_name="shop"}', pid=str(PID),
            tids=f"{REQ_TID},{OTHER_TID}").get_json()
    got = rows(a)
    assert {r[0] for r in got} == {REQ_TID, OTHER_TID}
    starts = [r[2] for r in got]
    assert starts == sorted(starts) and len(got) == 7  # 6 of the request thread, 1 other
    assert (REQ_TID, "offcpu", 20, 50, "lock", "[off-cpu:lock]", "") in got
    assert a["intervals"] == []
    # Only on-CPU samples with the cpu type; and a limit cuts the answer, saying so.
    b = get(loaded, query='cpu{service_name="shop"}', tids=str(REQ_TID)).get_json()
    assert {r[1] for r in rows(b)} == {"cpu"} and len(rows(b)) == 4
    c = get(loaded, query='wall{service_name="shop"}', tids=str(REQ_TID), limit="2").get_json()
    assert [r[2] for r in rows(c)] == [5, 15] and c["truncated"]
    # Another process: nothing.
    d = get(loaded, query='wall{service_name="shop"}', pid=str(PID + 1)).get_json()
    assert d["threads"] == [] and d["events"]["t_us"] == []


def test_columns_format_is_the_json_answer_as_typed_arrays(loaded):  # noqa: F811
    """format=columns (what the trace view asks): the same answer, its event
    columns as little-endian arrays of the narrowest type, 8-byte aligned."""
    want = get(loaded, query="wall{}", trace_id=SLOW).get_json()
    r = get(loaded, query="wall{}", trace_id=SLOW, format="columns")
    assert r.status_code == 200 and r.mimetype == packed.MEDIA_TYPE
    body = r.get_data()
    assert packed.unpack_columns(body) == want and len(rows(want)) == 7
    n = int.from_bytes(body[:4], "little")
    kinds = {name: kind for name, kind, _n in json.loads(body[4:4 + n])["columns"]}
    # ms of a 100 ms trace in µs fit 32 bits; indexes into short lists one byte
    assert kinds["t_us"] == "u32" and kinds["thread"] == kinds["cpu"] == "u8"
    assert len(body) % 8 == 0
    # Nothing of a process: empty columns.
    d = packed.unpack_columns(get(loaded, query="wall{}", pid=str(PID + 1),
                                  format="columns").get_data())
    assert d["threads"] == [] and d["events"]["t_us"] == []


def test_fast_trace_shares_the_request_thread(loaded):  # noqa: F811
    a = get(loaded, query="wall{}", trace_id=FAST).get_json()
    assert [(r[0], r[5]) for r in rows(a)] == [(REQ_TID, "fast_path")]


@pytest.mark.parametrize("params", [
    {"tids": "x"}, {"tids": "1,,2"}, {"tids": ",".join(["1"] * 1001)}, {"tids": "-1"},
    {"tids": str(1 << 33)}, {"limit": "0"}, {"limit": "1000001"}, {"limit": "many"},
    {"pid": "abc"}, {"trace_id": "xyz"}, {"trace_id": SLOW, "span_id": "1"},
    {"from": "now", "until": "now-1h"}, {"format": "xml"},
])
def test_bad_parameters_are_400(loaded, params):  # noqa: F811
    r = get(loaded, query="wall{}", **params)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert set(r.get_json()) == {"error"}


def test_a_trace_s_timeline_is_summed_per_step(loaded):  # noqa: F811
    """The trace's timeline (as /render embeds and /timeline answers) sums its
    samples per step in the database: the known trace's 120 ms land in their steps."""
    c = loaded.test_client()
    tl = c.get(f"/api/v1/timeline?query=wall{{}}&trace_id={SLOW}&step=0.01").get_json()
    t0_ms = T0 // MS
    got = {ts - t0_ms: v // MS for ts, v in tl["points"] if v}
    assert got == {0: 10, 10: 10, 20: 50, 30: 10, 40: 10, 70: 30}
    cpu = c.get(f"/api/v1/timeline?query=cpu{{}}&trace_id={SLOW}&span_id={POOLED}&step=0.01"
                ).get_json()
    assert {ts - t0_ms: v // MS for ts, v in cpu["points"] if v} == {30: 10, 40: 10}


def test_a_kernel_sum_is_marked_not_drawn_as_one_interval(loaded):  # noqa: F811
    """An off-CPU sample with count > 1 is the kernel's sum of that many intervals
    (short ones, or past the agent's CPU budget): its value is a total, not one
    interval's length. The answer names it in `summed`, with its count."""
    st = loaded.extensions["flamecam"]
    _, _, samples = known_trace()
    plain = [replace(s, trace_id="", span_id="") for s in samples]
    off = [s for s in plain if s.kind == "offcpu" and s.tid == REQ_TID]
    lock = next(s for s in off if s.reason == "lock")
    summed = replace(lock, ts_ns=lock.ts_ns + 200 * MS, value_ns=480 * MS, count=37)
    labels = {"service_name": "sums"}
    st.store.write("anonymous", [SeriesBatch("offcpu", labels, [*off, summed])])
    a = get(loaded, query='wall{service_name="sums"}', tids=str(REQ_TID)).get_json()
    got = rows(a)
    assert len(got) == len(off) + 1
    i = next(k for k, r in enumerate(got) if r[3] == 480)
    assert a["summed"] == [[i, 37]]


def test_a_kernel_sum_inside_a_trace_is_marked_too(loaded):  # noqa: F811
    """A trace's linked off-CPU sample with count > 1 is a kernel sum as well: the
    trace's tracks name it in `summed` with its count, the other events not."""
    st = loaded.extensions["flamecam"]
    _, _, samples = known_trace()
    lock = next(s for s in samples if s.trace_id == SLOW and s.reason == "lock")
    summed = replace(lock, ts_ns=lock.ts_ns + 30 * MS, value_ns=12 * MS, count=37)
    assert st.traces.write_linked_samples("anonymous", [summed]) == 1
    a = get(loaded, query="wall{}", trace_id=SLOW).get_json()
    got = rows(a)
    i = next(k for k, r in enumerate(got) if r[3] == 12)
    assert got[i][:5] == (REQ_TID, "offcpu", 50, 12, "lock")
    assert a["summed"] == [[i, 37]]
