"""Every flame graph of the page, not just the main one (issue 16 items 2, 4, 10):
each box ends at the window's bottom with its root on screen at 1280x800, no
status line over a row, the frame menu on each, "show only" scoping the page's
timeline; and the runtime's thread names of a real many-threaded Python app."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest

from tests.runtimes.conftest import wait_for_line
from tests.webui.conftest import (
    ARTIFACTS,
    SERVICE,
    _agent_cli_help,
    _run_agent_cli,
    _run_agent_in_process,
    http_json,
)
from tests.webui.test_ui import PROFILE, demo, frame_rect, open_page, wait_frame
from tests.webui.test_ui_layout import push_folded, rows_on_screen, view_shot
from tests.webui.test_ui_people import menu_item, only_thread, params, right_click
from tests.workloads import die_with_pytest

pytestmark = pytest.mark.browser

ROOT = ARTIFACTS.parents[1]
CALLERS = "views.sandwich.callers.graph"
CALLEES = "views.sandwich.callees.graph"
DIFF = "views.diff.panel.graph"
SIDE_A = "views.diff.sideA.graph"
SIDE_B = "views.diff.sideB.graph"
THREAD = "views.threads.panel.graph"


def status_clear_of_graph(page, graph: str) -> bool:
    """The graph's status line is under its box (not over a row) and in the window."""
    return page.evaluate(f"""() => {{
        const g = window.flamecam.{graph};
        const box = g.scroller.getBoundingClientRect();
        const s = g.status.getBoundingClientRect();
        return s.top >= box.bottom - 0.5 && s.bottom <= window.innerHeight && s.height > 0;
    }}""")


def versions_diff(**extra) -> dict:
    version = 'cpu{{service_name="{}",service_version="{}"}}'.format
    return dict(query=demo("cpu"), tab="diff", leftQuery=version(SERVICE, "1.0"),
                rightQuery=version(SERVICE, "2.0"), **extra)


def test_sandwich_and_diff_graphs_fit_the_window(page, server, profiled):
    """Sandwich (both sides, both layouts) and diff (overlaid, side by side): the
    root and the levels next to it on screen at 1280x800 without scrolling."""
    open_page(page, server, query=demo("cpu"), tab="sandwich", fn="work")
    wait_frame(page, CALLEES, "burn_b")
    assert page.evaluate("() => window.scrollY") == 0
    # callers of work: work, burner, start_thread, clone3 (root at the bottom)
    assert all(rows_on_screen(page, CALLERS, 4))
    # callees of work: work, burn_a / burn_b and what they call (root at the top)
    assert all(rows_on_screen(page, CALLEES, 3))
    for graph in (CALLERS, CALLEES):
        assert status_clear_of_graph(page, graph), graph
    view_shot(page, "40-sandwich-fits")
    page.locator("#sw-callers-search").locator("..").get_by_role("button", name="Icicle").click()
    assert all(rows_on_screen(page, CALLERS, 4))
    page.locator("#sw-callees-search").locator("..").get_by_role(
        "button", name="Flame graph").click()
    assert all(rows_on_screen(page, CALLEES, 3))

    open_page(page, server, **versions_diff())
    wait_frame(page, DIFF, "burn_b")
    page.evaluate("() => window.scrollTo(0, 0)")
    assert all(rows_on_screen(page, DIFF, 5))  # total .. burner;work;burn_b
    assert status_clear_of_graph(page, DIFF)
    view_shot(page, "41-diff-fits")
    page.get_by_label("side by side").check()
    wait_frame(page, SIDE_B, "burn_b")
    page.evaluate("() => window.scrollTo(0, 0)")
    view_shot(page, "42-diff-sides-fit")
    for graph in (SIDE_A, SIDE_B):
        assert all(rows_on_screen(page, graph, 5)), graph
        assert status_clear_of_graph(page, graph), graph


