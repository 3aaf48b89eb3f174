"""The web UI for people (issue 16, items 3-7) in headless Chromium against the
real server the agent filled: the threads table, the frame menu, exports, the
readable diff and the label breakdown. Each test reads what a user sees."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest

from tests.webui import exports as ex
from tests.webui.conftest import SERVICE, XSS_NAME, XSS_SERVICE, shoot
from tests.webui.test_ui import PROFILE, demo, open_page, pixel, wait_frame

pytestmark = pytest.mark.browser

LOCK_COLOR = "rgb(139, 30, 63)"  # colors.js REASON_PALETTE.lock


def first_thread(page) -> str:
    return page.locator(".threads-table tbody tr").first.locator("td.name button").inner_text()


def test_threads_table_sorts_filters_and_splits_off_cpu_by_reason(page, server, profiled):
    open_page(page, server, query=demo("wall"), tab="threads")
    table = page.locator(".threads-table")
    table.wait_for()
    # On-CPU first: the CPU hog leads, not the thread that waited longest.
    assert first_thread(page).startswith("burner"), first_thread(page)
    heads = table.locator("thead th").all_inner_texts()
    assert any(h.strip().startswith("On-CPU") for h in heads)
    assert "lock" in [h.strip() for h in heads] and "sleep" in [h.strip() for h in heads], heads
    # the lock column sorted: the waiter, blocked on the holder's mutex, leads
    table.locator("thead th[data-key='r:lock'] button").click()
    page.wait_for_function("() => document.querySelector('.threads-table tbody tr td.name button')"
                           ".textContent.startsWith('waiter')")
    waiter = page.locator(".threads-table tbody tr").first
    assert waiter.locator("td[data-reason='lock']").inner_text().strip() != ""
    # its bar holds a segment in the lock colour, and the legend names it
    colours = waiter.locator(".thread-bar .bar").evaluate_all(
        "(bars) => bars.map((b) => getComputedStyle(b).backgroundColor)")
    assert LOCK_COLOR in colours, colours
    legend = page.locator("#view-threads .thread-legend").inner_text()
    assert "on-CPU" in legend and "off-CPU: lock" in legend and "off-CPU: sleep" in legend
    # by name, ascending; then the PID column
    table.locator("thead th[data-key='name'] button").click()
    names = page.locator(".threads-table tbody td.name button").all_inner_texts()
    names = [re.sub(r" \(\d+\)$", "", n).lower() for n in names]
    assert names == sorted(names)
    assert table.locator("thead th[data-key='name']").get_attribute("aria-sort") == "ascending"
    # by PID: the two releases' processes, ascending, then descending
    pids = {w.pid for w in profiled.workloads}
    for direction in ("ascending", "descending"):
        table.locator("thead th[data-key='pid'] button").click()
        page.wait_for_function(
            "(d) => document.querySelector(\".threads-table thead th[data-key='pid']\")"
            ".getAttribute('aria-sort') === d", arg=direction)
        shown = pid_column(page)
        assert set(shown) == pids, (shown, pids)
        assert shown == sorted(shown, reverse=direction == "descending"), shown
    # the filter keeps the threads that match
    page.locator(".thread-filter").fill("sleep")
    rows = page.locator(".threads-table tbody td.name button").all_inner_texts()
    assert rows and all("sleeper" in r for r in rows), rows
    assert re.match(r"\d+ of \d+ threads", page.locator(".thread-count").inner_text())
    page.locator(".thread-filter").fill("")
    # the kernel's name of each tid is shown beside the runtime's
    assert "kernel" in page.locator(".threads-table tbody td.name .hint").first.inner_text()
    shoot(page, "20-threads-sorted-by-lock")


def pid_column(page) -> list[int]:
    """The PID cell of every row of the threads table, top to bottom."""
    return page.evaluate("""() => {
        const heads = [...document.querySelectorAll('.threads-table thead th')];
        const k = heads.findIndex((h) => h.dataset.key === 'pid');
        return [...document.querySelectorAll('.threads-table tbody tr')]
            .map((r) => Number(r.children[k].textContent));
    }""")


def params(page) -> dict[str, str]:
    query = urllib.parse.urlparse(page.url).query
    return {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}


def right_click(page, rect) -> None:
    page.mouse.click(rect["x"] + min(6, rect["w"] / 2), rect["y"] + rect["h"] / 2, button="right")
    page.locator(".frame-ctx:not([hidden])").wait_for()


def menu_item(page, text: str):
    return page.locator(".frame-ctx:not([hidden]) [role=menuitem]", has_text=text).first


def only_thread(page, graph: str, frame: str, thread: str) -> int:
    """The frame menu's "show only" on `frame` of `graph`, then the thread named
    `thread` among those the server lists; its tid (now in the URL)."""
    right_click(page, wait_frame(page, graph, frame))
    menu_item(page, "Show only a thread").click()
    only = menu_item(page, f"Only thread {thread}")
    only.wait_for()
    only.click()
    page.wait_for_function("() => /only=tid%3A\\d+/.test(location.search)")
    return int(params(page)["only"].split(":")[1])


def test_frame_menu_focus_hide_only_copy_and_zoom_in_the_url(page, server, profiled):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, server, query=demo("cpu"))
    rect = wait_frame(page, PROFILE, "burn_b")
    right_click(page, rect)
    menu = page.locator(".frame-ctx")
    assert menu.locator(".frame-menu-title").inner_text() == "burn_b"
    shoot(page, "21-frame-menu")
    # copy name
    menu_item(page, "Copy name").click()
    page.wait_for_function("() => document.querySelector('#view-profile .frame-status')"
                           ".textContent.startsWith('Copied: burn_b')")
    assert page.evaluate("() => navigator.clipboard.readText()") == "burn_b"
    # hide `work`: burn_a and burn_b hang from burner directly; the chip undoes it
    right_click(page, wait_frame(page, PROFILE, "work"))
    menu_item(page, "Hide this function").click()
    page.wait_for_function(f"() => window.flamecam.{PROFILE}.frameRect('work') === null")
    assert json.loads(params(page)["hide"]) == ["work"]
    assert wait_frame(page, PROFILE, "burn_a") is not None
    chip = page.locator(".filter-chip", has_text="Hidden: work")
    chip.get_by_role("button").click()
    wait_frame(page, PROFILE, "work")
    assert "hide" not in params(page)
    # focus on burn_b: only stacks through it, and the chip gives its share
    right_click(page, wait_frame(page, PROFILE, "burn_b"))
    menu_item(page, "Focus on this function").click()
    page.wait_for_function(f"() => window.flamecam.{PROFILE}.frameRect('burn_a') === null")
    assert params(page)["focus"] == "burn_b"
    share = page.locator(".filter-chip", has_text="Focus: burn_b").inner_text()
    assert re.search(r"\((\d+\.\d)% of the selection\)", share), share
    shoot(page, "22-frame-focus")
    page.locator(".filter-chip", has_text="Focus").get_by_role("button").click()
    wait_frame(page, PROFILE, "burn_a")
    # zoom is in the URL: a reload opens the same zoom
    rect = wait_frame(page, PROFILE, "burn_b")
    page.mouse.click(rect["x"] + 4, rect["y"] + rect["h"] / 2)
    page.wait_for_function("() => location.search.includes('zoom=')")
    assert json.loads(params(page)["zoom"])[-1] == "burn_b"
    page.reload()
    wait_frame(page, PROFILE, "burn_b")
    assert page.evaluate(f"() => window.flamecam.{PROFILE}.zoomPath()")[-1] == "burn_b"
    # the keyboard opens the menu on the cursor; Escape gives the focus back
    page.locator("#view-profile .flame canvas").focus()
    page.keyboard.press("m")
    page.locator(".frame-ctx:not([hidden])").wait_for()
    assert menu.locator(".frame-menu-title").inner_text() == "burn_b"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    assert menu.is_hidden()
    assert page.evaluate("() => document.activeElement.tagName") == "CANVAS"
    # only one thread: the holder's frames leave the graph
    page.keyboard.press("Escape")
    only_thread(page, PROFILE, "burn_b", "burner")
    wait_frame(page, PROFILE, "burn_b")
    page.wait_for_function(f"() => window.flamecam.{PROFILE}.frameRect('holder') === null")
    assert page.locator(".filter-chip", has_text="Only thread").is_visible()
    # open in sandwich
    right_click(page, wait_frame(page, PROFILE, "burn_b"))
    menu_item(page, "Open in sandwich").click()
    page.wait_for_function("() => location.search.includes('tab=sandwich')")
    assert params(page)["fn"] == "burn_b"


def test_frame_menu_shows_only_one_process(page, server, profiled):
    """"Only process" offers the processes that ran the frame (the two releases)
    and scopes the view to the chosen one: only=pid:N in the URL, the graph's
    and the timeline's totals the server's answers for that pid."""
    pids = {w.pid for w in profiled.workloads}
    span = {"from": "now-30m", "until": "now"}
    open_page(page, server, query=demo("cpu"))
    right_click(page, wait_frame(page, PROFILE, "burn_b"))
    menu_item(page, "Show only a thread").click()
    offered = page.locator(".frame-ctx:not([hidden]) [role=menuitem]", has_text="Only process")
    offered.first.wait_for()
    texts = offered.all_inner_texts()
    assert {int(re.match(r"Only process (\d+):", t).group(1)) for t in texts} == pids, texts
    pid = int(re.match(r"Only process (\d+):", texts[0]).group(1))
    offered.first.click()
    page.wait_for_function("() => /only=pid%3A\\d+/.test(location.search)")
    assert params(page)["only"] == f"pid:{pid}"
    # the chip comes with the view's redraw, after the address has changed
    page.locator(".filter-chip", has_text=f"Only process {pid}").wait_for(state="visible")
    render = server.api("/api/v1/render", query=demo("cpu"), pid=str(pid), **span)
    whole = server.api("/api/v1/render", query=demo("cpu"), **span)
    ticks = render["flamebearer"]["numTicks"]
    assert 0 < ticks < whole["flamebearer"]["numTicks"]
    page.wait_for_function(f"(n) => window.flamecam.{PROFILE}.tree.numTicks === n", arg=ticks)
    timeline = server.api("/api/v1/timeline", query=demo("cpu"), pid=str(pid), **span)
    page.wait_for_function(
        "(w) => window.flamecam.timeline.timeline.points.reduce((a, p) => a + p[1], 0) === w",
        arg=sum(v for _, v in timeline["points"]))
    shoot(page, "27-only-process")
    # the chip gives every process back
    page.locator(".filter-chip", has_text="Only process").get_by_role("button").click()
    page.wait_for_function("() => !location.search.includes('only=')")
    page.wait_for_function(f"(n) => window.flamecam.{PROFILE}.tree.numTicks === n",
                           arg=whole["flamebearer"]["numTicks"])


def test_frame_menu_keeps_hostile_names_as_text(page, server, profiled):
    open_page(page, server, query=f'cpu{{service_name="{XSS_SERVICE}"}}')
    right_click(page, wait_frame(page, PROFILE, XSS_NAME))
    assert page.locator(".frame-ctx .frame-menu-title").inner_text() == XSS_NAME
    assert page.locator(".frame-ctx img").count() == 0
    menu_item(page, "Hide this function").click()
    chip = page.locator(".filter-chip", has_text="Hidden:")
    chip.wait_for()
    assert XSS_NAME in chip.inner_text() and page.locator(".filter-chip img").count() == 0


def export(page, text: str):
    page.locator("#view-profile .export-btn").click()
    with page.expect_download() as info:
        page.locator(".export-menu [role=menuitem]", has_text=text).click()
    d = info.value
    return d.suggested_filename, Path(d.path()).read_bytes()


def test_export_files_images_and_link(page, server, profiled):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, server, query=demo("cpu"))
    wait_frame(page, PROFILE, "burn_b")
    total = ex.total_of(page, PROFILE)
    name, body = export(page, "pprof")
    assert name.endswith(".pb.gz") and body[:2] == b"\x1f\x8b"
    # the pprof decodes to the selection's samples: the total the graph shows
    got = ex.samples(body)
    assert sum(s.value_ns for s in got) == total
    assert {"1.0", "2.0"} == {s.labels.get("service_version") for s in got}
    name, body = export(page, "Folded")
    assert re.search(rb"burner;work;burn_b \d+", body), body[:300]
    assert sum(ex.folded(body).values()) == total
    name, body = export(page, "speedscope")
    doc = json.loads(body)
    assert "speedscope" in doc["$schema"]
    assert "burn_b" in {f["name"] for f in doc["shared"]["frames"]}
    name, body = export(page, "Flame graph JSON")
    fb = json.loads(body)["flamebearer"]
    assert "burn_b" in fb["names"] and fb["numTicks"] > 0
    name, body = export(page, "PNG")
    assert name == "flamecam.png" and body[:8] == b"\x89PNG\r\n\x1a\n"
    # the canvas as drawn, pixel for pixel: its size, burn_b where it is painted
    ex.check_png(page, body, [PROFILE], "burn_b")
    # the SVG is the view as shown: zoomed to burner, burn_b is drawn, holder is not
    rect = wait_frame(page, PROFILE, "burner")
    page.mouse.click(rect["x"] + 4, rect["y"] + rect["h"] / 2)
    name, body = export(page, "SVG")
    svg = body.decode()
    assert svg.startswith("<?xml") and "<svg" in svg
    assert ">burn_b<" in svg and "holder" not in svg
    assert "burn_b" in ex.svg_texts(body) and not ex.svg_has_frame(body, "holder")
    page.locator("#view-profile .export-btn").click()
    page.locator(".export-menu [role=menuitem]", has_text="Copy link").click()
    page.locator(".export-status", has_text="Link copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == page.url
    shoot(page, "23-export-menu")
    items = ex.menu_shot(page, "profile", "profile-export-menu")
    assert items == ex.ITEMS, items
    # focus on burn_b (the frame menu's, in the URL): the files hold what the graph shows
    open_page(page, server, query=demo("cpu"), focus="burn_b")
    wait_frame(page, PROFILE, "burn_b")
    page.wait_for_function(f"() => window.flamecam.{PROFILE}.frameRect('burn_a') === null")
    got = ex.pprof_of_view(page, "profile", PROFILE)
    assert ex.total_of(page, PROFILE) < total
    assert all("burn_b" in s.folded_stack() for s in got)


def test_svg_export_keeps_hostile_names_as_text(page, server, profiled):
    open_page(page, server, query=f'cpu{{service_name="{XSS_SERVICE}"}}')
    wait_frame(page, PROFILE, XSS_NAME)
    _, body = export(page, "SVG")
    svg = body.decode()
    assert "<img" not in svg and "&lt;img src=x onerror=alert(1)&gt;" in svg
    assert XSS_NAME in ex.svg_texts(body)


def test_diff_scale_sides_improvements_and_real_changes(page, server, profiled):
    # a link to the comparison opens it
    version = 'cpu{{service_name="{}",service_version="{}"}}'.format
    open_page(page, server, query=demo("cpu"), tab="diff", leftQuery=version(SERVICE, "1.0"),
              rightQuery=version(SERVICE, "2.0"))
    grew = page.locator(".diff-table.regressions tbody tr").first
    grew.wait_for()
    # 2.0 spends 12 units in burn_b for 7 in burn_a, 1.0 three: a real regression
    assert grew.locator("td").first.inner_text() == "burn_b"
    assert grew.locator("td.verdict").inner_text() == "real"
    assert float(grew.locator("td.z").inner_text()) >= 3.29
    # and burn_a's share fell: listed as an improvement, also real
    better = page.locator(".diff-table.improvements tbody tr", has_text="burn_a").first
    assert better.locator("td.verdict").inner_text() == "real"
    assert better.locator("td").nth(4).inner_text().startswith("-")
    assert "z = (sB − sA) / √(Var A + Var B)" in page.locator(".diff-method").text_content()
    # a numeric scale: −100% … +100%, then in points of the total
    scale = page.locator("#view-diff .diff-scale").first
    assert "−100%" in scale.inner_text() and "+100%" in scale.inner_text()
    page.get_by_label("absolute change (points of the total)").check()
    page.wait_for_function("() => location.search.includes('diffColor=absolute')")
    assert " pp" in page.locator("#view-diff .diff-scale").first.inner_text()
    rect = wait_frame(page, "views.diff.panel.graph", "burn_b")
    r, g, b = pixel(page, "views.diff.panel.graph", rect["x"] + 1, rect["y"] + 2)
    assert r > g + 40 and r > b + 40, (r, g, b)
    shoot(page, "24-diff-absolute")
    # side by side: A's burn_b is narrower than B's, both coloured by the change
    page.get_by_label("side by side").check()
    a = wait_frame(page, "views.diff.sideA.graph", "burn_b")
    b_ = wait_frame(page, "views.diff.sideB.graph", "burn_b")
    assert a["w"] < b_["w"], (a, b_)
    r, g, b = pixel(page, "views.diff.sideB.graph", b_["x"] + 1, b_["y"] + 2)
    assert r > g + 40, (r, g, b)
    assert page.locator("#view-diff .diff-sides canvas").count() == 2
    shoot(page, "25-diff-side-by-side")


def test_group_by_a_label_totals_series_and_filter(page, server, profiled):
    open_page(page, server, query=demo("cpu"), tab="labels", groupBy="service_version")
    table = page.locator(".labels-table")
    table.wait_for()
    rows = table.locator("tbody tr")
    values = rows.locator("td.name").all_inner_texts()
    assert sorted(values) == ["1.0", "2.0"]
    shares = [float(t.rstrip("%")) for t in rows.locator("td:nth-child(3)").all_inner_texts()]
    assert sum(shares) == pytest.approx(100, abs=0.3)
    assert table.locator("tbody svg.sparkline polyline").count() == 2
    assert page.locator("#group-by").input_value() == "service_version"
    shoot(page, "26-group-by-version")
    table.get_by_role("button", name="2.0").click()
    page.wait_for_function("() => location.search.includes('tab=profile')")
    assert 'service_version="2.0"' in params(page)["query"]
    wait_frame(page, PROFILE, "burn_b")
