"""Issue 16 in headless Chromium at 1280x800: refresh and auto-refresh, the
graph's root on screen, table beside graph, the page's timeline, error states
and the keyboard cursor; each asserts what a user sees on the real server."""

from __future__ import annotations

import math
import re
import time
import urllib.parse

import pytest

from tests.webui.conftest import ARTIFACTS, SERVICE, http_post
from tests.webui.test_ui import PROFILE, demo, frame_rect, open_page, pixel, wait_frame

pytestmark = pytest.mark.browser

RING = (0x0B, 0x3D, 0x91)


def view_shot(page, name: str) -> None:
    """What the window shows (1280x800), not the whole page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def push_folded(server, service: str, text: str) -> None:
    """Folded stacks stamped now, for `service` (the ingest endpoint's own time)."""
    query = urllib.parse.urlencode({"name": f"{service}.cpu{{env=test}}", "format": "folded"})
    assert http_post(f"{server.url}/ingest?{query}", text.encode(), "text/plain") == 200


def rows_on_screen(page, graph: str, levels: int) -> list[bool]:
    """Whether rows 0..levels-1 (root first) are inside the graph's box and the window."""
    return page.evaluate(f"""(levels) => {{
        const g = window.flamecam.{graph};
        const c = g.canvas.getBoundingClientRect();
        const box = g.scroller.getBoundingClientRect();
        const out = [];
        for (let l = 0; l < Math.min(levels, g.tree.levels.length); l++) {{
            const top = c.top + g.rowY(l), bottom = top + 17;
            out.push(top >= box.top - 1 && bottom <= box.bottom + 1 && top >= 0
                     && bottom <= window.innerHeight);
        }}
        return out;
    }}""", levels)


def test_apply_and_refresh_reload_a_relative_range(page, server, profiled):
    """Issue 16.1: a service with no data yet, then data: Apply shows it (graph and
    timeline), so do the refresh button and auto-refresh, with no new query."""
    service = f"webui-fresh-{int(time.time())}"
    open_page(page, server, query=f'cpu{{service_name="{service}"}}', **{"from": "now-5m"})
    page.locator("#view-profile .empty", has_text="No data yet").wait_for()
    page.locator(".timeline-readout", has_text="no samples").wait_for()
    push_folded(server, service, "main;first_batch 300\n")
    page.locator("#q-label-service_name").wait_for(state="attached")
    page.get_by_role("button", name="Apply").click()
    wait_frame(page, PROFILE, "first_batch")
    page.locator(".timeline-readout", has_text="in total").wait_for()
    assert page.locator("#view-profile .empty").count() == 0

    push_folded(server, service, "main;second_batch 300\n")
    page.get_by_role("button", name=re.compile("Refresh")).click()
    wait_frame(page, PROFILE, "second_batch")

    page.locator("#refresh-every").select_option("10s")
    page.wait_for_url(re.compile(r"refresh=10s"))
    push_folded(server, service, "main;third_batch 300\n")
    # no click: the timer reloads the graph within its 10 s
    wait_frame(page, PROFILE, "third_batch", timeout=30000)
    assert frame_rect(page, PROFILE, "first_batch") is not None
    page.reload()
    assert page.locator("#refresh-every").input_value() == "10s"
    page.locator("#refresh-every").select_option("")
    page.wait_for_function("() => !location.search.includes('refresh=')")


def test_root_and_first_levels_on_screen_in_flame_and_icicle(page, server, profiled):
    """Issue 16.2 and 10: at 1280x800 the root is in view with the levels above
    it; table beside the graph; a resize keeps the root in view."""
    open_page(page, server, query=demo("wall"))
    wait_frame(page, PROFILE, "burn_a")
    assert all(rows_on_screen(page, PROFILE, 4))
    table = page.locator(".table-pane").bounding_box()
    graph = page.locator(".flame-pane").bounding_box()
    assert table["x"] + table["width"] <= graph["x"] and abs(table["y"] - graph["y"]) < 2
    assert page.locator(".top-table tbody tr").first.is_visible()
    assert page.get_by_role("button", name="Both").get_attribute("aria-pressed") == "true"
    view_shot(page, "30-layout-both-flame")

    page.get_by_role("button", name="Icicle").first.click()
    assert all(rows_on_screen(page, PROFILE, 6))
    view_shot(page, "31-layout-both-icicle")

    page.get_by_role("button", name="Graph", exact=True).click()
    page.wait_for_url(re.compile("panes=flame"))
    assert not page.locator(".table-pane").is_visible()
    page.get_by_role("button", name="Flame graph", exact=True).first.click()
    assert all(rows_on_screen(page, PROFILE, 4))
    view_shot(page, "32-layout-flame-only")

    # a smaller, then a larger window: the root stays in view
    for height in (680, 800):
        page.set_viewport_size({"width": 1280, "height": height})
        page.wait_for_function(f"() => window.innerHeight === {height}")
        page.wait_for_function(
            f"""() => {{ const g = window.flamecam.{PROFILE};
                const b = g.scroller.getBoundingClientRect();
                return b.bottom <= window.innerHeight; }}""")
        assert all(rows_on_screen(page, PROFILE, 3)), height

    page.get_by_role("button", name="Table", exact=True).click()
    page.wait_for_url(re.compile("panes=table"))
    assert not page.locator(".flame-pane").is_visible()
    assert page.locator(".top-table tbody tr").first.is_visible()


def test_timeline_axis_tooltip_and_every_tab(page, server, profiled):
    """Issue 16.8: a y-axis in the profile's unit, a tooltip on the bars, and the
    same timeline on Sandwich, Threads and Diff (not on Traces)."""
    open_page(page, server, query=demo("cpu"))
    wait_frame(page, PROFILE, "burn_a")
    page.locator(".timeline-readout", has_text="in total").wait_for()
    tl = "window.flamecam.timeline.timeline"
    # the busiest bar: hover its middle
    spot = page.evaluate(f"""() => {{
        const t = {tl};
        const best = t.points.reduce((a, p) => (p[1] > a[1] ? p : a));
        const r = t.canvas.getBoundingClientRect();
        const x = r.left + 64 + t.xOf(best[0] + t.stepMs / 2, t.plotWidth());
        return {{ x, y: r.top + 60, value: best[1] }};
    }}""")
    page.mouse.move(spot["x"], spot["y"])
    tip = page.locator(".timeline-tip:not([hidden])")
    tip.wait_for(state="visible")
    assert re.search(r"\d+(\.\d+)? (ms|s|min)\b", tip.inner_text()), tip.inner_text()
    # y-axis labels: text drawn left of the plot, in the unit (ink pixels there)
    ink = page.evaluate(f"""() => {{
        const c = {tl}.canvas;
        const d = c.getContext('2d').getImageData(0, 0, Math.round(60 * c.width / c.clientWidth),
                                                  c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++;
        return n;
    }}""")
    assert ink > 50
    # and they read 0, half and the top of the axis in the profile's unit: the
    # top is the busiest bar rounded up to 1, 2 or 5 times a power of ten
    axis = page.evaluate(f"() => {tl}.yLabels")
    assert axis[0] == "0", axis
    top = nice_ceil(spot["value"])
    assert parse_duration(axis[2]) == pytest.approx(top, rel=0.01), (axis, spot["value"])
    assert parse_duration(axis[1]) == pytest.approx(top / 2, rel=0.01), axis
    assert axis[2] in page.locator(".timeline-panel canvas").get_attribute("aria-label")
    view_shot(page, "33-timeline-tooltip")
    points = page.evaluate(f"() => {tl}.points.length")
    for tab in ("sandwich", "threads", "diff"):
        page.locator(f"#tab-{tab}").click()
        page.wait_for_url(re.compile(f"tab={tab}"))
        assert page.locator(".timeline-panel canvas").is_visible(), tab
        assert page.evaluate(f"() => {tl}.points.length") == points
    page.locator("#tab-traces").click()
    page.wait_for_url(re.compile("tab=traces"))
    assert not page.locator(".timeline-panel").is_visible()


DURATION_UNITS = {"ns": 1, "µs": 1e3, "ms": 1e6, "s": 1e9, "min": 60e9, "h": 3600e9}


def parse_duration(text: str) -> float:
    """A duration as format.js fmtDuration writes it ("500.0 ms", "1.00 s"), in ns."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?) (ns|µs|ms|s|min|h)", text)
    assert m, f"not a duration with its unit: {text!r}"
    return float(m.group(1)) * DURATION_UNITS[m.group(2)]


def nice_ceil(v: float) -> float:
    """timeline.js niceCeil: 1, 2 or 5 times a power of ten at or above v."""
    p = 10 ** math.floor(math.log10(v))
    return next(m * p for m in (1, 2, 5, 10) if m * p >= v)


def test_unreadable_query_or_range_says_so_once(page, server, profiled):
    """Issue 16.9: one clear message; no empty axis, no NaN; the selectors stay."""
    open_page(page, server, query=demo("cpu"))
    wait_frame(page, PROFILE, "burn_a")
    page.locator("#q-label-service_version option", has_text="2.0").wait_for(state="attached")
    selectors = page.locator("#query-bar select").evaluate_all("(s) => s.map((x) => x.id)")

    open_page(page, server, query=f'cpu{{service_name="{SERVICE}"')
    banner = page.locator("#banner.error")
    banner.wait_for()
    assert "The query is not valid" in banner.inner_text()
    assert 'cpu{service_name="api"}' in banner.inner_text()
    assert not page.locator(".timeline-panel").is_visible()
    assert not page.locator("#view-profile").is_visible()
    assert "00:00:00" not in page.locator("body").inner_text()
    view_shot(page, "34-error-query")

    open_page(page, server, query=demo("cpu"), **{"from": "yesterday"})
    banner.wait_for()
    assert "The time range is not valid" in banner.inner_text()
    page.locator("#q-label-service_version option", has_text="2.0").wait_for(state="attached")
    assert page.locator("#query-bar select").evaluate_all("(s) => s.map((x) => x.id)") == selectors
    assert page.locator("#q-from").input_value() == "yesterday"
    body = page.locator("body").inner_text()
    assert "NaN" not in body and "00:00:00" not in body
    assert not page.locator(".timeline-panel").is_visible()
    assert page.locator(".error-box").count() == 0 and banner.count() == 1
    view_shot(page, "35-error-from")

    # fixing it in the bar shows the graph again, and the message goes
    page.locator("#q-from").fill("now-30m")
    page.locator("#q-from").press("Enter")
    wait_frame(page, PROFILE, "burn_a")
    assert not page.locator("#banner").is_visible()


def test_keyboard_cursor_has_a_ring_and_its_status_is_on_screen(page, server, profiled):
    """Issue 16.10: tabbing to the graph rings a frame; the status line names it in view."""
    open_page(page, server, query=demo("cpu"))
    wait_frame(page, PROFILE, "burn_a")
    page.locator("#view-profile input[type=search]").first.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-roledescription')") \
        == "flame graph"
    status = page.locator("#view-profile .frame-status")
    assert status.inner_text().startswith("total")
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    cursor = page.evaluate(f"""() => {{
        const g = window.flamecam.{PROFILE};
        const lv = g.tree.levels[g.cursor.l];
        const k = g.scroller.clientWidth / (g.zoom.x1 - g.zoom.x0);
        const r = g.canvas.getBoundingClientRect();
        return {{ l: g.cursor.l, name: g.tree.names[lv.name[g.cursor.i]],
                 x: r.left + Math.max(0, (lv.x[g.cursor.i] - g.zoom.x0) * k),
                 y: r.top + g.rowY(g.cursor.l) }};
    }}""")
    assert cursor["l"] == 3
    assert status.inner_text().startswith(cursor["name"])
    assert pixel(page, PROFILE, cursor["x"] + 1.5, cursor["y"] + 8) == RING
    box = status.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 800
    view_shot(page, "36-keyboard-cursor")