def test_thread_graph_fits_one_window_and_its_status_covers_no_row(page, server, profiled):
    """The thread's graph starts under its tracks: scrolled to its toolbar, the
    box, its root and the status line under it fit the window; arrowing through
    it keeps the status in view and over no frame."""
    open_page(page, server, query=demo("cpu"), tab="threads",
              tid=str(profiled.threads["burner"]))
    wait_frame(page, THREAD, "burn_a")
    page.locator("#th-search").scroll_into_view_if_needed()
    page.evaluate("() => window.flamecam.views.threads.panel.toolbar.scrollIntoView()")
    assert all(rows_on_screen(page, THREAD, 5))  # total .. burner;work
    assert status_clear_of_graph(page, THREAD)
    # the bottom row the window shows is a whole, uncovered frame row
    covered = page.evaluate(f"""() => {{
        const g = window.flamecam.{THREAD};
        const c = g.canvas.getBoundingClientRect();
        const s = g.status.getBoundingClientRect();
        const rootBottom = c.top + g.rowY(0) + 17;
        return rootBottom > s.top;
    }}""")
    assert not covered
    view_shot(page, "43-thread-graph-fits")
    page.locator("#view-threads .flame canvas").focus()
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    assert status_clear_of_graph(page, THREAD)
    assert page.evaluate(f"() => window.flamecam.{THREAD}.status.textContent").startswith("work")


def frame_menu_items(page) -> list[str]:
    return page.locator(".frame-ctx:not([hidden]) [role=menuitem]").all_inner_texts()


def test_frame_menu_on_sandwich_diff_and_thread_graphs(page, server, profiled):
    """Issue 16.4 on every graph: the sandwich's sides act as the main graph's
    menu does (open another sandwich, hide: chips and URL); the diff's offers
    zoom, copy and sandwich; the keyboard opens it; a thread's graph offers
    focus, which applies to it."""
    open_page(page, server, query=demo("cpu"), tab="sandwich", fn="work")
    right_click(page, wait_frame(page, CALLEES, "burn_b"))
    items = frame_menu_items(page)
    for item in ("Zoom", "Focus", "Open in sandwich", "Copy name", "Show only", "Hide"):
        assert any(i.startswith(item) for i in items), (item, items)
    view_shot(page, "44-sandwich-frame-menu")
    menu_item(page, "Open in sandwich").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('fn') === 'burn_b'")
    page.locator("#view-sandwich h2", has_text="Callers of burn_b").wait_for()
    assert params(page)["tab"] == "sandwich"
    # hide `work` from the callers of burn_b: burner calls burn_b directly
    right_click(page, wait_frame(page, CALLERS, "work"))
    menu_item(page, "Hide this function").click()
    page.wait_for_function(f"() => window.flamecam.{CALLERS}.frameRect('work') === null")
    assert json.loads(params(page)["hide"]) == ["work"]
    assert page.evaluate(f"() => window.flamecam.{CALLERS}.tree.names[1]") == "burner"
    page.locator("#view-sandwich .filter-chip", has_text="Hidden: work").get_by_role(
        "button").click()
    wait_frame(page, CALLERS, "work")

    open_page(page, server, **versions_diff())
    rect = wait_frame(page, DIFF, "burn_b")
    right_click(page, rect)
    items = frame_menu_items(page)
    assert items == ["Zoom to this frame", "Open in sandwich view", "Copy name"], items
    menu_item(page, "Zoom to this frame").click()
    assert page.evaluate(f"() => window.flamecam.{DIFF}.zoomPath()")[-1] == "burn_b"
    # the keyboard: M on the cursor's frame
    page.locator("#view-diff .flame canvas").first.focus()
    page.keyboard.press("m")
    page.locator(".frame-ctx:not([hidden])").wait_for()
    assert page.locator(".frame-ctx:not([hidden]) .frame-menu-title").inner_text() == "burn_b"
    page.keyboard.press("Escape")
    # side by side keeps the zoom: A's burn_b fills its graph, and has the menu too
    page.get_by_label("side by side").check()
    right_click(page, wait_frame(page, SIDE_A, "burn_b"))
    assert page.evaluate(f"() => window.flamecam.{SIDE_A}.zoomPath()")[-1] == "burn_b"
    menu_item(page, "Open in sandwich").click()
    page.wait_for_function("() => location.search.includes('tab=sandwich')")
    assert params(page)["fn"] == "burn_b"

    burner = profiled.threads["burner"]
    open_page(page, server, query=demo("cpu"), tab="threads", tid=str(burner))
    right_click(page, wait_frame(page, THREAD, "burn_a"))
    items = frame_menu_items(page)
    for item in ("Zoom", "Focus", "Open in sandwich", "Copy name", "Show only", "Hide"):
        assert any(i.startswith(item) for i in items), (item, items)
    menu_item(page, "Focus on this function").click()
    page.wait_for_function(f"() => window.flamecam.{THREAD}.frameRect('burn_b') === null")
    assert params(page)["focus"] == "burn_a"
    assert page.locator("#view-threads .filter-chip", has_text="Focus: burn_a").is_visible()
    view_shot(page, "45-thread-frame-menu-focus")
    # its sandwich is of this thread
    right_click(page, wait_frame(page, THREAD, "burn_a"))
    menu_item(page, "Open in sandwich").click()
    page.wait_for_function("() => location.search.includes('tab=sandwich')")
    assert params(page)["only"] == f"tid:{burner}" and params(page)["fn"] == "burn_a"


