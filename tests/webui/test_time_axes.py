"""Time axes and the page's frame, in headless Chromium on a real server.

- The Traces scatter's time axis (timeaxis.js, shared with the timeline and
  the thread tracks) has distinct ticks on round times, labelled to the step's
  precision: a ~2 s window reads "07:12:03.500", several hours "07:00".
- A server holding only a trace (its spans, threads and linked samples, as the
  trace benchmark writes them; no profile series) shows no "No data yet"
  banner; an empty server does.
- The trace view keeps its width while it loads: the page reserves the
  scrollbar's gutter, so the scrollbar that appears once the page outgrows the
  window does not narrow the tracks drawn before it.

Spans go in through the real OTLP/HTTP receiver, the trace through the real
TraceStore. Screenshots: test-artifacts/screenshots/time-axes/.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest
from playwright.sync_api import expect

from profiler.model import Frame, Sample, Span, ThreadSpan
from profiler.store import Store, TraceStore
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.webui.conftest import ROOT, open_app, start_server, stop_server
from tests.webui.test_traces_ui import MS, SCATTER, open_traces, post_spans

pytestmark = pytest.mark.browser

SHOTS = ROOT / "test-artifacts" / "screenshots" / "time-axes"
SECOND, MINUTE, HOUR = 1000, 60_000, 3_600_000
MS_STEPS = {1, 2, 5, 10, 20, 50, 100, 200, 500}
HOUR_STEPS = {HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR}
TRACE, ROOT_SPAN = "a1" * 16, "b2" * 8
PID, TID = 7300, 7301
BANNER_TEXT = "No data yet: is the agent running?"


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-1280x800.png"))


@contextmanager
def spans_server(page, work: Path, service: str, spans: list[tuple[int, int]]):
    """A fresh server holding `spans` (start, duration ns) of `service`, shown
    on `page`."""
    srv = start_server(work, work / "server.log")
    try:
        post_spans(srv.url, service, spans)
        yield srv
    finally:
        stop_server(srv, page)


def scatter_axis(page, total: str) -> dict:
    """The scatter's time axis once it shows `total` ("5 requests"): its window
    and ticks with their x (one evaluate: all of one draw) and zone offsets."""
    expect(page.locator("#view-traces .hint", has_text=total)).to_be_visible()
    axis = page.evaluate(f"""() => {{
        const s = {SCATTER}, p = s.plot();
        return {{ x0: s.x0, x1: s.x1, ticks: s.xTicks.map((t) => ({{
            ms: t.ms, label: t.label, x: s.xOf(t.ms, p),
            tz: new Date(t.ms).getTimezoneOffset() }})) }};
    }}""")
    shoot(page, f"scatter-{total.split()[0]}")
    return axis


def local(ms: float, tz_minutes: int) -> datetime:
    """The page's local time at `ms` (getTimezoneOffset: minutes behind UTC)."""
    return datetime.fromtimestamp(ms / 1000, timezone(timedelta(minutes=-tz_minutes)))


def check_axis(axis: dict, min_gap_px: float) -> int:
    """Ticks distinct, evenly spaced on round local times, covering the
    window, at least `min_gap_px` apart; the step (ms)."""
    ticks = axis["ticks"]
    assert len(ticks) >= 3, axis
    labels = [t["label"] for t in ticks]
    assert len(set(labels)) == len(labels), labels
    steps = {round(b["ms"] - a["ms"]) for a, b in pairwise(ticks)}
    assert len(steps) == 1, (steps, axis)
    step = steps.pop()
    for t in ticks:
        assert round(t["ms"] - t["tz"] * MINUTE) % step == 0, (t, step)  # round local time
    assert axis["x0"] <= ticks[0]["ms"] < axis["x0"] + step, axis
    assert axis["x1"] - step < ticks[-1]["ms"] <= axis["x1"], axis
    gaps = [b["x"] - a["x"] for a, b in pairwise(ticks)]
    assert min(gaps) >= min_gap_px, gaps
    return step


def test_scatter_ticks_of_two_seconds_read_to_the_ms(page, tmp_path):
    """Five requests 250 ms apart, two minutes ago."""
    t0 = time.time_ns() - 120 * 10**9
    spans = [(t0 + i * 250 * MS, 10 * MS) for i in range(5)]
    with spans_server(page, tmp_path, "short", spans) as srv:
        open_traces(page, srv.url, tab="traces", service="short")
        axis = scatter_axis(page, "5 requests")
    # Requests 0..1000 ms, padded by 500 ms each side: a 2 s window.
    assert round(axis["x1"] - axis["x0"]) == 2000, axis
    step = check_axis(axis, 140)
    assert step in MS_STEPS, step
    for t in axis["ticks"]:
        at = local(t["ms"], t["tz"])
        assert t["label"] == f"{at:%H:%M:%S}.{round(t['ms']) % 1000:03d}", t
    print("2 s window:", [t["label"] for t in axis["ticks"]])


