"""Linked samples and thread spans: the store API the agent push route calls, and
the trace API over them (exact CPU, per-trace and per-span flame graphs).

Real `Sample`/`ThreadSpan`/`Span` objects through the real `TraceStore` and
Flask app, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from sqlalchemy import func, select

from profiler.model import Frame, Sample, Span, ThreadSpan
from profiler.store import SeriesBatch, schema
from profiler.store.maintenance import MaintenanceConfig, run_once
from profiler.store.trace_tables import spans as spans_table
from profiler.store.trace_tables import thread_spans, trace_samples

MS = 10**6
T0 = time.time_ns() - 120 * 10**9
T0 -= T0 % 10**9
SLOW, FAST = "a" * 31 + "1", "b" * 31 + "2"
ROOT, POOLED, FAST_ROOT = "1" * 16, "2" * 16, "3" * 16
PID, REQ_TID, POOL_TID, OTHER_TID = 700, 701, 702, 703

HANDLER = Frame("handler", "python", file="/srv/app.py", line=5)
SLOW_PATH = Frame("slow_path", "python", file="/srv/app.py", line=20)
POOL_FN = Frame("pool_work", "python", file="/srv/app.py", line=40)
FAST_FN = Frame("fast_path", "python", file="/srv/app.py", line=60)
LOCK = Frame("futex_wait", "kernel")
SLEEP = Frame("hrtimer_nanosleep", "kernel")


def cpu(ts_ms: float, tid: int, stack, trace: str, span: str, ms: float = 10) -> Sample:
    name = "pool-0" if tid == POOL_TID else "req-0"
    return Sample("cpu", T0 + int(ts_ms * MS), PID, tid, 0, "app", name, stack, int(ms * MS),
                  trace_id=trace, span_id=span)


def off(ts_ms: float, ms: float, reason: str, stack, trace: str, span: str,
        tid: int = REQ_TID) -> Sample:
    return Sample("offcpu", T0 + int(ts_ms * MS), PID, tid, 0, "app", "req-0", stack,
                  int(ms * MS), reason=reason, trace_id=trace, span_id=span)


def known_trace() -> tuple[list[Span], list[ThreadSpan], list[Sample]]:
    """A slow request (100 ms on the request thread, 20 ms on a pool worker) and a fast one.

    Request thread: served 0..100 ms; off-CPU 50 ms on a lock (20..70) and
    20 ms asleep (75..95), so its CPU time is exactly 30 ms. Pool worker: served
    30..50 ms, never off-CPU: 20 ms of CPU. The fast request runs later on the
    same request thread (5 ms CPU).
    """
    spans = [
        Span(SLOW, ROOT, "", "GET /slow", "server", "ok", T0, T0 + 100 * MS, "shop", "1.0",
             (("http.route", "/slow"),), PID, "web-1"),
        Span(SLOW, POOLED, ROOT, "pooled", "internal", "unset", T0 + 30 * MS, T0 + 50 * MS,
             "shop", "1.0", (), PID, "web-1"),
        Span(FAST, FAST_ROOT, "", "GET /fast", "server", "ok", T0 + 200 * MS, T0 + 205 * MS,
             "shop", "1.0", (("http.route", "/fast"),), PID, "web-1"),
    ]
    rows = [
        ThreadSpan(PID, REQ_TID, SLOW, ROOT, T0, T0 + 100 * MS, "req-0"),
        ThreadSpan(PID, POOL_TID, SLOW, POOLED, T0 + 30 * MS, T0 + 50 * MS, "pool-0"),
        ThreadSpan(PID, REQ_TID, FAST, FAST_ROOT, T0 + 200 * MS, T0 + 205 * MS, "req-0"),
    ]
    samples = [
        cpu(5, REQ_TID, (HANDLER, SLOW_PATH), SLOW, ROOT),
        cpu(15, REQ_TID, (HANDLER, SLOW_PATH), SLOW, ROOT),
        cpu(72, REQ_TID, (HANDLER, SLOW_PATH), SLOW, ROOT),
        off(20, 50, "lock", (HANDLER, LOCK), SLOW, ROOT),
        off(75, 20, "sleep", (HANDLER, SLEEP), SLOW, ROOT),
        cpu(35, POOL_TID, (POOL_FN,), SLOW, POOLED),
        cpu(45, POOL_TID, (POOL_FN,), SLOW, POOLED),
        cpu(202, REQ_TID, (HANDLER, FAST_FN), FAST, FAST_ROOT, ms=5),
        # Not serving any request: never stored as linked, never in a trace.
        cpu(10, OTHER_TID, (HANDLER, FAST_FN), "", ""),
    ]
    return spans, rows, samples


def count(store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


@pytest.fixture
def loaded(app):
    st = app.extensions["flamecam"]
    spans, rows, samples = known_trace()
    assert st.traces.write_spans("anonymous", spans) == 3
    assert st.traces.write_thread_spans("anonymous", rows) == 3
    assert st.traces.write_linked_samples("anonymous", samples) == 8
    return app


def test_writes_are_idempotent_and_share_the_stack_table(loaded):
    st = loaded.extensions["flamecam"]
    spans, rows, samples = known_trace()
    stacks_before = count(st.store, schema.stacks)
    # The agent resends a batch it had no answer for: nothing is stored twice.
    assert st.traces.write_links("anonymous", samples, rows) == 8
    st.traces.write_spans("anonymous", spans)
    assert count(st.store, trace_samples) == 8
    assert count(st.store, thread_spans) == 3
    assert count(st.store, spans_table) == 3
    # 5 distinct stacks (two off-CPU ones end in their reason), one row each.
    assert stacks_before == 5
    # The same stack written as a profile by the store is the same row.
    st.store.write("anonymous", [SeriesBatch("cpu", {"service_name": "shop"},
                                             [cpu(5, REQ_TID, (HANDLER, SLOW_PATH), "", "")])])
    assert count(st.store, schema.stacks) == 5


def test_trace_view_cpu_is_exact(loaded):
    c = loaded.test_client()
    v = c.get(f"/api/v1/trace/{SLOW}").get_json()
    assert v["linking"] == "exact" and v["samples"] == 5 and v["offcpu_intervals"] == 2
    assert v["breakdown"] == {"cpu": 50 * MS, "lock": 50 * MS, "sleep": 20 * MS}
    threads = {t["tid"]: t for t in v["threads"]}
    assert set(threads) == {REQ_TID, POOL_TID}  # the pool worker is one of the trace's threads
    req, pool = threads[REQ_TID], threads[POOL_TID]
    # 3 on-CPU samples of 10 ms would say 30 ms by chance; 2 on the pool say 20:
    # the figures come from the thread spans, not from the samples.
    assert req["cpu_ns"] == 30 * MS and req["offcpu_ns"] == {"lock": 50 * MS, "sleep": 20 * MS}
    assert pool["cpu_ns"] == 20 * MS and pool["offcpu_ns"] == {}
    assert pool["thread_name"] == "pool-0"
    assert req["intervals"] == [[T0 / 1e6, (T0 + 100 * MS) / 1e6, ROOT]]
    assert pool["intervals"] == [[(T0 + 30 * MS) / 1e6, (T0 + 50 * MS) / 1e6, POOLED]]
    assert [s["name"] for s in v["spans"]] == ["GET /slow", "pooled"]


def test_off_cpu_time_is_clipped_to_the_served_interval(app):
    st = app.extensions["flamecam"]
    # Asleep 40 ms, of which only the last 10 ms fall inside the thread span.
    st.traces.write_thread_spans("anonymous", [ThreadSpan(PID, REQ_TID, SLOW, ROOT, T0,
                                                           T0 + 50 * MS, "req-0")])
    st.traces.write_linked_samples("anonymous", [off(-30, 40, "sleep", (SLEEP,), SLOW, ROOT)])
    v = app.test_client().get(f"/api/v1/trace/{SLOW}").get_json()
    assert v["breakdown"] == {"cpu": 40 * MS, "sleep": 10 * MS}
    assert v["spans"] == []  # no OTLP spans yet, the thread data alone is a trace


def test_off_cpu_time_counts_once_inside_each_thread_spans_union(app):
    """Overlapping thread spans of a thread count once; an interval across a
    gap between them counts the parts inside; a thread served in more pieces
    than the database is asked about at once is summed whole."""
    st = app.extensions["flamecam"]
    ms = lambda a, b, tid=REQ_TID: ThreadSpan(PID, tid, SLOW, ROOT, T0 + a * MS,  # noqa: E731
                                              T0 + b * MS, "t")
    st.traces.write_thread_spans("anonymous", [ms(0, 20), ms(30, 50), ms(40, 60)] +
                                 [ms(2 * k, 2 * k + 1, POOL_TID) for k in range(600)])
    st.traces.write_linked_samples("anonymous", [
        off(10, 25, "lock", (LOCK,), SLOW, ROOT),  # 10 ms in [0, 20), 5 ms in [30, 60)
        off(-5, 1300, "sleep", (SLEEP,), SLOW, ROOT, tid=POOL_TID)])  # 600 pieces of 1 ms
    v = app.test_client().get(f"/api/v1/trace/{SLOW}").get_json()
    threads = {t["tid"]: t for t in v["threads"]}
    assert threads[REQ_TID]["offcpu_ns"] == {"lock": 15 * MS}
    assert threads[REQ_TID]["cpu_ns"] == 50 * MS - 15 * MS  # served [0, 20) and [30, 60)
    assert threads[POOL_TID]["offcpu_ns"] == {"sleep": 600 * MS}
    assert threads[POOL_TID]["cpu_ns"] == 0
    assert v["breakdown"] == {"cpu": 35 * MS, "lock": 15 * MS, "sleep": 600 * MS}


def test_threads_of_a_span_with_more_children_than_one_sql_statement_carries(loaded):
    """A span's threads cover its children too: with more span ids than the
    database is asked about at once, the sums are filtered after it."""
    st = loaded.extensions["flamecam"]
    kids = [Span(SLOW, f"{0x100 + k:016x}", ROOT, "child", "internal", "unset", T0, T0 + MS,
                 "shop") for k in range(5001)]
    st.traces.write_spans("anonymous", kids)
    got = loaded.test_client().get(
        f"/api/v1/threads?query=wall{{}}&trace_id={SLOW}&span_id={ROOT}").get_json()
    threads = {t["tid"]: t for t in got["threads"]}
    assert threads[REQ_TID]["offcpu_by_reason"] == {"lock": 50 * MS, "sleep": 20 * MS}
    assert threads[REQ_TID]["cpu_ns"] == 30 * MS
    assert threads[POOL_TID]["cpu_ns"] == 20 * MS  # the pooled span is a child of the root


def test_samples_without_thread_spans_are_approximate(app):
    st = app.extensions["flamecam"]
    _, _, samples = known_trace()
    st.traces.write_linked_samples("anonymous", samples)  # e.g. pyroscope-otel labels
    v = app.test_client().get(f"/api/v1/trace/{SLOW}").get_json()
    assert v["linking"] == "approximate"
    assert v["breakdown"] == {"cpu": 50 * MS, "lock": 50 * MS, "sleep": 20 * MS}
    assert {t["tid"]: t["intervals"] for t in v["threads"]} == {REQ_TID: [], POOL_TID: []}


def test_trace_list_and_endpoints(loaded):
    c = loaded.test_client()
    rng = f"from={T0 // 10**9 - 10}&until={T0 // 10**9 + 10}"
    got = c.get(f"/api/v1/traces?service=shop&{rng}").get_json()["traces"]
    assert [t["trace_id"] for t in got] == [SLOW, FAST]
    slow, fast = got
    assert slow == {"trace_id": SLOW, "root": "GET /slow", "service": "shop",
                    "start_ms": T0 / 1e6, "duration_ms": 100.0, "cpu_ns": 50 * MS,
                    "offcpu_ns": {"lock": 50 * MS, "sleep": 20 * MS}, "threads": 2,
                    "linking": "exact"}
    assert fast["cpu_ns"] == 5 * MS and fast["threads"] == 1
    assert [t["trace_id"] for t in c.get(
        f"/api/v1/traces?service=shop&{rng}&endpoint=/fast").get_json()["traces"]] == [FAST]
    assert [t["trace_id"] for t in c.get(
        f"/api/v1/traces?service=shop&{rng}&endpoint=GET /slow").get_json()["traces"]] == [SLOW]
    assert [t["trace_id"] for t in c.get(
        f"/api/v1/traces?service=shop&{rng}&min_ms=50").get_json()["traces"]] == [SLOW]
    assert [t["trace_id"] for t in c.get(
        f"/api/v1/traces?service=shop&{rng}&limit=1").get_json()["traces"]] == [SLOW]
    assert c.get(f"/api/v1/traces?service=other&{rng}").get_json()["traces"] == []
    eps = c.get(f"/api/v1/endpoints?service=shop&{rng}").get_json()["endpoints"]
    assert sorted(eps, key=lambda e: e["name"]) == [
        {"name": "GET /fast", "count": 1, "p50_ms": 5.0, "p90_ms": 5.0, "p99_ms": 5.0},
        {"name": "GET /slow", "count": 1, "p50_ms": 100.0, "p90_ms": 100.0, "p99_ms": 100.0}]


def _names(fb: dict) -> set[str]:
    names = fb["flamebearer"]["names"]
    return {names[lv[i]] for lv in fb["flamebearer"]["levels"] for i in range(3, len(lv), 4)
            if lv[i - 2] > 0}


def test_flame_graphs_of_a_trace_and_of_a_span(loaded):
    c = loaded.test_client()
    fb = c.get(f"/api/v1/render?query=wall{{}}&trace_id={SLOW}").get_json()
    # Wall: 50 ms of CPU samples plus 70 ms off-CPU; nothing of the fast request
    # or of the thread that served no request.
    assert fb["flamebearer"]["numTicks"] == 120 * MS
    assert {"slow_path", "pool_work", "[off-cpu:lock]", "[off-cpu:sleep]"} <= _names(fb)
    assert "fast_path" not in _names(fb)
    cpu_only = c.get(f"/api/v1/render?query=cpu{{}}&trace_id={SLOW}").get_json()
    assert cpu_only["flamebearer"]["numTicks"] == 50 * MS
    span = c.get(f"/api/v1/render?query=wall{{}}&trace_id={SLOW}&span_id={POOLED}").get_json()
    assert span["flamebearer"]["numTicks"] == 20 * MS
    assert "pool_work" in _names(span) and "slow_path" not in _names(span)
    root = c.get(f"/api/v1/render?query=cpu{{}}&trace_id={SLOW}&span_id={ROOT}").get_json()
    assert root["flamebearer"]["numTicks"] == 50 * MS  # a span with its children
    fast = c.get(f"/api/v1/render?query=wall{{}}&trace_id={FAST}").get_json()
    assert "slow_path" not in _names(fast) and "fast_path" in _names(fast)
    top = c.get(f"/api/v1/top?query=cpu{{}}&trace_id={SLOW}").get_json()["functions"]
    assert {f["name"]: (f["self"], f["total"]) for f in top} == {
        "slow_path": (30 * MS, 30 * MS), "pool_work": (20 * MS, 20 * MS), "handler": (0, 30 * MS)}
    folded = c.get(f"/api/v1/export?query=wall{{}}&trace_id={SLOW}&format=folded").data.decode()
    assert "handler;futex_wait_[k];[off-cpu:lock] 50000000" in folded.splitlines()
    pprof = c.get(f"/api/v1/export?query=wall{{}}&trace_id={SLOW}&format=pprof")
    assert pprof.status_code == 200
    from profiler.formats import pprof as pp

    decoded = pp.decode(pprof.data)
    assert sum(s.value_ns for s in decoded) == 120 * MS


def test_a_trace_wall_graph_totals_its_exact_thread_time(app):
    """Samples that missed (the bench's worst requests, bench/trace_linking.py):
    the request thread's 30 ms of CPU caught by 2 samples of 10 ms, the pool
    worker's 20 ms by none, and a second request's 30 ms by 4. The flame graphs
    still total each thread's exact time (served minus off-CPU): the samples
    share a thread's CPU time out between their stacks, and a thread no sample
    caught shows its time as on-CPU with no stack."""
    st = app.extensions["flamecam"]
    spans, rows, _ = known_trace()
    more = "c" * 31 + "3"
    spans.append(dataclasses.replace(spans[0], trace_id=more, start_ns=T0 + 300 * MS,
                                     end_ns=T0 + 400 * MS))
    rows.append(ThreadSpan(PID, REQ_TID, more, ROOT, T0 + 300 * MS, T0 + 400 * MS, "req-0"))
    samples = [
        cpu(5, REQ_TID, (HANDLER, SLOW_PATH), SLOW, ROOT),
        cpu(72, REQ_TID, (HANDLER,), SLOW, ROOT),
        off(20, 50, "lock", (HANDLER, LOCK), SLOW, ROOT),
        off(75, 20, "sleep", (HANDLER, SLEEP), SLOW, ROOT),
        *(cpu(t, REQ_TID, (HANDLER, SLOW_PATH), more, ROOT) for t in (301, 305, 309, 313)),
        off(320, 70, "lock", (HANDLER, LOCK), more, ROOT),
    ]
    st.traces.write_spans("anonymous", spans)
    st.traces.write_thread_spans("anonymous", rows)
    st.traces.write_linked_samples("anonymous", samples)
    c = app.test_client()

    def render(query: str, trace: str, **extra: str) -> dict:
        r = c.get("/api/v1/render", query_string={"query": query, "trace_id": trace, **extra})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()["flamebearer"]

    def by_leaf(fb: dict) -> dict[str, int]:
        """Self value per frame name (single-graph levels: offset, total, self, name)."""
        out: dict[str, int] = {}
        for lv in fb["levels"]:
            for i in range(0, len(lv), 4):
                if lv[i + 2]:
                    name = fb["names"][lv[i + 3]]
                    out[name] = out.get(name, 0) + lv[i + 2]
        return out

    wall = render("wall{}", SLOW)
    assert wall["numTicks"] == 120 * MS  # 100 ms on the request thread, 20 on the pool's
    assert by_leaf(wall) == {"slow_path": 15 * MS, "handler": 15 * MS,
                             "[off-cpu:lock]": 50 * MS, "[off-cpu:sleep]": 20 * MS,
                             "[on-CPU, no stack sampled]": 20 * MS}
    assert render("cpu{}", SLOW)["numTicks"] == 50 * MS
    pooled = render("cpu{}", SLOW, span_id=POOLED)
    assert pooled["numTicks"] == 20 * MS
    assert by_leaf(pooled) == {"[on-CPU, no stack sampled]": 20 * MS}
    # Over-sampled: 4 samples of 10 ms for 30 ms of CPU.
    assert by_leaf(render("wall{}", more)) == {"slow_path": 30 * MS, "[off-cpu:lock]": 70 * MS}
    top = c.get("/api/v1/top", query_string={"query": "cpu{}", "trace_id": SLOW}).get_json()
    assert {f["name"]: f["self"] for f in top["functions"]} == {
        "slow_path": 15 * MS, "handler": 15 * MS, "[on-CPU, no stack sampled]": 20 * MS}
    # A window that cuts a thread's spans shows that thread's samples as they are.
    part = render("cpu{}", SLOW, **{"from": str((T0 + 1 * MS) // MS),
                                    "until": str((T0 + 90 * MS) // MS)})
    assert by_leaf(part) == {"slow_path": 10 * MS, "handler": 10 * MS,
                             "[on-CPU, no stack sampled]": 20 * MS}
    # Its files hold what the graph shows: the same time per stack, the same total.
    for fmt in ("folded", "pprof", "speedscope"):
        r = c.get("/api/v1/export", query_string={"query": "wall{}", "trace_id": SLOW,
                                                  "format": fmt})
        assert r.status_code == 200, r.get_data(as_text=True)
        assert exported_by_leaf(fmt, r.data) == by_leaf(wall), fmt
    r = c.get("/api/v1/export", query_string={"query": "cpu{}", "trace_id": SLOW,
                                              "span_id": POOLED, "format": "pprof"})
    assert exported_by_leaf("pprof", r.data) == by_leaf(pooled)


def exported_by_leaf(fmt: str, body: bytes) -> dict[str, int]:
    """Time per innermost frame of an exported file (folded, pprof or speedscope)."""
    from profiler.formats import pprof as pp

    out: dict[str, int] = {}
    if fmt == "folded":
        for line in body.decode().splitlines():
            stack, v = line.rsplit(" ", 1)
            out[stack.split(";")[-1]] = out.get(stack.split(";")[-1], 0) + int(v)
    elif fmt == "pprof":
        for s in pp.decode(body):
            leaf = s.folded_stack()[-1]
            out[leaf] = out.get(leaf, 0) + s.value_ns
    else:
        doc = json.loads(body)
        names = [f["name"] for f in doc["shared"]["frames"]]
        for prof in doc["profiles"]:
            for stack, w in zip(prof["samples"], prof["weights"], strict=True):
                out[names[stack[-1]]] = out.get(names[stack[-1]], 0) + w
    return out


def test_thread_timeline_of_a_trace(loaded):
    c = loaded.test_client()
    tl = c.get(f"/api/v1/thread-timeline?query=wall{{}}&trace_id={SLOW}&tid={REQ_TID}"
               ).get_json()
    assert [(e["kind"], e["dur_ns"], e["reason"]) for e in tl["events"]] == [
        ("cpu", 10 * MS, ""), ("cpu", 10 * MS, ""), ("offcpu", 50 * MS, "lock"),
        ("cpu", 10 * MS, ""), ("offcpu", 20 * MS, "sleep")]
    assert tl["intervals"] == [[T0 / 1e6, (T0 + 100 * MS) / 1e6, ROOT]]
    assert tl["stacks"][tl["events"][0]["stack"]] == ["handler", "slow_path"]


@pytest.mark.parametrize("url", [
    "/api/v1/render?query=wall{}&trace_id=xyz",
    "/api/v1/render?query=wall{}&trace_id=" + "0" * 32,
    "/api/v1/top?query=wall{}&trace_id=" + SLOW + "&span_id=12",
    "/api/v1/trace/abc",
    "/api/v1/traces",
    "/api/v1/traces?service=shop&limit=0",
    "/api/v1/traces?service=shop&min_ms=x",
    "/api/v1/endpoints?service=shop&from=now&until=now-1h",
])
def test_bad_trace_queries_are_400(app, url):
    r = app.test_client().get(url)
    assert r.status_code == 400 and "\n" not in r.get_json()["error"]


def test_unknown_trace_is_404(app):
    r = app.test_client().get(f"/api/v1/trace/{SLOW}")
    assert r.status_code == 404 and "not found" in r.get_json()["error"]


def test_retention_removes_trace_data(loaded):
    st = loaded.extensions["flamecam"]
    cfg = MaintenanceConfig(retention_s=60)
    run_once(st.store, cfg, now_ns=T0 + 30 * 10**9, traces=st.traces)
    assert count(st.store, spans_table) == 3  # younger than 60 s then
    run_once(st.store, cfg, now_ns=T0 + 61 * 10**9, traces=st.traces)
    assert count(st.store, spans_table) == 0
    assert count(st.store, thread_spans) == 0 and count(st.store, trace_samples) == 0


def test_a_failed_write_stores_nothing(app):
    st = app.extensions["flamecam"]
    spans, rows, samples = known_trace()
    bad = [*rows, ThreadSpan(PID, REQ_TID, SLOW, ROOT, 1 << 63, 1 << 63, "x")]
    with pytest.raises(ValueError):
        st.traces.write_links("anonymous", samples, bad)
    assert count(st.store, trace_samples) == 0 and count(st.store, thread_spans) == 0
    assert st.traces.write_linked_samples("anonymous", samples) == 8  # its cache is clean


def test_an_agent_batch_is_stored_whole_or_not_at_all(app):
    """Profile blocks, linked samples and thread spans of one agent batch share
    one transaction: a failure in the trace rows leaves no profile block and no
    (agent_id, seq) behind, so the agent's resend stores all of it, once."""
    st = app.extensions["flamecam"]
    _, rows, samples = known_trace()
    on_cpu = [s for s in samples if s.kind == "cpu"]
    profile = [SeriesBatch("cpu", {"service_name": "shop"}, on_cpu)]
    bad = [*rows, ThreadSpan(PID, REQ_TID, SLOW, ROOT, 1 << 63, 1 << 63, "x")]
    with pytest.raises(ValueError):
        st.traces.write_batch("anonymous", profile, samples, bad, agent_id="a1", seq=7)
    assert count(st.store, schema.blocks) == 0 and count(st.store, schema.agent_batches) == 0
    assert count(st.store, trace_samples) == 0 and count(st.store, thread_spans) == 0
    stored = st.traces.write_batch("anonymous", profile, samples, rows, agent_id="a1", seq=7)
    assert stored == len(on_cpu)
    assert count(st.store, trace_samples) == 8 and count(st.store, thread_spans) == 3
    # The answer was lost; the agent resends: acknowledged, nothing stored twice.
    assert st.traces.write_batch("anonymous", profile, samples, rows, agent_id="a1",
                                 seq=7) == 0
    assert count(st.store, schema.blocks) == 1 and count(st.store, trace_samples) == 8
    v = app.test_client().get(f"/api/v1/trace/{SLOW}").get_json()
    assert v["breakdown"] == {"cpu": 50 * MS, "lock": 50 * MS, "sleep": 20 * MS}


def test_links_the_process_flagged_approximate_say_so(app):
    """asyncio links (the add-on flags them) stay approximate through the wire,
    the store and the API; the figures are still computed from them."""
    st = app.extensions["flamecam"]
    spans, rows, samples = known_trace()
    rows = [dataclasses.replace(r, approximate=r.span_id == POOLED) for r in rows]
    st.traces.write_spans("anonymous", spans)
    st.traces.write_links("anonymous", samples, rows)
    c = app.test_client()
    v = c.get(f"/api/v1/trace/{SLOW}").get_json()
    assert v["linking"] == "approximate"
    assert v["breakdown"] == {"cpu": 50 * MS, "lock": 50 * MS, "sleep": 20 * MS}
    assert c.get(f"/api/v1/trace/{FAST}").get_json()["linking"] == "exact"
    listed = c.get("/api/v1/traces", query_string={
        "service": "shop", "from": str(T0 // MS - 1000), "until": str(T0 // MS + 1000)}
    ).get_json()["traces"]
    assert {t["trace_id"]: t["linking"] for t in listed} == {SLOW: "approximate",
                                                            FAST: "exact"}