def timeline_total(page) -> int:
    return page.evaluate(
        "() => window.flamecam.timeline.timeline.points.reduce((a, p) => a + p[1], 0)")


def test_show_only_a_thread_scopes_the_timeline_and_stays_in_the_url(page, server, profiled):
    """Issue 16.4/8: "only thread burner" from the menu: the page's timeline is
    that thread's (the server's own answer for tid), on every tab and after a
    reload; the chip gives the whole selection back."""
    open_page(page, server, query=demo("cpu"))
    wait_frame(page, PROFILE, "burn_b")
    page.locator(".timeline-readout", has_text="in total").wait_for()
    whole = timeline_total(page)
    tid = only_thread(page, PROFILE, "burn_b", "burner")
    page.locator(".timeline-panel h2", has_text=f"Timeline of thread {tid}").wait_for()
    page.locator(".timeline-readout", has_text="in total").wait_for()
    scoped = timeline_total(page)
    answer = http_json(f"{server.url}/api/v1/timeline?" + urllib.parse.urlencode({
        "query": demo("cpu"), "from": "now-30m", "until": "now", "tid": tid}))
    assert scoped == sum(v for _, v in answer["points"]) and 0 < scoped < whole, (scoped, whole)
    view_shot(page, "46-only-thread-timeline")
    page.reload()
    page.wait_for_function("() => window.flamecam !== undefined")
    page.locator(".timeline-panel h2", has_text=f"Timeline of thread {tid}").wait_for()
    page.locator(".timeline-readout", has_text="in total").wait_for()
    assert timeline_total(page) == scoped
    # the Threads tab: the list is that thread, under the same timeline
    page.locator("#tab-threads").click()
    page.locator(".threads-table tbody tr").first.wait_for()
    assert page.locator(".threads-table tbody tr").count() == 1
    assert timeline_total(page) == scoped
    page.locator("#view-threads .filter-chip", has_text="Only thread").get_by_role(
        "button").click()
    page.wait_for_function("() => !location.search.includes('only=')")
    page.locator(".timeline-panel h2", has_text=re.compile(r"^Timeline$")).wait_for()
    page.wait_for_function(
        "(w) => window.flamecam.timeline.timeline.points.reduce((a, p) => a + p[1], 0) === w",
        arg=whole)


PY_SERVICE = "webui-pythreads"
PY_WORKERS = 16


