"""Why it waited, in the thread tracks (issue 13): hovering an off-CPU interval
names its system call, target and waker (with the waker's stack), and an
arrow runs from the waker's track to the woken thread.

Data: the shared fixture's real recording of tests/workloads/threads.c, whose
"waiter" blocks on a mutex that "holder" keeps for 20 ms: each long lock wait
is woken by holder's unlock.
"""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import longest_interval, shoot
from tests.webui.test_ui import demo, open_page

pytestmark = pytest.mark.browser

WAKE_ARROW = (0x7B, 0x2C, 0xBF)


def _canvas_pixel(page, lane: str, x: float, y: float) -> tuple[int, int, int]:
    return tuple(page.evaluate(f"""([x, y]) => {{
        const c = {lane}.canvas;
        const r = c.getBoundingClientRect();
        const d = c.width / r.width;
        const p = c.getContext('2d').getImageData(Math.round((x - r.left) * d),
                                                  Math.round((y - r.top) * d), 1, 1).data;
        return [p[0], p[1], p[2]];
    }}""", [x, y]))


def test_hovering_a_lock_wait_names_the_waker_and_draws_the_arrow(page, server, profiled):
    if profiled.mode.startswith("synthetic"):
        pytest.skip("needs a real recording (eBPF): synthetic samples carry no waker")
    holder_tid, waiter_tid = profiled.threads["holder"], profiled.threads["waiter"]
    open_page(page, server, query=demo("wall"), tab="threads", tid=f"{holder_tid},{waiter_tid}")
    lane = "window.flamecam.views.threads.lane"
    # window.flamecam exists once the page's modules ran; until then, wait.
    page.wait_for_function(f"() => window.flamecam && {lane} && {lane}.tracks.length === 2")
    names = page.evaluate(f"() => {lane}.tracks.map((t) => t.thread.thread_name)")
    assert names == ["holder", "waiter"]
    # Zoom to a few waits so one is wide enough to hover and its arrow stands alone.
    lock = longest_interval(page, lane, waiter_tid, "lock")
    assert lock is not None and lock["ms"] >= 5, lock
    page.evaluate(f"""() => {{
        const tr = {lane};
        const t = tr.tracks[1];
        const row = t.rows[1];
        let best = -1;
        for (let k = 0; k < row.n; k++) {{
            if (t.src.reasons[row.code[k]] !== "lock") continue;
            if (best < 0 || row.end[k] - row.start[k] > row.end[best] - row.start[best]) best = k;
        }}
        tr.setWindow(row.start[best] - 30, row.end[best] + 30);
    }}""")
    lock = longest_interval(page, lane, waiter_tid, "lock")
    page.mouse.move(lock["x"], lock["y"])
    tip = page.locator(".tracks-tip:not([hidden])")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "off-CPU (lock)" in text
    assert re.search(r"blocked in futex\(\) on futex 0x[0-9a-f]+", text), text
    assert f"woken by holder (tid {holder_tid}" in text, text
    assert "waker's stack at the wakeup" in text and "futex_wake" in text, text
    # The arrow: from holder's track down to the waiter at the wakeup (the
    # blocked interval's end), in its own colour, between the two tracks.
    end = page.evaluate(f"""() => {{
        const tr = {lane};
        const h = tr.hovered;
        const g = tr.geometry();
        const r = tr.canvas.getBoundingClientRect();
        const row = tr.tracks[h.track].rows[1];
        return {{ x: r.left + (r.width - g.plotW) + (row.end[h.k] - tr.lo) * g.k,
                  y0: r.top + tr.trackY(0) + tr.rowY(0), y1: r.top + tr.trackY(1) + tr.rowY(1) }};
    }}""")
    xs = [round(end["x"]) + d for d in (-1, 0, 1)]
    ys = [end["y0"] + (end["y1"] - end["y0"]) * f for f in (0.4, 0.6)]
    for y in ys:
        assert any(_canvas_pixel(page, lane, x, y) == WAKE_ARROW for x in xs), (y, end)
    shoot(page, "13-waits-tracks")
    # Leaving the canvas takes the arrow away.
    page.mouse.move(5, 5)
    page.wait_for_function(f"() => {lane}.hovered === null")
    for y in ys:
        assert all(_canvas_pixel(page, lane, x, y) != WAKE_ARROW for x in xs)
