"""Export from every view that shows a flame graph (issue 16 item 5): the
sandwich, the diff (overlaid and side by side) and a thread's graph, in
headless Chromium against the real server the agent filled (the profile
view's own export test is in test_ui_people.py, the trace's and slow vs
fast's in test_trace_view.py and test_traces_ui.py). Each file is decoded
and its content checked against what the view shows: pprof totals, folded
lines, speedscope frames, PNG pixels, SVG text and zoom."""

from __future__ import annotations

import json

import pytest

from tests.webui import exports as ex
from tests.webui.conftest import SERVICE
from tests.webui.test_ui import demo, open_page, wait_frame

pytestmark = pytest.mark.browser

CALLERS = "views.sandwich.callers.graph"
CALLEES = "views.sandwich.callees.graph"
THREAD = "views.threads.panel.graph"
DIFF = "views.diff.panel.graph"
SIDE_A, SIDE_B = "views.diff.sideA.graph", "views.diff.sideB.graph"


def test_sandwich_exports_the_samples_through_its_function(page, server, profiled):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, server, query=demo("cpu"), tab="sandwich", fn="burn_b")
    wait_frame(page, CALLERS, "work")
    wait_frame(page, CALLEES, "burn_b")
    items = ex.menu_shot(page, "sandwich", "sandwich-export-menu")
    assert items == ex.ITEMS, items
    total = ex.total_of(page, CALLERS)
    assert total == ex.total_of(page, CALLEES) > 0
    # The files hold exactly the stacks through burn_b: its total, as shown.
    got = ex.pprof_of_view(page, "sandwich", CALLERS)
    assert all("burn_b" in s.folded_stack() for s in got)
    _, body = ex.download(page, "sandwich", "folded")
    lines = ex.folded(body)
    assert sum(lines.values()) == total and all("burn_b" in k.split(";") for k in lines)
    assert any(k.endswith("burner;work;burn_b") for k in lines), lines
    _, body = ex.download(page, "sandwich", "speedscope")
    assert "burn_b" in ex.speedscope_frames(body) and "burn_a" not in ex.speedscope_frames(body)
    assert ex.speedscope_total(body) == total
    name, body = ex.download(page, "sandwich", "json")
    doc = json.loads(body)
    assert name == "flamecam-sandwich.flamegraph.json" and doc["sandwich"] == "burn_b"
    assert doc["callers"]["flamebearer"]["numTicks"] == total
    assert "work" in doc["callers"]["flamebearer"]["names"]
    # Both graphs in one image, side by side, each titled.
    _, body = ex.download(page, "sandwich", "png")
    ex.check_png(page, body, [CALLERS, CALLEES], "burn_b")
    _, body = ex.download(page, "sandwich", "svg")
    texts = ex.svg_texts(body)
    assert "Callers of burn_b" in texts and "Callees of burn_b" in texts
    assert "work" in texts and "burn_b" in texts
    assert ex.link_copied(page, "sandwich") == page.url