@pytest.fixture(scope="module")
def python_threads(server, tmp_path_factory) -> dict:
    """tests/workloads/py_named_threads.py (16 workers named worker-00...),
    profiled by the real agent as the module's other fixtures are; the app
    stops once recorded."""
    if os.geteuid() != 0:
        pytest.skip("the agent's eBPF needs root")
    work = tmp_path_factory.mktemp("pythreads")
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "workloads" / "py_named_threads.py"),
         str(PY_WORKERS)], stdout=subprocess.PIPE, start_new_session=True,
        preexec_fn=die_with_pytest,
        env=dict(os.environ, OTEL_SERVICE_NAME=PY_SERVICE,
                 OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test"))
    try:
        pid = int(wait_for_line(app, "ready", timeout=60).split()[1])
        help_text = _agent_cli_help()
        if help_text:
            _run_agent_cli(server.url, [pid], help_text, work)
        else:
            _run_agent_in_process(server.url, [pid], work)
    finally:
        app.kill()
        app.wait(10)
        app.stdout.close()
    # wall: the on-CPU samples and the off-CPU intervals (each worker sleeps)
    query = f'wall{{service_name="{PY_SERVICE}"}}'
    deadline = time.monotonic() + 60
    threads: list[dict] = []
    while time.monotonic() < deadline:
        threads = server.api("/api/v1/threads", query=query,
                             **{"from": "now-1h", "until": "now"})["threads"]
        if len(threads) >= PY_WORKERS:
            break
        time.sleep(1)
    return {"pid": pid, "query": query, "threads": threads}


def test_python_app_threads_list_under_their_runtime_names(page, server, python_threads):
    """Issue 16.3: a Python app's threads read worker-00 ... worker-15, on-CPU
    and off-CPU alike, not the kernel's name for all of them (python3)."""
    comm = {t["comm"] for t in python_threads["threads"]}
    open_page(page, server, query=python_threads["query"], tab="threads",
              **{"from": "now-1h"})
    page.locator(".threads-table tbody tr").first.wait_for()
    names = [re.sub(r" \(\d+\)$", "", n) for n in
             page.locator(".threads-table tbody td.name button").all_inner_texts()]
    workers = sorted(n for n in names if n.startswith("worker-"))
    assert workers == [f"worker-{i:02d}" for i in range(PY_WORKERS)], names
    # the kernel's name is the one beside it, and no thread is listed by it alone
    assert not comm & set(names), (comm, names)
    hints = page.locator(".threads-table tbody td.name .hint").all_inner_texts()
    assert any(h.startswith("kernel name: ") for h in hints), hints
    page.locator(".thread-filter").fill("worker-")
    assert page.locator(".thread-count").inner_text().startswith(f"{PY_WORKERS} of ")
    view_shot(page, "47-python-thread-names")


def test_left_heavy_order_puts_the_widest_callee_first_and_stays_in_the_url(page, server):
    """The table's goal "left-heavy / time order: both": by name, a_small is left
    of z_big; left-heavy, z_big (9 times wider) comes first; the URL keeps it."""
    service = f"webui-heavy-{int(time.time())}"
    push_folded(server, service, "main;a_small 10\nmain;z_big 90\n")
    open_page(page, server, query=f'cpu{{service_name="{service}"}}', panes="flame")
    small = wait_frame(page, PROFILE, "a_small")
    big = wait_frame(page, PROFILE, "z_big")
    assert small["x"] < big["x"]
    page.get_by_role("button", name="Left-heavy").click()
    page.wait_for_url(re.compile("order=heavy"))
    big = wait_frame(page, PROFILE, "z_big")
    assert big["x"] < frame_rect(page, PROFILE, "a_small")["x"]
    assert big["w"] > 8 * frame_rect(page, PROFILE, "a_small")["w"]
    view_shot(page, "48-left-heavy")
    page.reload()
    page.wait_for_function("() => window.flamecam !== undefined")
    big = wait_frame(page, PROFILE, "z_big")
    assert big["x"] < frame_rect(page, PROFILE, "a_small")["x"]
    assert page.get_by_role("button", name="Left-heavy").get_attribute("aria-pressed") == "true"
