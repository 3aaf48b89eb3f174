"""The one-trace view in headless Chromium, on real data: the known-answer
Flask app of the traces tests (tests/workloads/trace_app.py: OpenTelemetry SDK,
OTLP/HTTP exporter, flamecam_otel) profiled by the real agent into the real
server, then `/?trace=ID` opened as a user would.

The known answer comes from the app itself: each /slow request reports its
thread (`tid`), its pool worker (`pool_tid`) and how long it was blocked on
the lock a `lock-holder` thread held (`lock_ms`, ~50 ms). The app, agent and
server are the `traced` fixture of tests/webui/conftest.py. Screenshots go to
test-artifacts/screenshots/trace-view/.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.traces.test_known_answer import APP
from tests.webui import exports as ex
from tests.webui.conftest import ROOT, http_post, longest_interval, open_app
from tests.webui.test_ui import wait_frame
from tests.webui.test_ui_people import menu_item, right_click

pytestmark = [pytest.mark.browser, pytest.mark.bpf]

SHOTS = ROOT / "test-artifacts" / "screenshots" / "trace-view"
TRACKS = "window.flamecam.views.trace.tracks"


def shot(page, name: str, viewport_first: bool = False) -> None:
    """The whole page, and what a 1280x800 screen shows of it (first, while a
    hover's tooltip is on screen, with `viewport_first`)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    whole = lambda: page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # noqa: E731
    if not viewport_first:
        whole()
    page.screenshot(path=str(SHOTS / f"{name}-1280x800.png"))
    if viewport_first:
        whole()


LOCK_COLOR = (0x8B, 0x1E, 0x3F)
RUNQUEUE_COLOR = (0x8E, 0x6C, 0x00)
MARKER_COLOR = (0x1A, 0x5F, 0xB4)  # a span's begin and end on its thread (tracks.js)


def canvas_pixel(page, x: float, y: float) -> tuple[int, int, int]:
    """The tracks canvas's colour at client point (x, y)."""
    return tuple(page.evaluate(f"""([x, y]) => {{
        const c = {TRACKS}.canvas; const r = c.getBoundingClientRect(); const d = c.width / r.width;
        return [...c.getContext('2d').getImageData(Math.round((x - r.left) * d),
                                                    Math.round((y - r.top) * d), 1, 1).data]
    }}""", [x, y])[:3])


def tip_frames(tip) -> list[tuple[str, str]]:
    """The stack in a tracks tooltip, innermost first: (name, kind label)."""
    items = tip.locator("ol.tt-stack:not(.tt-waker) li")
    return [(items.nth(i).locator("span").nth(0).inner_text(),
             items.nth(i).locator("span").nth(1).inner_text()) for i in range(items.count())]


GRAPH = "views.trace.panel.graph"


def frame_named(page, fn: str) -> str:
    """The trace flame graph's name of Python function `fn` ("module.fn")."""
    page.wait_for_function(f"() => window.flamecam.{GRAPH}.tree", timeout=20000)
    name = page.evaluate(f"""(fn) => window.flamecam.{GRAPH}.tree.names.find(
        (n) => n === fn || n.endsWith('.' + fn))""", fn)
    assert name, f"no frame {fn} in the trace's flame graph"
    return name


def open_trace(page, url: str, trace_id: str, **params: str) -> None:
    open_app(page, f"{url}/?{urllib.parse.urlencode({'trace': trace_id, **params})}")
    page.wait_for_function(f"() => window.flamecam && {TRACKS}.tracks.length > 0",
                           timeout=20000)


def span_graph(page) -> None:
    """Until the trace's flame graph is the chosen span's: the graph drawn
    before stays under the title, with a loading note, until the span's answer."""
    page.locator("#view-trace h2", has_text="Wall time of span").wait_for()
    expect(page.locator("#view-trace [role=status]", has_text="Loading the flame graph")
           ).to_have_count(0)


def tracks_of(page) -> list[dict]:
    return page.evaluate(f"""() => {TRACKS}.tracks.map((t) => ({{
        tid: t.thread.tid, name: t.thread.thread_name, dimmed: t.dimmed }}))""")


def test_slowest_trace_shows_its_threads_and_the_lock_wait(page, traced):
    s = traced.slowest
    open_trace(page, traced.url, s["trace_id"])
    tids = {t["tid"] for t in tracks_of(page)}
    assert {s["tid"], s["pool_tid"]} <= tids, (tids, s)
    names = " ".join(t["name"] for t in tracks_of(page))
    assert "pool" in names
    lock = longest_interval(page, TRACKS, s["tid"], "lock")
    assert lock is not None, "no lock interval on the request thread"
    assert abs(lock["ms"] - s["lock_ms"]) <= 0.15 * s["lock_ms"] + 2, (lock, s["lock_ms"])
    assert 35 <= lock["ms"] <= 90, lock
    # Hovering it tells what it was, how long, and its stack: the handler that
    # blocked (slow, Python) above CPython's lock (native) and the kernel's futex.
    page.mouse.move(lock["x"], lock["y"])
    tip = page.locator(".tracks-tip:not([hidden])")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "off-CPU (lock)" in text and re.search(r"\d+(\.\d)? ms", text), text
    frames = tip_frames(tip)
    assert ("trace_app.slow", "Python") in frames, frames
    assert ("lock_PyThread_acquire_lock", "native") in frames, frames
    assert any(kind == "kernel" and "futex" in name for name, kind in frames), frames
    # innermost first: the kernel's wait, CPython's lock, then the handler
    kinds = [kind for _, kind in frames]
    assert kinds.index("kernel") < kinds.index("native") < frames.index(("trace_app.slow",
                                                                        "Python")), frames
    shot(page, "01-slowest-trace-lock-hover", viewport_first=True)
    assert canvas_pixel(page, lock["x"], lock["y"]) == LOCK_COLOR  # colors.js
    # The span waterfall and the breakdown: the whole trace has lock and cpu.
    row = page.locator(".bd-row", has_text="Whole trace")
    assert "lock" in row.inner_text() and "cpu" in row.inner_text()
    # The trace's flame graph names slow_path (and the pool's work), drawn.
    wait_frame(page, GRAPH, frame_named(page, "slow_path"))
    wait_frame(page, GRAPH, frame_named(page, "pool_work"))
    shot(page, "01b-slowest-trace-flame-graph")


def run_queue_after_lock(page, tid: int) -> dict | None:
    """The off-CPU interval of thread `tid` that starts where its longest lock
    wait ends (the wakeup), if one of its own was kept: reason, length (ms) and
    the client point of its middle, with the page scrolled to show it."""
    return page.evaluate(f"""(tid) => {{
        const tr = {TRACKS};
        const ti = tr.tracks.findIndex((t) => t.thread.tid === tid);
        if (ti < 0) return null;
        const t = tr.tracks[ti], row = t.rows[1], reasons = t.src.reasons;
        let lock = -1;
        for (let k = 0; k < row.n; k++) {{
            if (reasons[row.code[k]] !== 'lock') continue;
            if (lock < 0 || row.end[k] - row.start[k] > row.end[lock] - row.start[lock]) lock = k;
        }}
        if (lock < 0) return null;
        let k = 0;  // the next interval with a length of its own, not a kernel sum's mark
        while (k < row.n && !(Math.abs(row.start[k] - row.end[lock]) <= 0.05 &&
                              row.end[k] > row.start[k] && k !== lock)) k++;
        if (k >= row.n) return null;
        const rowTop = () => tr.canvas.getBoundingClientRect().top + tr.trackY(ti) + tr.rowY(1);
        if (rowTop() < 0 || rowTop() + 12 > window.innerHeight) {{
            window.scrollBy(0, rowTop() - window.innerHeight / 2);
        }}
        const g = tr.geometry(), r = tr.canvas.getBoundingClientRect();
        return {{ reason: reasons[row.code[k]], ms: row.end[k] - row.start[k],
                  x: r.left + (r.width - g.plotW) + ((row.start[k] + row.end[k]) / 2 - tr.lo) * g.k,
                  y: r.top + tr.trackY(ti) + tr.rowY(1) + 6 }};
    }}""", tid)


def span_markers(page, tids: list[int]) -> list[dict]:
    """Per interval a thread of `tids` served the trace: its span, start and end
    (ms), and the canvas's colour at the x of its start and of its end, and
    half-way, at the middle of the thread's track."""
    return page.evaluate(f"""(tids) => {{
        const tr = {TRACKS}, g = tr.geometry(), left = g.width - g.plotW;
        const c = tr.canvas, d = c.width / g.width, ctx = c.getContext('2d');
        const px = (x, y) => [...ctx.getImageData(Math.round(x * d), Math.round(y * d), 1, 1).data]
            .slice(0, 3);
        const out = [];
        tr.tracks.forEach((t, ti) => {{
            if (!tids.includes(t.thread.tid)) return;
            const y = tr.trackY(ti) + 17;
            for (const iv of t.intervals) {{
                const xb = Math.round(left + (iv.start - tr.lo) * g.k);
                const xe = Math.round(left + (iv.end - tr.lo) * g.k) - 1;
                out.push({{ tid: t.thread.tid, span: iv.span, start: iv.start, end: iv.end,
                            begin: px(xb, y), finish: px(xe, y), half: px((xb + xe) >> 1, y) }});
            }}
        }});
        return out;
    }}""", tids)


def test_run_queue_delay_and_span_markers_on_the_tracks(page, traced):
    """The known run-queue delay: the app's lock holder releases a slow
    request's lock on the CPU the request is pinned to and keeps that CPU busy
    as a real-time thread for `runq_ms` (as the app measured it), so the woken
    request waits at least that long on the run queue, right after its lock
    wait. It is drawn in the run-queue colour and hovering it says so. The
    spans' begin and end are marked on the threads that served them."""
    assert all(s["runq_ms"] >= 1.5 for s in traced.slow), [s["runq_ms"] for s in traced.slow]
    for s in sorted(traced.slow, key=lambda b: b["trace_id"] != traced.slowest["trace_id"]):
        open_trace(page, traced.url, s["trace_id"])
        runq = run_queue_after_lock(page, s["tid"])
        if runq is not None:
            break
    # An interval the agent kept one by one (past its CPU budget, 1 in N are;
    # the rest summed, with no time of their own), in one slow trace at least.
    assert runq is not None, "no kept interval right after a lock wait in any slow trace"
    assert runq["reason"] == "runqueue" and runq["ms"] >= s["runq_ms"] - 0.1, (runq, s)
    assert canvas_pixel(page, runq["x"], runq["y"]) == RUNQUEUE_COLOR
    page.mouse.move(runq["x"], runq["y"])
    tip = page.locator(".tracks-tip:not([hidden])")
    tip.wait_for(state="visible")
    assert "off-CPU (runqueue): run-queue delay" in tip.inner_text(), tip.inner_text()
    shot(page, "06-run-queue-hover", viewport_first=True)
    legend = page.locator("#view-trace .legend").first.inner_text()
    assert "run-queue delay (runnable, waiting for a CPU)" in legend, legend
    # The spans' begin and end on their threads: the request's handler thread
    # served the request's root span, the pool worker a part of it.
    page.mouse.move(0, 0)
    page.wait_for_function(f"() => {TRACKS}.hovered === null")
    root = next(sp for sp in traced.views[s["trace_id"]]["spans"] if not sp["parent_id"])
    marks = span_markers(page, [s["tid"], s["pool_tid"]])
    print("thread intervals:", [(m["tid"], m["span"], round(m["start"] - root["start_ms"], 3),
                                 round(m["end"] - root["start_ms"], 3)) for m in marks],
          "root span", root["duration_ms"])
    assert {m["tid"] for m in marks} == {s["tid"], s["pool_tid"]}, marks
    # The handler served the root span from its begin to its end (the thread
    # spans' clock is another, converted: 1 ms either way), the pool worker a
    # part of it.
    start, end = root["start_ms"], root["start_ms"] + root["duration_ms"]
    handler = [m for m in marks if m["tid"] == s["tid"] and m["span"] == root["span_id"]]
    assert handler and handler[0]["end"] - handler[0]["start"] >= 0.9 * root["duration_ms"], marks
    for m in marks:
        assert start - 1 <= m["start"] < m["end"] <= end + 1, (m, start, end)
        assert tuple(m["begin"]) == MARKER_COLOR and tuple(m["finish"]) == MARKER_COLOR, m
        assert tuple(m["half"]) != MARKER_COLOR, m  # a mark at each end, not a band


def test_other_threads_show_the_lock_holder_dimmed(page, traced):
    s = traced.slowest
    open_trace(page, traced.url, s["trace_id"])
    assert not any(t["dimmed"] for t in tracks_of(page))
    page.locator("#trace-others").check()
    page.wait_for_url(re.compile("others=1"))
    page.wait_for_function(f"() => {TRACKS}.tracks.some((t) => t.dimmed)", timeout=20000)
    others = [t for t in tracks_of(page) if t["dimmed"]]
    assert any(t["name"] == "lock-holder" for t in others), others
    # the trace's own threads are not repeated among the others
    assert not {t["tid"] for t in others} & {s["tid"], s["pool_tid"]}
    shot(page, "02-other-threads")


def test_span_breakdown_opens_the_span_flame_graph_and_zoom_stays_in_the_url(page, traced):
    s = traced.slowest
    open_trace(page, traced.url, s["trace_id"])
    rows = page.locator(".bd-row")
    assert rows.count() >= 2  # the whole trace, then its spans
    rows.nth(1).click()
    page.wait_for_url(re.compile(r"span=[0-9a-f]{16}"))
    span_graph(page)
    wait_frame(page, GRAPH, frame_named(page, "slow_path"))
    # zoom in with the keys, then reload: the same window comes back
    canvas = page.locator("#view-trace .tracks canvas")
    canvas.focus()
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.wait_for_url(re.compile(r"window=[\d.]+-[\d.]+"))
    before = page.evaluate(f"() => [{TRACKS}.lo, {TRACKS}.hi]")
    page.reload()
    page.wait_for_function(f"() => window.flamecam && {TRACKS}.tracks.length > 0")
    after = page.evaluate(f"() => [{TRACKS}.lo, {TRACKS}.hi]")
    assert abs(after[0] - before[0]) < 0.01 and abs(after[1] - before[1]) < 0.01, (before, after)
    # Arrow keys step through the events; the status line says which.
    canvas.focus()
    page.keyboard.press("Home")
    status = page.locator("#view-trace .frame-status").first
    assert re.search(r"(on-CPU sample|off-CPU \(\w+\)[^,]*) at \+", status.inner_text())
    # and its whole stack is listed under the tracks, as text
    assert page.locator("#view-trace .stack-list li").count() >= 1
    # the sandwich of a function of the trace
    slow_path = frame_named(page, "slow_path")
    page.evaluate(f"(n) => window.flamecam.{GRAPH}.zoomToName(n)", slow_path)
    page.get_by_role("button", name=re.compile("Sandwich of .*slow_path")).click()
    page.locator(".trace-sandwich h3", has_text=f"Callers of {slow_path}").wait_for()
    shot(page, "03-span-flame-graph-zoomed")


def test_trace_empty_states_say_what_to_do(page, traced):
    open_app(page, f"{traced.url}/?trace={'ab' * 16}")
    page.locator("#view-trace .empty", has_text="not stored").wait_for()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in page.locator("#view-trace .empty").inner_text()
    # the API's 404 for the unknown trace is the answer this asks for, not a fault
    page.problems[:] = [p for p in page.problems if "status of 404" not in p]
    # A trace whose spans arrived but no thread served it (no add-on, no agent).
    trace_id, span_id = "cd" * 16, "ef" * 8
    now = time.time_ns()
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "no-addon"}},
        {"key": "host.name", "value": {"stringValue": "web-7"}}]},
        "scopeSpans": [{"spans": [{"traceId": trace_id, "spanId": span_id,
                                   "name": "GET <b>/x</b>", "kind": 2,
                                   "startTimeUnixNano": str(now - 30 * 10**6),
                                   "endTimeUnixNano": str(now)}]}]}]}
    assert http_post(f"{traced.url}/v1/traces", json.dumps(body).encode(),
                     "application/json") == 200
    open_app(page, f"{traced.url}/?trace={trace_id}")
    empty = page.locator("#view-trace .empty", has_text="No thread data")
    empty.wait_for()
    text = empty.inner_text()
    assert "install flamecam_otel" in text and "agent was not running on" in text, text
    # span names are text: the markup in the name is shown, not parsed
    assert "GET <b>/x</b>" in page.locator("#view-trace h2").first.inner_text()
    shot(page, "04-no-thread-data")


