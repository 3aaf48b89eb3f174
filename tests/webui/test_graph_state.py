"""Every view state in the URL (issue 12's standard, issue 16 item 4), for the
graphs of the views with two graphs side by side: the diff's side-by-side
mode, where A and B zoom, lay out and search together, and the sandwich,
whose callers and callees graphs each keep their own zoom. Set the state,
then reload, Back and Forward: the same mode, the same frame zoomed to the
graph's full width. Headless Chromium, the real server the agent filled."""

from __future__ import annotations

import json
import re

import pytest

from tests.webui.test_ui import demo, open_page, wait_frame
from tests.webui.test_ui_graphs import CALLEES, CALLERS, DIFF, SIDE_A, SIDE_B, versions_diff
from tests.webui.test_ui_layout import view_shot
from tests.webui.test_ui_people import params

pytestmark = pytest.mark.browser


def click_frame(page, graph: str, name: str) -> None:
    """A click on frame `name`, as a user zooms to it."""
    rect = wait_frame(page, graph, name)
    page.mouse.click(rect["x"] + min(6, rect["w"] / 2), rect["y"] + rect["h"] / 2)


def shown(page, graph: str) -> dict:
    """What a graph shows: its zoom path and layout, and where its zoomed frame
    is drawn (px from the graph's left, its width, the graph's width)."""
    return page.evaluate(f"""() => {{
        const g = window.flamecam.{graph}, path = g.zoomPath();
        const r = path.length ? g.frameRect(path[path.length - 1]) : null;
        const box = g.scroller.getBoundingClientRect();
        return {{ zoom: path, layout: g.layout, left: r && Math.round(r.x - box.left),
                  width: r && Math.round(r.w), box: Math.round(g.scroller.clientWidth) }};
    }}""")


def full_width(state: dict) -> bool:
    return state["left"] <= 1 and state["width"] >= state["box"] - 1


def wait_zoom(page, graph: str, path: list[str]) -> None:
    """Until the (maybe new) page's graph is drawn zoomed on `path`, on screen."""
    page.wait_for_function(f"""(want) => {{
        const g = window.flamecam && window.flamecam.{graph};
        return Boolean(g && g.tree) && g.scroller.clientWidth > 0
            && JSON.stringify(g.zoomPath()) === JSON.stringify(want);
    }}""", arg=path, timeout=20000)


def test_diff_side_by_side_and_its_zoom_survive_reload_back_and_forward(page, server, profiled):
    open_page(page, server, **versions_diff())
    wait_frame(page, DIFF, "burn_b")
    # side by side is a step of its own: Back returns to the overlaid graph
    page.get_by_label("side by side").check()
    page.wait_for_url(re.compile("diffLayout=sides"))
    click_frame(page, SIDE_A, "burn_b")
    page.wait_for_function("() => new URLSearchParams(location.search).has('zoom')")
    path = json.loads(params(page)["zoom"])
    assert path[-1] == "burn_b"
    # one icicle button lays out both sides
    page.locator("#diff-a-search").locator("..").get_by_role("button", name="Icicle").click()
    page.wait_for_url(re.compile("layout=icicle"))
    wait_zoom(page, SIDE_B, path)
    before = [shown(page, g) for g in (SIDE_A, SIDE_B)]
    # B zoomed with A: the same frame, at the full width of each side
    for state in before:
        assert state["zoom"] == path and state["layout"] == "icicle", state
        assert full_width(state), state
    view_shot(page, "60-diff-sides-zoomed")

    page.reload()
    wait_zoom(page, SIDE_B, path)
    wait_zoom(page, SIDE_A, path)
    assert [shown(page, g) for g in (SIDE_A, SIDE_B)] == before
    assert page.get_by_label("side by side").is_checked()
    view_shot(page, "61-diff-sides-after-reload")

    page.go_back()
    page.wait_for_function("""() => {
        const d = window.flamecam && window.flamecam.views.diff;
        return Boolean(d && d.answer) && !d.flameBox.hidden && d.sideBox.hidden;
    }""", timeout=20000)
    assert "diffLayout" not in params(page) and "zoom" not in params(page)
    assert page.get_by_label("overlaid").is_checked()
    assert wait_frame(page, DIFF, "burn_b") is not None

    page.go_forward()
    wait_zoom(page, SIDE_B, path)
    wait_zoom(page, SIDE_A, path)
    assert [shown(page, g) for g in (SIDE_A, SIDE_B)] == before
    assert page.get_by_label("side by side").is_checked()


def test_sandwich_zoom_of_each_graph_survives_reload_back_and_forward(page, server, profiled):
    open_page(page, server, query=demo("cpu"), tab="sandwich", fn="work")
    # callees of work: burn_a (7 units) beside burn_b; zoomed, burn_a fills the graph
    wait_frame(page, CALLERS, "start_thread")
    click_frame(page, CALLEES, "burn_a")
    page.wait_for_function("() => new URLSearchParams(location.search).has('calleesZoom')")
    assert json.loads(params(page)["calleesZoom"]) == ["burn_a"]
    click_frame(page, CALLERS, "start_thread")
    page.wait_for_function("() => new URLSearchParams(location.search).has('callersZoom')")
    callers_path = json.loads(params(page)["callersZoom"])
    assert callers_path[-1] == "start_thread" and "zoom" not in params(page)
    before = {g: shown(page, g) for g in (CALLERS, CALLEES)}
    assert before[CALLEES]["zoom"] == ["burn_a"] and before[CALLERS]["zoom"] == callers_path
    assert all(full_width(s) for s in before.values()), before
    # each graph its own zoom: callers upward, callees downward as before
    assert (before[CALLERS]["layout"], before[CALLEES]["layout"]) == ("flame", "icicle")
    view_shot(page, "62-sandwich-zoomed")

    page.reload()
    wait_zoom(page, CALLEES, ["burn_a"])
    wait_zoom(page, CALLERS, callers_path)
    assert {g: shown(page, g) for g in (CALLERS, CALLEES)} == before

    # another function's sandwich starts unzoomed, and is a step Back undoes
    page.locator("#sw-fn").fill("burn_b")
    page.locator("#view-sandwich .sandwich-pick button[type=submit]").click()
    page.locator("#view-sandwich h2", has_text="Callers of burn_b").wait_for()
    assert params(page)["fn"] == "burn_b"
    assert "callersZoom" not in params(page) and "calleesZoom" not in params(page)
    wait_zoom(page, CALLERS, [])
    wait_zoom(page, CALLEES, [])
    page.go_back()
    page.locator("#view-sandwich h2", has_text="Callers of work").wait_for()
    wait_zoom(page, CALLEES, ["burn_a"])
    wait_zoom(page, CALLERS, callers_path)
    assert {g: shown(page, g) for g in (CALLERS, CALLEES)} == before
    page.go_forward()
    page.locator("#view-sandwich h2", has_text="Callers of burn_b").wait_for()
    wait_zoom(page, CALLERS, [])
    wait_zoom(page, CALLEES, [])