def test_diff_exports_both_sides_and_the_comparison(page, server, profiled):
    version = 'cpu{{service_name="{}",service_version="{}"}}'.format
    open_page(page, server, query=demo("cpu"), tab="diff", leftQuery=version(SERVICE, "1.0"),
              rightQuery=version(SERVICE, "2.0"))
    wait_frame(page, DIFF, "burn_b")
    items = ex.menu_shot(page, "diff", "diff-export-menu")
    assert items == ["left-pprof", "left-folded", "left-speedscope", "right-pprof",
                     "right-folded", "right-speedscope", "json", "png", "svg", "link"], items
    ticks = page.evaluate(f"() => [window.flamecam.{DIFF}.tree.leftTicks, "
                          f"window.flamecam.{DIFF}.tree.rightTicks]")
    # A's and B's samples apart: each totals its side, and only its version.
    for side, want, tag in (("left", ticks[0], "1.0"), ("right", ticks[1], "2.0")):
        _, body = ex.download(page, "diff", f"{side}-pprof")
        assert sum(s.value_ns for s in ex.samples(body)) == want, side
        assert ex.labels_of(body, "service_version") == {tag}
        _, body = ex.download(page, "diff", f"{side}-folded")
        assert sum(ex.folded(body).values()) == want, side
        _, body = ex.download(page, "diff", f"{side}-speedscope")
        assert "burn_b" in ex.speedscope_frames(body)
    # B spends more in burn_b than A: the diff's JSON says it per frame.
    name, body = ex.download(page, "diff", "json")
    doc = json.loads(body)
    assert name == "flamecam-diff.flamegraph.json" and doc["metadata"]["format"] == "double"
    assert (doc["leftTicks"], doc["rightTicks"]) == tuple(ticks)
    fb = doc["flamebearer"]
    b = fb["names"].index("burn_b")
    node = next(lv[i - 6:i + 1] for lv in fb["levels"] for i in range(6, len(lv), 7)
                if lv[i] == b)
    assert node[4] / ticks[1] > node[1] / ticks[0], node  # B's share of burn_b is larger
    _, body = ex.download(page, "diff", "png")
    ex.check_png(page, body, [DIFF], "burn_b")
    # zoomed on burn_a: the SVG draws it and not its sibling
    page.evaluate(f"() => window.flamecam.{DIFF}.zoomToName('burn_a')")
    _, body = ex.download(page, "diff", "svg")
    assert ex.svg_has_frame(body, "burn_a") and not ex.svg_has_frame(body, "burn_b")
    # Side by side: both sides in one image and one SVG, still zoomed on burn_a
    # (the diff's zoom is one, overlaid or side by side)
    page.get_by_label("side by side").check()
    wait_frame(page, SIDE_B, "burn_a")
    _, body = ex.download(page, "diff", "png")
    ex.check_png(page, body, [SIDE_A, SIDE_B], "burn_a")
    _, body = ex.download(page, "diff", "svg")
    texts = ex.svg_texts(body)
    assert "A (baseline)" in texts and "B (compared)" in texts and "burn_a" in texts
    assert not ex.svg_has_frame(body, "burn_b")
    ex.menu_shot(page, "diff", "diff-sides-export-menu")


def test_thread_graph_exports_that_thread(page, server, profiled):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    burner = profiled.threads["burner"]
    open_page(page, server, query=demo("cpu"), tab="threads", tid=str(burner))
    wait_frame(page, THREAD, "burn_b")
    page.evaluate("() => window.flamecam.views.threads.panel.toolbar.scrollIntoView()")
    items = ex.menu_shot(page, "threads", "thread-export-menu")
    assert items == ex.ITEMS, items
    total = ex.total_of(page, THREAD)
    got = ex.pprof_of_view(page, "threads", THREAD)
    assert {s.tid for s in got} == {burner}
    _, body = ex.download(page, "threads", "folded")
    assert sum(ex.folded(body).values()) == total
    _, body = ex.download(page, "threads", "speedscope")
    assert {"burn_a", "burn_b"} <= ex.speedscope_frames(body)
    _, body = ex.download(page, "threads", "json")
    fb = json.loads(body)["flamebearer"]
    assert fb["numTicks"] == total and "burn_b" in fb["names"]
    _, body = ex.download(page, "threads", "png")
    ex.check_png(page, body, [THREAD], "burn_b")
    page.evaluate(f"() => window.flamecam.{THREAD}.zoomToName('burn_b')")
    _, body = ex.download(page, "threads", "svg")
    assert "burn_b" in ex.svg_texts(body) and not ex.svg_has_frame(body, "burn_a")
    # focus on burn_a (the frame menu's, in the URL): the files follow the graph
    open_page(page, server, query=demo("cpu"), tab="threads", tid=str(burner), focus="burn_a")
    wait_frame(page, THREAD, "burn_a")
    got = ex.pprof_of_view(page, "threads", THREAD)
    assert ex.total_of(page, THREAD) < total
    assert all("burn_a" in s.folded_stack() for s in got)
    assert ex.link_copied(page, "threads") == page.url