def test_app_routes_trace_links(page, traced):
    """Other views open a trace with app.openTrace(id), as /?trace=ID does."""
    s = traced.slowest
    open_app(page, f"{traced.url}/?query=cpu%7B%7D&tab=threads")
    page.evaluate("(id) => window.flamecam.openTrace(id)", s["trace_id"])
    page.wait_for_url(re.compile(f"trace={s['trace_id']}"))
    page.wait_for_function(f"() => {TRACKS}.tracks.length > 0", timeout=20000)
    assert page.locator("#tab-trace").get_attribute("aria-selected") == "true"


def _slow_lock_line() -> int:
    """The line of trace_app.py where slow() waits for the lock-holder's release."""
    lines = APP.read_text().splitlines()
    start = lines.index("def slow():")
    return [i + 1 for i in range(start, len(lines)) if lines[i].strip() == "lock.acquire()"][1]


def test_the_lock_wait_names_its_waker_and_the_traces_waits(page, traced):
    """Why the slow request waited (issue 13): its lock wait was woken by the
    app's lock-holder thread releasing the lock in lock_holder(); the trace's
    waits table has that lock with the time the app measured, its row filters
    the trace's graph to it, and the off-wake graph puts lock_holder on top."""
    s = traced.slowest
    open_trace(page, traced.url, s["trace_id"], others="1")
    page.wait_for_function(f"() => {TRACKS}.tracks.some((t) => t.dimmed)", timeout=20000)
    holder = next(t for t in tracks_of(page) if t["name"] == "lock-holder")
    lock = longest_interval(page, TRACKS, s["tid"], "lock")
    assert lock is not None and abs(lock["ms"] - s["lock_ms"]) <= 0.15 * s["lock_ms"] + 2, lock
    page.mouse.move(lock["x"], lock["y"])
    tip = page.locator(".tracks-tip:not([hidden])")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    # The lock named as the request's code made it wait (the app runs on
    # pyenv's CPython 3.12, whose symbols tell a threading.Lock).
    target = re.search(r"blocked in futex\(\) on (threading\.Lock at trace_app\.py:(\d+) "
                       r"\(in slow\))", text)
    assert target and int(target.group(2)) == _slow_lock_line(), text
    assert f"woken by lock-holder (tid {holder['tid']}" in text, text
    assert "waker's stack at the wakeup" in text, text
    page.wait_for_function(f"() => {TRACKS}.hovered !== null")
    wait = page.evaluate(f"""() => {{
        const tr = {TRACKS}; const t = tr.tracks[tr.hovered.track];
        const w = tr.waitOf(t, t.rows[1].ev[tr.hovered.k]);
        return {{ stack: w.waker.stack, kinds: w.waker.kinds, track: tr.wakerTrack(w) }};
    }}""")
    # the waker's Python stack at the release names lock_holder, a Python frame
    at = [i for i, f in enumerate(wait["stack"]) if f.endswith(".lock_holder")]
    assert at and wait["kinds"][at[0]] == "python", wait
    # the waker's thread is on screen (the process's other threads): the arrow's from there
    assert wait["track"] >= 0, wait
    shot(page, "13-trace-lock-waker")
    # The trace's waits by target: that lock, waited on once for the app's lock_ms.
    page.locator("#view-trace .waits-table tbody tr").first.wait_for()
    rows = page.evaluate("() => window.flamecam.views.trace.waitsTable.rows")
    row = next(r for r in rows if r["target"] == target.group(1))
    assert (row["syscall"], row["reason"], row["count"]) == ("futex", "lock", 1), row
    assert abs(row["total_ns"] / 1e6 - s["lock_ms"]) <= 0.15 * s["lock_ms"] + 2, (row, s)
    page.locator("#view-trace .waits-table tr", has_text=target.group(1)).get_by_role(
        "button").click()
    page.wait_for_url(re.compile(r"waitTarget=threading.Lock"))
    page.locator("#view-trace .filter-chip", has_text=f"Only waits on {target.group(1)}").wait_for()
    page.wait_for_function(f"(n) => window.flamecam.{GRAPH}.tree && "
                           f"window.flamecam.{GRAPH}.tree.numTicks === n", arg=row["total_ns"])
    wait_frame(page, GRAPH, frame_named(page, "slow"))
    # The off-wake graph of that wait: lock-holder's stack on top of the request's.
    page.locator("#view-trace").get_by_role("button", name="Off-wake: wakers on top").click()
    page.wait_for_url(re.compile(r"offwake=1"))
    woken = f"woken by lock-holder (tid {holder['tid']})"
    top = wait_frame(page, GRAPH, woken)
    below = wait_frame(page, GRAPH, frame_named(page, "lock_holder"))
    assert page.evaluate(f"(n) => {{ const t = window.flamecam.{GRAPH}.tree; "
                         f"return t.kinds[t.names.indexOf(n)]; }}",
                         frame_named(page, "lock_holder")) == "python"
    slow = wait_frame(page, GRAPH, frame_named(page, "slow"))
    assert top["y"] < below["y"] < slow["y"], (top, below, slow)
    shot(page, "13-trace-offwake")


