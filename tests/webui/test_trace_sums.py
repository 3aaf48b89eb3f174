"""A kernel sum inside a trace, in headless Chromium: an off-CPU sample with
count > 1 is the kernel's sum of that many short intervals, its value a total
over a flush period. The trace view marks it where it was reported, as the
Threads view does, instead of drawing its total as one long interval.

The trace is written into the session server's store (the real TraceStore), as
the agent's links would arrive: a request thread with on-CPU samples, a 20 ms
lock wait, and a sum of 37 sleeps worth 120 ms.
"""

from __future__ import annotations

import time

import pytest

from profiler.model import Frame, Sample, Span, ThreadSpan
from profiler.store import Store, TraceStore
from tests.webui.conftest import ROOT, open_app

pytestmark = pytest.mark.browser

TRACE, SPAN = "5e" * 16, "6f" * 8
PID, TID = 7100, 7101
MS = 10**6
TRACKS = "window.flamecam.views.trace.tracks"


def write_trace(db_url: str, t0: int) -> None:
    store = Store(db_url)
    try:
        traces = TraceStore(store)
        traces.write_spans("anonymous", [Span(TRACE, SPAN, "", "GET /sums", "server", "ok", t0,
                                              t0 + 600 * MS, "sums-app", "1.0", (), PID,
                                              "web-9")])
        traces.write_thread_spans("anonymous", [ThreadSpan(PID, TID, TRACE, SPAN, t0,
                                                           t0 + 600 * MS, "req-1")])
        stack = (Frame("main", "native"), Frame("handler", "python"))

        def sample(kind: str, ms: int, dur_ms: int, reason: str = "", count: int = 1) -> Sample:
            return Sample(kind, t0 + ms * MS, PID, TID, 0, "sums", "req-1", stack, dur_ms * MS,
                          count, reason, trace_id=TRACE, span_id=SPAN)

        traces.write_linked_samples("anonymous", [
            sample("cpu", 10, 10), sample("cpu", 20, 10),
            sample("offcpu", 40, 20, "lock"),
            sample("offcpu", 300, 120, "sleep", count=37),
            sample("cpu", 500, 10)])
    finally:
        store.close()


def test_a_kernel_sum_in_a_trace_is_a_mark_not_an_interval(page, server):
    db_url = server.proc.args[server.proc.args.index("--db") + 1]
    write_trace(db_url, time.time_ns() - 60 * 10**9)
    open_app(page, f"{server.url}/?trace={TRACE}")
    page.wait_for_function(f"() => {TRACKS}.tracks.length > 0", timeout=20000)
    got = page.evaluate(f"""() => {{
        const tr = {TRACKS};
        const row = tr.tracks[0].rows[1];
        const out = [];
        for (let k = 0; k < row.n; k++) {{
          const ev = tr.eventOf({{ track: 0, row: 1, k }});
          out.push({{ ms: row.end[k] - row.start[k], reason: ev.reason, summed: ev.summed,
                      text: tr.describe(ev) }});
        }}
        return out;
    }}""")
    assert [(e["reason"], round(e["ms"]), e["summed"]) for e in got] == [
        ("lock", 20, 0), ("sleep", 0, 37)], got
    assert got[1]["text"].startswith(
        "37 off-CPU (sleep) intervals summed in the kernel, 120.0 ms in all"), got
    assert got[0]["text"].startswith("off-CPU (lock) at +"), got
    shot = ROOT / "test-artifacts" / "screenshots" / "trace-view" / "05-kernel-sum.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
