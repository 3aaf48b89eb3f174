"""The web UI for people (issue 16, items 3-7) in headless Chromium against the
real server the agent filled: the threads table, the frame menu, exports, the
readable diff and the label breakdown. Each test reads what a user sees."""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import shoot
from tests.webui.test_ui import PROFILE, demo, open_page, wait_frame

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
    names = [n.lower() for n in page.locator(".threads-table tbody td.name button").all_inner_texts()]
    assert names == sorted(names)
    assert table.locator("thead th[data-key='name']").get_attribute("aria-sort") == "ascending"
    # the filter keeps the threads that match
    page.locator(".thread-filter").fill("sleep")
    rows = page.locator(".threads-table tbody td.name button").all_inner_texts()
    assert rows and all("sleeper" in r for r in rows), rows
    assert re.match(r"\d+ of \d+ threads", page.locator(".thread-count").inner_text())
    page.locator(".thread-filter").fill("")
    # the kernel's name of each tid is shown beside the runtime's
    assert "kernel" in page.locator(".threads-table tbody td.name .hint").first.inner_text()
    shoot(page, "20-threads-sorted-by-lock")