def widest_caller(page, callers: str) -> str:
    """The name of the widest frame next to the root of sandwich graph `callers`."""
    return page.evaluate(f"""() => {{
        const t = window.flamecam.{callers}.tree, l = t.levels[1];
        let best = 0;
        for (let i = 1; i < l.n; i++) if (l.total[i] > l.total[best]) best = i;
        return t.names[l.name[best]];
    }}""")


def test_trace_graph_and_its_sandwich_have_the_frame_menu(page, traced):
    """Issue 16.4 on a trace's graphs: zoom, copy and the trace's own sandwich
    (the selection's focus, hide and only are not of one trace)."""
    s = traced.slowest
    open_trace(page, traced.url, s["trace_id"])
    slow_path = frame_named(page, "slow_path")
    right_click(page, wait_frame(page, GRAPH, slow_path))
    items = page.locator(".frame-ctx:not([hidden]) [role=menuitem]").all_inner_texts()
    assert items == ["Zoom to this frame", "Open in sandwich view", "Copy name"], items
    shot(page, "05-frame-menu")
    menu_item(page, "Open in sandwich").click()
    page.locator(".trace-sandwich h3", has_text=f"Callers of {slow_path}").wait_for()
    callers = "views.trace.sandwichPanels[0].graph"
    assert page.evaluate(f"() => window.flamecam.{callers}.tree.names[0]") == slow_path
    # the sandwich's own graphs have it too: re-centred on a caller
    caller = widest_caller(page, callers)
    right_click(page, wait_frame(page, callers, caller))
    menu_item(page, "Open in sandwich").click()
    page.locator(".trace-sandwich h3", has_text=f"Callers of {caller}").wait_for()
    assert page.locator(".frame-ctx").count() == 1