def test_scatter_ticks_of_five_hours_read_in_hours(page, tmp_path):
    """Eleven requests half an hour apart over five hours, up to a minute ago."""
    t0 = time.time_ns() - 5 * HOUR * MS - 60 * 10**9
    spans = [(t0 + i * 30 * MINUTE * MS, 40 * MS) for i in range(11)]
    with spans_server(page, tmp_path, "long", spans) as srv:
        open_traces(page, srv.url, tab="traces", service="long", **{"from": "now-6h"})
        axis = scatter_axis(page, "11 requests")
    assert 5 * HOUR < axis["x1"] - axis["x0"] < 6 * HOUR, axis
    step = check_axis(axis, 140)
    assert step in HOUR_STEPS, step
    for t in axis["ticks"]:
        at = local(t["ms"], t["tz"])
        want = f"{at:%Y-%m-%d}" if (at.hour, at.minute) == (0, 0) else f"{at:%H:%M}"
        assert at.minute == 0 and t["label"] == want, t
    print("5 h window:", [t["label"] for t in axis["ticks"]])


def write_trace(db_url: str, t0: int) -> None:
    """One 2 s request served by one thread, with its on-CPU samples and a lock
    wait, as the agent's links arrive (the trace benchmark's shape, small)."""
    store = Store(db_url)
    try:
        traces = TraceStore(store)
        traces.write_spans("anonymous", [Span(TRACE, ROOT_SPAN, "", "GET /report", "server",
                                              "ok", t0, t0 + 2000 * MS, "axes-app", "1.0", (),
                                              PID, "axes-host")])
        traces.write_thread_spans("anonymous", [ThreadSpan(PID, TID, TRACE, ROOT_SPAN, t0,
                                                           t0 + 2000 * MS, "worker-1")])
        stack = (Frame("main", "native"), Frame("report", "python"))
        traces.write_linked_samples("anonymous", [
            Sample("cpu" if i % 3 else "offcpu", t0 + i * 100 * MS, PID, TID, 0, "axes",
                   "worker-1", stack, 50 * MS, 1, "" if i % 3 else "lock", trace_id=TRACE,
                   span_id=ROOT_SPAN) for i in range(20)])
    finally:
        store.close()


FRAME_WIDTHS = """() => {
    // Every frame until the test reads it: the width of each canvas of the
    // trace view (the tracks, the flame graph) once drawn.
    window.__widths = {};
    let seen = 0;
    const watch = () => {
        for (const c of document.querySelectorAll("#view-trace canvas")) {
            const w = c.getBoundingClientRect().width;
            if (!w) continue;
            c.probe ||= `${c.parentElement.className} ${++seen}`;
            (window.__widths[c.probe] ||= new Set()).add(w);
        }
        requestAnimationFrame(watch);
    };
    requestAnimationFrame(watch);
}"""


def test_trace_only_server_has_no_banner_and_a_steady_width(browser, tmp_path):
    """A trace with its threads and no profile series: data, so no banner;
    the tracks and the flame graph never change width while the page loads
    under real scrollbars (the page's, the graph's box's)."""
    db = f"sqlite:///{tmp_path}/flamecam.db"
    write_trace(db, time.time_ns() - 90 * 10**9)
    srv = start_server(tmp_path, Path(tmp_path) / "server.log")
    # Playwright hides scrollbars in headless Chromium: this browser shows them,
    # so a scrollbar takes its width from the page as it does on a desktop.
    shown = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                        ignore_default_args=["--hide-scrollbars"])
    try:
        page = shown.new_context(viewport={"width": 1280, "height": 800}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.add_init_script(f"({FRAME_WIDTHS})()")
        open_app(page, f"{srv.url}/?trace={TRACE}")
        page.wait_for_function("() => window.flamecam.views.trace.tracks.tracks.length > 0",
                               timeout=30000)
        page.wait_for_function("() => window.flamecam.views.trace.panel.tree", timeout=30000)
        page.evaluate("() => window.flamecam.dataChecked")
        expect(page.locator("#banner")).to_be_hidden()
        # The page outgrew the window and its scrollbar takes room from it.
        assert page.evaluate("() => document.documentElement.scrollHeight > innerHeight")
        assert page.evaluate("() => innerWidth - document.documentElement.clientWidth") > 0
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => "
                      "requestAnimationFrame(r)))")
        widths = page.evaluate("() => Object.entries(window.__widths)"
                               ".map(([k, v]) => [k, [...v]])")
        assert len(widths) >= 2 and all(len(w) == 1 for _, w in widths), widths
        shoot(page, "03-trace-only-server")
        assert not errors, errors
    finally:
        shown.close()
        stop_server(srv)


def test_empty_server_says_no_data_yet(page, tmp_path):
    srv = start_server(tmp_path, Path(tmp_path) / "server.log")
    try:
        open_app(page, f"{srv.url}/?tab=traces")
        page.evaluate("() => window.flamecam.dataChecked")
        expect(page.locator("#banner")).to_contain_text(BANNER_TEXT)
    finally:
        stop_server(srv, page)
