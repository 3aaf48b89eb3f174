"""All threads over time (issue 16's feature table, issue 12's thread tracks):
every thread of the selection as a track, without picking any, in headless
Chromium against the server the agent filled.

Data: the shared fixture's real recording of tests/workloads/threads.c (a
burner on the CPU, a sleeper, a lock waiter and its holder, in two processes)
and of tests/workloads/idlers.c (60 threads asleep, service `webui-many`).
Colours are read from the canvas at the workload's known times.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest

from tests.webui.conftest import MANY_SERVICE, MANY_THREADS, SERVICE, open_app, shoot

pytestmark = pytest.mark.browser

ALL = "window.flamecam.views.threads.all"
SLEEP = (0x2C, 0x5D, 0x8A)
LOCK = (0x8B, 0x1E, 0x3F)
RUNQUEUE = (0x8E, 0x6C, 0x00)
BACKGROUND = (0xF3, 0xF4, 0xF6)


def demo(kind: str = "wall") -> str:
    return f'{kind}{{service_name="{SERVICE}"}}'


def extent(server, query: str, tid: int) -> tuple[float, float]:
    """First and last event of thread `tid` in the last hour, Unix ms."""
    a = server.api("/api/v1/thread-events", query=query, tids=str(tid),
                   **{"from": "now-1h", "until": "now"})
    t_us = a["events"]["t_us"]
    assert t_us, f"no events of tid {tid}"
    return a["t0_ms"] + min(t_us) / 1000, a["t0_ms"] + max(t_us) / 1000


def open_threads(page, server, query: str, lo_ms: float, hi_ms: float) -> None:
    params = {"query": query, "tab": "threads", "from": str(int(lo_ms)),
              "until": str(int(hi_ms))}
    open_app(page, f"{server.url}/?{urllib.parse.urlencode(params)}")
    page.wait_for_function(f"() => {ALL}.density !== null && {ALL}.lines.length > 0")


def strip(page, tid: int, row: int, lo_ms: float, hi_ms: float) -> list[tuple[int, int, int]]:
    """The pixels of thread `tid`'s row (0 on-CPU, 1 off-CPU) at its middle
    height, from `lo_ms` to `hi_ms`, as drawn (the track scrolled into view)."""
    return [tuple(p) for p in page.evaluate(f"""([tid, row, lo, hi]) => {{
        const a = {ALL};
        const ti = a.tracks.findIndex((t) => t.thread.tid === tid);
        a.showLine(a.tracks[ti].line);
        a.draw();
        const g = a.geometry();
        const d = a.canvas.width / a.canvas.getBoundingClientRect().width;
        const y = a.trackY(ti) + a.rowY(row) + (row ? 6 : 4);
        const x0 = 190 + (Math.max(lo, a.lo) - a.lo) * g.k;
        const x1 = 190 + (Math.min(hi, a.hi) - a.lo) * g.k;
        const w = Math.max(1, Math.round((x1 - x0) * d));
        const img = a.canvas.getContext('2d').getImageData(Math.round(x0 * d), Math.round(y * d),
                                                           w, 1).data;
        const out = [];
        for (let i = 0; i < img.length; i += 4) out.push([img[i], img[i + 1], img[i + 2]]);
        return out;
    }}""", [tid, row, lo_ms, hi_ms])]


def longest_in_view(page, tid: int, reason: str) -> dict | None:
    """The longest off-CPU interval of `reason` drawn one by one on thread
    `tid`'s track whose middle is in the window and is that interval's alone
    (a hover there finds it, not another event over it): its length (ms) and
    the client coordinates of that middle."""
    return page.evaluate(f"""([tid, reason]) => {{
        const a = {ALL};
        const ti = a.tracks.findIndex((t) => t.thread.tid === tid);
        const t = a.tracks[ti];
        const row = t.rows[1];
        a.showLine(t.line);
        a.draw();
        const ks = [];
        for (let k = 0; k < row.n; k++) {{
            const mid = (row.start[k] + row.end[k]) / 2;
            if (t.src.reasons[row.code[k]] === reason && mid >= a.lo && mid <= a.hi) ks.push(k);
        }}
        ks.sort((x, y) => (row.end[y] - row.start[y]) - (row.end[x] - row.start[x]));
        const r = a.canvas.getBoundingClientRect();
        for (const k of ks) {{
            const px = 190 + ((row.start[k] + row.end[k]) / 2 - a.lo) * a.geometry().k;
            const py = a.trackY(ti) + a.rowY(1) + 6;
            const hit = a.hitAt(px, py);
            if (hit && hit.track === ti && hit.row === 1 && hit.k === k) {{
                return {{ ms: row.end[k] - row.start[k], x: r.left + px, y: r.top + py }};
            }}
        }}
        return null;
    }}""", [tid, reason])


def tinted(pixels: list[tuple[int, int, int]]) -> float:
    """The share of an on-CPU row's `pixels` drawn in the CPU colour at any
    opacity (the row's background is grey: red and blue alike)."""
    return sum(1 for r, _g, b in pixels if r - b > 40) / max(1, len(pixels))


def share(pixels: list[tuple[int, int, int]], color: tuple[int, int, int]) -> float:
    """The share of `pixels` nearer `color` than the row's background and the
    other colours a track draws."""
    others = [c for c in (SLEEP, LOCK, RUNQUEUE, BACKGROUND) if c != color]

    def dist(a, b):
        return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))

    near = sum(1 for p in pixels if all(dist(p, color) < dist(p, o) for o in others))
    return near / max(1, len(pixels))