def test_trace_graph_state_survives_a_reload_and_back(page, traced):
    """Issue 12 and 16.4: the trace's flame graph keeps its zoom, search,
    layout, order and open sandwich in the URL, with the profile view's keys,
    so a reload (or a copied link) shows the same, and Back undoes a step."""
    s = traced.slowest
    open_trace(page, traced.url, s["trace_id"])
    slow_path = frame_named(page, "slow_path")
    term = slow_path.rsplit(".", 1)[-1]
    rect = wait_frame(page, GRAPH, slow_path)
    page.mouse.click(rect["x"] + min(6, rect["w"] / 2), rect["y"] + rect["h"] / 2)
    page.wait_for_function("() => location.search.includes('zoom=')")
    assert json.loads(params(page)["zoom"])[-1] == slow_path
    toolbar = page.locator("#view-trace .toolbar", has=page.locator("#tr-search"))
    toolbar.get_by_role("button", name="Icicle").click()
    page.wait_for_url(re.compile("layout=icicle"))
    toolbar.get_by_role("button", name="Left-heavy").click()
    page.wait_for_url(re.compile("order=heavy"))
    page.locator("#tr-search").fill(term)
    page.wait_for_url(re.compile(f"search={term}"))
    right_click(page, wait_frame(page, GRAPH, slow_path))
    menu_item(page, "Open in sandwich").click()
    page.locator(".trace-sandwich h3", has_text=f"Callers of {slow_path}").wait_for()
    assert params(page)["fn"] == slow_path
    before = graph_state(page)
    assert before["zoom"][-1] == slow_path and before["matches"] >= 1, before
    assert before["layout"] == "icicle" and before["heavy"], before

    page.reload()
    page.wait_for_function(f"() => window.flamecam && {TRACKS}.tracks.length > 0", timeout=20000)
    page.locator(".trace-sandwich h3", has_text=f"Callers of {slow_path}").wait_for()
    wait_frame(page, GRAPH, slow_path)
    after = graph_state(page)
    assert after == before
    # the zoomed frame spans the graph's width, as before the reload
    assert after["left"] <= 1 and after["width"] >= after["box"] - 1, after
    assert toolbar.get_by_role("button", name="Icicle").get_attribute("aria-pressed") == "true"
    assert toolbar.get_by_role("button", name="Left-heavy").get_attribute("aria-pressed") == "true"
    assert page.locator("#tr-search").input_value() == term
    assert page.locator("#view-trace .search-result").first.inner_text().startswith(
        f"{after['matches']} frame")
    # the zoomed frame is the focused one: its sandwich is a click away
    assert page.get_by_role("button", name=re.compile(f"Sandwich of .*{term}")).is_enabled()
    shot(page, "14-trace-state-after-reload")

    # closing the sandwich is a step Back undoes; the rest stays as it was
    page.get_by_role("button", name="Close the sandwich").click()
    page.wait_for_function("() => !location.search.includes('fn=')")
    assert page.locator(".trace-sandwich h3").count() == 0
    page.go_back()
    page.locator(".trace-sandwich h3", has_text=f"Callers of {slow_path}").wait_for()
    wait_frame(page, GRAPH, slow_path)
    assert graph_state(page) == before
    page.go_forward()
    page.wait_for_function("() => !location.search.includes('fn=')")
    page.wait_for_function("() => !document.querySelector('.trace-sandwich h3')")


