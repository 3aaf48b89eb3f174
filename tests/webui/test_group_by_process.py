"""Group by process or thread (issue 16 item 7), in headless Chromium against the
real server the agent filled: the two releases of the workload are two
processes; each row's total and series are the server's answers for that pid
(or thread), and choosing one shows only it (only=pid:N in the URL, as the
frame menu's "show only")."""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import shoot
from tests.webui.test_ui import PROFILE, demo, open_page, wait_frame
from tests.webui.test_ui_people import params

pytestmark = pytest.mark.browser

SPAN = {"from": "now-30m", "until": "now"}


def rows(page) -> list[dict]:
    return page.locator(".labels-table tbody tr").evaluate_all("""(rs) => rs.map((r) => ({
        text: r.querySelector('td.name').textContent, pid: Number(r.dataset.pid),
        tid: r.dataset.tid === undefined ? null : Number(r.dataset.tid),
        share: parseFloat(r.children[2].textContent),
        line: r.querySelector('svg.sparkline polyline') !== null }))""")


def test_group_by_process_totals_series_and_show_only(page, server, profiled):
    pids = {w.pid for w in profiled.workloads}
    threads = server.api("/api/v1/threads", query=demo("cpu"), **SPAN)["threads"]
    cpu = {pid: sum(t["cpu_ns"] for t in threads if t["pid"] == pid) for pid in pids}
    open_page(page, server, query=demo("cpu"), tab="labels", groupBy="process")
    page.locator(".labels-table").wait_for()
    assert page.locator("#group-by").input_value() == "process"
    got = rows(page)
    assert {r["pid"] for r in got} == pids, got
    for r in got:
        assert re.fullmatch(rf"workload \(pid {r['pid']}\)", r["text"]), r
        assert r["line"], r
    assert sum(r["share"] for r in got) == pytest.approx(100, abs=0.2)
    # each process's total and series: the server's per-thread totals summed by pid
    answer = server.api("/api/v1/groups", query=demo("cpu"), by="process", **SPAN)
    assert answer["total"] == sum(cpu.values())
    for g in answer["groups"]:
        assert g["value"] == cpu[g["pid"]] > 0
        assert sum(v for _, v in g["points"]) == g["value"]
    shoot(page, "28-group-by-process")
    # choosing one shows only it, as the frame menu's "only process" does
    pid = got[0]["pid"]
    page.locator(".labels-table tbody tr", has_text=f"(pid {pid})").get_by_role("button").click()
    page.wait_for_function("() => location.search.includes('tab=profile')")
    assert params(page)["only"] == f"pid:{pid}"
    wait_frame(page, PROFILE, "burn_b")
    assert page.locator("#view-profile .filter-chip", has_text=f"Only process {pid}").is_visible()
    ticks = server.api("/api/v1/render", query=demo("cpu"), pid=str(pid), **SPAN)
    page.wait_for_function(f"(n) => window.flamecam.{PROFILE}.tree.numTicks === n",
                           arg=ticks["flamebearer"]["numTicks"])
    # back on the breakdown, the chosen process is the selected row
    page.locator("#tab-labels").click()
    page.locator(".labels-table tbody tr.selected").wait_for()
    assert f"(pid {pid})" in page.locator(".labels-table tbody tr.selected").inner_text()


def test_group_by_thread_lists_the_threads_that_ran(page, server, profiled):
    threads = server.api("/api/v1/threads", query=demo("cpu"), **SPAN)["threads"]
    ran = {(t["pid"], t["tid"]) for t in threads if t["cpu_ns"] > 0}
    open_page(page, server, query=demo("cpu"), tab="labels", groupBy="thread")
    page.locator(".labels-table").wait_for()
    got = rows(page)
    assert {(r["pid"], r["tid"]) for r in got} == ran, got
    burner = next(r for r in got if r["text"].startswith("burner"))
    assert f"tid {burner['tid']}, pid {burner['pid']}" in burner["text"]
    shoot(page, "29-group-by-thread")
    page.locator(".labels-table tbody tr", has_text=burner["text"]).get_by_role("button").click()
    page.wait_for_function("() => location.search.includes('tab=profile')")
    assert params(page)["only"] == f"tid:{burner['tid']}"
    wait_frame(page, PROFILE, "burn_b")