def test_every_thread_is_a_track_coloured_by_what_it_did(page, server, profiled):
    if profiled.mode.startswith("synthetic"):
        pytest.skip("needs the agent's real recording")
    mine = profiled.threads
    first, last = extent(server, demo("cpu"), mine["burner"])
    # 24 s either side: a window wider than the one-by-one threshold (density)
    open_threads(page, server, demo(), first - 24_000, last + 24_000)
    got = page.evaluate(f"() => {ALL}.tracks.map((t) => [t.thread.pid, t.thread.tid, t.label])")
    assert set(mine.values()) - {profiled.workloads[0].pid} <= {tid for _p, tid, _n in got}, got
    for w in profiled.workloads:  # both processes: the four threads each, by name
        names = {n for p, _t, n in got if p == w.pid}
        assert {"burner", "sleeper", "holder", "waiter"} <= names, got
    # one group line per process, its threads under it
    groups = page.evaluate(f"() => {ALL}.lines.filter((l) => l.kind === 'group').map((l) => l.pid)")
    assert sorted(groups) == sorted(w.pid for w in profiled.workloads)
    assert page.evaluate(f"() => {ALL}.tracks.every((t) => !{ALL}.oneByOne(t))")
    # at the workload's known times: the burner on the CPU, the sleeper asleep,
    # the waiter on the lock
    lo, hi = first + 1000, last - 1000
    assert tinted(strip(page, mine["burner"], 0, lo, hi)) > 0.8
    assert share(strip(page, mine["sleeper"], 1, lo, hi), SLEEP) > 0.8
    assert share(strip(page, mine["waiter"], 1, lo, hi), LOCK) > 0.6
    assert tinted(strip(page, mine["sleeper"], 0, lo, hi)) < 0.2
    assert share(strip(page, mine["burner"], 1, lo, hi), SLEEP) < 0.05
    page.evaluate(f"() => {ALL}.root.scrollTop = 0")
    shoot(page, "50-all-threads")
    # hovering the waiter's track names what it did there
    box = page.evaluate(f"""(tid) => {{
        const a = {ALL};
        const ti = a.tracks.findIndex((t) => t.thread.tid === tid);
        a.showLine(a.tracks[ti].line);
        const r = a.canvas.getBoundingClientRect();
        return {{ x: r.left + 190 + ((a.lo + a.hi) / 2 - a.lo) * a.geometry().k,
                 y: r.top + a.trackY(ti) + a.rowY(1) + 6 }};
    }}""", mine["waiter"])
    page.mouse.move(box["x"], box["y"])
    tip = page.locator(".tracks-tip:not([hidden])")
    tip.wait_for(state="visible")
    assert "off-CPU: lock" in tip.inner_text() and "waiter" in tip.inner_text()

    # Zoom: every track on the new window, in the URL, with finer buckets
    before = page.evaluate(f"() => [{ALL}.lo, {ALL}.hi]")
    page.locator("#view-threads .all-tracks canvas").focus()
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.wait_for_function(f"(w) => {ALL}.hi - {ALL}.lo < (w[1] - w[0]) / 3", arg=before)
    page.wait_for_url(re.compile(r"window=\d+\.\d+-\d+\.\d+"))
    lo2, hi2 = page.evaluate(f"() => [{ALL}.lo, {ALL}.hi]")
    page.wait_for_function(f"(lo) => Math.abs({ALL}.density.from_ms - lo) < 1", arg=lo2)
    assert hi2 - lo2 <= page.evaluate("() => 20000")
    # at 20 s or less the tracks on screen draw their events one by one, with hover
    page.wait_for_function(f"""(tid) => {{
        const a = {ALL};
        const t = a.tracks.find((t) => t.thread.tid === tid);
        return a.oneByOne(t) && t.rows[1].n > 0;
    }}""", arg=mine["waiter"])
    page.mouse.move(0, 0)  # off the tracks: the density's tooltip goes
    tip.wait_for(state="hidden")
    lock = longest_in_view(page, mine["waiter"], "lock")
    assert lock is not None and lock["ms"] >= 1, lock
    page.mouse.move(lock["x"], lock["y"])
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "off-CPU (lock)" in text and "waiter" in text, (lock, text)
    # the sleeper's time stays on its track: its sleeps kept one by one, and
    # faintly the kernel's sums of them (marks one by one)
    busy = strip(page, mine["sleeper"], 1, max(lo2, first + 1000), min(hi2, last - 1000))
    # (blue at any opacity: the faint density over the grey row is b - r = 40)
    assert sum(1 for r, _g, b in busy if b - r > 25) / len(busy) > 0.8
    shoot(page, "51-all-threads-zoomed")
    # a reload opens the same window
    url = page.url
    open_app(page, url)
    page.wait_for_function(f"() => {ALL}.density !== null && {ALL}.lines.length > 0")
    assert page.evaluate(f"() => [{ALL}.lo, {ALL}.hi]") == pytest.approx([lo2, hi2], abs=1)
    # a process folds to its line
    n = page.evaluate(f"() => {ALL}.lines.length")
    page.evaluate(f"() => {ALL}.root.scrollTop = 0")
    canvas = page.locator("#view-threads .all-tracks canvas")
    canvas.click(position={"x": 40, "y": 20 + 10})  # the first line: a process
    page.wait_for_function(f"(n) => {ALL}.lines.length < n", arg=n)