def params(page) -> dict[str, str]:
    query = urllib.parse.urlparse(page.url).query
    return {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}


def graph_state(page) -> dict:
    """What the trace's flame graph shows: zoom, layout, order, search matches,
    and where its zoomed frame is drawn (from the graph's left, px)."""
    return page.evaluate("""() => {
        const p = window.flamecam.views.trace.panel, g = p.graph;
        const path = g.zoomPath(), r = g.frameRect(path[path.length - 1]);
        const box = g.scroller.getBoundingClientRect();
        return { zoom: path, layout: p.layout, heavy: p.heavy, matches: g.search.count,
                  left: Math.round(r.x - box.left), width: Math.round(r.w),
                  box: Math.round(g.scroller.clientWidth) };
    }""")


def test_trace_exports_hold_only_that_trace(page, traced):
    """Issue 12's export of a trace's graph (and of a span's): every file
    holds that trace's samples alone, totalling what its graph shows; the
    request's lock wait is in it for the time the app measured."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    s = traced.slowest
    trace_id = s["trace_id"]
    view = traced.views[trace_id]
    open_trace(page, traced.url, trace_id)
    slow_path = frame_named(page, "slow_path")
    wait_frame(page, GRAPH, slow_path)
    page.evaluate("() => window.flamecam.views.trace.flameBox.scrollIntoView()")
    items = ex.menu_shot(page, "trace", "trace-export-menu")
    assert items == ex.ITEMS, items
    total = ex.total_of(page, GRAPH)
    got = ex.pprof_of_view(page, "trace", GRAPH)
    assert {x.labels.get("trace_id") for x in got} == {trace_id}
    tids = {x.tid for x in got}
    assert {s["tid"], s["pool_tid"]} <= tids <= {t["tid"] for t in view["threads"]}, tids
    # the request's 50 ms lock wait is one sample of it, as long as the app measured
    longest = max((x for x in got if x.kind == "offcpu" and x.reason == "lock"),
                  key=lambda x: x.value_ns)
    lock = longest.value_ns / 1e6
    assert abs(lock - s["lock_ms"]) <= 0.15 * s["lock_ms"] + 2, (lock, s["lock_ms"])
    assert longest.tid == s["tid"]
    _, body = ex.download(page, "trace", "folded")
    assert sum(ex.folded(body).values()) == total
    _, body = ex.download(page, "trace", "speedscope")
    assert slow_path in ex.speedscope_frames(body) and ex.speedscope_total(body) == total
    name, body = ex.download(page, "trace", "json")
    doc = json.loads(body)
    assert name == "flamecam-trace.flamegraph.json"
    assert doc["metadata"]["trace_id"] == trace_id and doc["flamebearer"]["numTicks"] == total
    _, body = ex.download(page, "trace", "png")
    ex.check_png(page, body, [GRAPH], slow_path)
    pool_work = frame_named(page, "pool_work")
    page.evaluate(f"(n) => window.flamecam.{GRAPH}.zoomToName(n)", slow_path)
    _, body = ex.download(page, "trace", "svg")
    assert ex.svg_has_frame(body, slow_path) and not ex.svg_has_frame(body, pool_work)
    assert ex.link_copied(page, "trace") == page.url
    # One span (with its children): the files are scoped to it.
    page.locator(".bd-row").nth(1).click()
    page.wait_for_url(re.compile(r"span=[0-9a-f]{16}"))
    span = params(page)["span"]
    span_graph(page)
    wait_frame(page, GRAPH, frame_named(page, "slow_path"))
    got = ex.pprof_of_view(page, "trace", GRAPH)
    assert {x.labels.get("trace_id") for x in got} == {trace_id}
    assert {x.labels.get("span_id") for x in got} <= descendants(view["spans"], span)
    # the off-wake view has no speedscope form: the menu offers what it can save
    page.locator("#view-trace").get_by_role("button", name="Off-wake: wakers on top").click()
    page.wait_for_url(re.compile(r"offwake=1"))
    page.wait_for_function(f"() => window.flamecam.{GRAPH}.tree.names.some("
                           "(n) => n.startsWith('woken by'))", timeout=20000)
    items = ex.menu_shot(page, "trace", "trace-offwake-export-menu")
    assert items == ["pprof", "folded", "json", "png", "svg", "link"], items
    _, body = ex.download(page, "trace", "folded")
    assert sum(ex.folded(body).values()) == ex.total_of(page, GRAPH)


def test_trace_sandwich_exports_the_samples_through_its_function(page, traced):
    """The trace's small sandwich has the Export menu of every other view:
    the trace's samples whose stacks pass through the function (as its
    callers graph totals them), both graphs as drawn, the link; and each of
    its graphs keeps its zoom in the URL, as the Sandwich view's do."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    s = traced.slowest
    trace_id = s["trace_id"]
    open_trace(page, traced.url, trace_id)
    slow_path = frame_named(page, "slow_path")
    right_click(page, wait_frame(page, GRAPH, slow_path))
    menu_item(page, "Open in sandwich").click()
    page.locator(".trace-sandwich h3", has_text=f"Callers of {slow_path}").wait_for()
    callers, callees = (f"views.trace.sandwichPanels[{i}].graph" for i in (0, 1))
    wait_frame(page, callers, slow_path)
    page.evaluate("() => window.flamecam.views.trace.sandwichBox.scrollIntoView()")
    view = "trace .trace-sandwich"  # the sandwich's own menu, under the trace's graph
    items = ex.menu_shot(page, view, "trace-sandwich-export-menu")
    assert items == ex.ITEMS, items
    total = ex.total_of(page, callers)
    assert total == ex.total_of(page, callees) > 0
    assert total < ex.total_of(page, GRAPH)  # the pool's work is not through slow_path
    # the files: this trace's samples through slow_path, its callers' total
    got = ex.pprof_of_view(page, view, callers)
    assert {x.labels.get("trace_id") for x in got} == {trace_id}
    assert all(slow_path in x.folded_stack() for x in got)
    _, body = ex.download(page, view, "folded")
    lines = ex.folded(body)
    assert sum(lines.values()) == total and all(slow_path in k.split(";") for k in lines)
    _, body = ex.download(page, view, "speedscope")
    assert slow_path in ex.speedscope_frames(body) and ex.speedscope_total(body) == total
    name, body = ex.download(page, view, "json")
    doc = json.loads(body)
    assert name == "flamecam-trace-sandwich.flamegraph.json"
    assert doc["sandwich"] == slow_path and doc["trace_id"] == trace_id
    assert doc["callers"]["flamebearer"]["numTicks"] == total
    assert doc["callers"]["flamebearer"]["names"][0] == slow_path
    # both graphs in one image, side by side, each titled
    _, body = ex.download(page, view, "png")
    ex.check_png(page, body, [callers, callees], slow_path)
    _, body = ex.download(page, view, "svg")
    texts = ex.svg_texts(body)
    assert f"Callers of {slow_path}" in texts and f"Callees of {slow_path}" in texts
    assert ex.link_copied(page, view) == page.url
    # the callers' zoom is in the URL: a reload shows the same
    caller = widest_caller(page, callers)
    rect = wait_frame(page, callers, caller)
    page.mouse.click(rect["x"] + min(6, rect["w"] / 2), rect["y"] + rect["h"] / 2)
    page.wait_for_function("() => new URLSearchParams(location.search).has('callersZoom')")
    assert json.loads(params(page)["callersZoom"]) == [caller]
    page.reload()
    page.locator(".trace-sandwich h3", has_text=f"Callers of {slow_path}").wait_for()
    page.wait_for_function(f"""(want) => {{
        const g = window.flamecam.{callers};
        return g.tree && JSON.stringify(g.zoomPath()) === JSON.stringify(want);
    }}""", arg=[caller], timeout=20000)


def descendants(spans: list[dict], span_id: str) -> set[str]:
    """A span's id and its descendants' ids."""
    out, todo = set(), [span_id]
    while todo:
        sid = todo.pop()
        out.add(sid)
        todo += [x["span_id"] for x in spans if x["parent_id"] == sid and x["span_id"] not in out]
    return out