def test_scrolling_reaches_threads_past_the_first_screen(page, server, profiled):
    if not profiled.many:
        pytest.skip("needs the agent's real recording")
    query = f'wall{{service_name="{MANY_SERVICE}"}}'
    first, last = extent(server, query, profiled.many["idle-00"])
    open_threads(page, server, query, first - 20_000, last + 20_000)
    tracks = page.evaluate(f"() => {ALL}.tracks.map((t) => t.thread.tid)")
    assert set(tracks) == set(profiled.many.values()) and len(tracks) == MANY_THREADS
    # more lines than the box shows: the last ones are not drawn until scrolled to
    last_ti = MANY_THREADS - 1
    assert last_ti not in page.evaluate(f"() => {ALL}.visibleTracks()")
    shoot(page, "52-all-threads-many")
    box = page.locator("#view-threads .all-tracks canvas").bounding_box()
    page.mouse.move(box["x"] + 400, box["y"] + box["height"] / 2)
    for _ in range(40):
        page.mouse.wheel(0, 400)
        if last_ti in page.evaluate(f"() => {ALL}.visibleTracks()"):
            break
        page.wait_for_timeout(50)
    assert last_ti in page.evaluate(f"() => {ALL}.visibleTracks()")
    tid = tracks[last_ti]
    assert share(strip(page, tid, 1, first + 1000, last - 1000), SLEEP) > 0.8
    shoot(page, "53-all-threads-scrolled")


def test_density_sums_are_the_threads_totals(server, profiled):
    """The summary's known answer: over a window holding every event whole, a
    thread's cells sum to its totals in /api/v1/threads, reason by reason."""
    first, last = extent(server, demo("cpu"), profiled.threads["burner"])
    window = {"from": str(int(first - 60_000)), "until": str(int(last + 60_000))}
    density = server.api("/api/v1/thread-density", query=demo(), buckets="997", **window)
    threads = server.api("/api/v1/threads", query=demo(), reasons="1", **window)["threads"]
    assert density["more"] == 0
    assert [t["tid"] for t in density["threads"]] == [t["tid"] for t in threads]
    for row, t in zip(density["threads"], threads, strict=True):
        sums: dict[str, int] = {}
        c = row["cells"]
        for i in range(0, len(c), 4):
            reason = density["reasons"][c[i + 1]]
            sums[reason] = sums.get(reason, 0) + c[i + 2] * c[i + 3]
        assert sums.pop("cpu", 0) == t["cpu_ns"], t
        assert sums == {r: v for r, v in t["offcpu_by_reason"].items() if v}, t
        assert (row["cpu_ns"], row["offcpu_ns"]) == (t["cpu_ns"], t["offcpu_ns"])
    # and the burner never blocks, the sleeper is asleep. How much of its time
    # the burner gets is the host's doing (two burners and the agent on two
    # CPUs): whatever it lost, it waited for on the run queue.
    by_tid = {t["tid"]: t for t in threads}
    burner, sleeper = by_tid[profiled.threads["burner"]], by_tid[profiled.threads["sleeper"]]
    blocked = sum(v for r, v in burner["offcpu_by_reason"].items() if r != "runqueue")
    assert burner["cpu_ns"] > 0, burner
    assert blocked < 0.01 * (burner["cpu_ns"] + burner["offcpu_ns"]), burner
    assert sleeper["offcpu_by_reason"].get("sleep", 0) > 0.9 * sleeper["offcpu_ns"]
