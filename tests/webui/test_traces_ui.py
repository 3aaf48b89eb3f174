"""The Traces and Slow-vs-fast screens in headless Chromium, over real traces.

The known-answer Flask app of the traces issue (tests/workloads/trace_app.py:
/slow spends ~30 ms in `slow_path`, ~50 ms on a lock, ~2 ms on the run queue,
20 ms asleep and 20 ms on a pool worker; /fast ~5 ms in `fast_path`) runs
under a pyenv CPython with
the OpenTelemetry SDK, the OTLP/HTTP exporter and flamecam_otel, profiled by
the real agent (eBPF) into a real server that also receives its spans (the
`traced` fixture of tests/webui/conftest.py). The page is then read as a user
reads it: dots on the scatter, rows of the tables, the URL after a click, and
canvas pixels.

Screenshots: test-artifacts/screenshots/traces-list/.
"""

from __future__ import annotations

import colorsys
import json
import math
import re
import time
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.traces.test_known_answer import SERVICE
from tests.webui import exports as ex
from tests.webui.conftest import ROOT, open_app, start_server, stop_server

pytestmark = pytest.mark.browser

SHOTS = ROOT / "test-artifacts" / "screenshots" / "traces-list"
SLOW_REQUESTS = 6
PLOT_BG = (0xF3, 0xF4, 0xF6)
SCATTER = "window.flamecam.views.traces.scatter"


def shoot(page, name: str) -> None:
    """The whole page, and what a 1280x800 screen shows of its top."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}-1280x800.png"))


def open_traces(page, url: str, **params) -> None:
    open_app(page, f"{url}/?{urllib.parse.urlencode(params)}" if params else f"{url}/")
    page.wait_for_function(f"() => window.flamecam && {SCATTER}.points.length > 0",
                           timeout=30000)


def pixel(page, x: float, y: float) -> tuple[int, int, int]:
    return tuple(page.evaluate(
        """([x, y]) => {
            const c = window.flamecam.views.traces.scatter.canvas;
            const r = c.getBoundingClientRect();
            const d = c.width / r.width;
            const p = c.getContext('2d').getImageData(Math.round((x - r.left) * d),
                                                      Math.round((y - r.top) * d), 1, 1).data;
            return [p[0], p[1], p[2]];
        }""", [x, y]))


def api(url: str, path: str, **params) -> dict:
    r = requests.get(url + path, params=params, timeout=30)
    assert r.ok, r.text
    return r.json()


@pytest.mark.bpf
def test_landing_scatter_shows_slow_and_fast_requests(page, traced):
    # A bare address lands on Traces when traces exist.
    open_traces(page, traced.url)
    assert page.locator("#tab-traces").get_attribute("aria-selected") == "true"
    assert page.locator("#tr-service").input_value() == SERVICE
    points = page.evaluate(f"() => {SCATTER}.points")
    slow_ids = {b["trace_id"] for b in traced.slow}
    fast_ids = {b["trace_id"] for b in traced.fast}
    drawn = {p[2]: p for p in points}
    # Every request driven is a dot: the slow ones (>= 100 ms: 50 ms lock, 20 ms
    # sleep, 30 + 20 ms of CPU) far above the fast ones.
    assert slow_ids <= set(drawn) and fast_ids <= set(drawn)
    assert min(drawn[t][1] for t in slow_ids) >= 100
    assert max(drawn[t][1] for t in fast_ids) < min(drawn[t][1] for t in slow_ids) / 2
    assert {drawn[t][3] for t in slow_ids} == {"GET /slow"}
    # Both populations are painted where their dots belong.
    for trace_id in (min(slow_ids), min(fast_ids)):
        at = page.evaluate(f"(p) => {SCATTER}.pointXY(p)", drawn[trace_id])
        assert pixel(page, at["x"], at["y"]) != PLOT_BG, trace_id
    legend = page.locator("#view-traces .legend").first.inner_text()
    assert "GET /slow" in legend and "GET /fast" in legend
    # Endpoints with their count and percentiles, against the durations of the
    # root spans of every request the app answered (and of nothing else).
    durations = root_durations(traced)
    for name, ds in durations.items():
        row = page.locator(".endpoints-table tbody tr", has_text=name)
        row.wait_for()  # the endpoints' answer comes apart from the scatter's
        cells = row.locator("td").all_inner_texts()
        want = [str(len(ds)), *(fmt_ms(nearest_rank(ds, q)) for q in (50, 90, 99))]
        print(f"endpoint {name}: table {cells[1:5]}, from the spans {want}")
        assert cells[1:5] == want, (name, cells, want)
    # a real spread: many fast requests, whose percentiles differ
    fast = sorted(durations["GET /fast"])
    assert len(fast) >= 20 and nearest_rank(fast, 50) < nearest_rank(fast, 99), fast
    shoot(page, "01-traces")


def root_durations(traced) -> dict[str, list[float]]:
    """Root span duration (ms) of each request the app answered, by endpoint,
    from the trace list of the server the app's exporter sent its spans to."""
    listed = api(traced.url, "/api/v1/traces", service=SERVICE, **{"from": "now-1h"},
                 limit=10000)["traces"]
    by_id = {t["trace_id"]: t for t in listed}
    asked = {b["trace_id"]: "GET /slow" for b in traced.slow}
    asked.update({b["trace_id"]: "GET /fast" for b in [traced.first, *traced.fast]})
    assert set(by_id) == set(asked), (len(by_id), len(asked))
    out: dict[str, list[float]] = {}
    for trace_id, name in asked.items():
        assert by_id[trace_id]["root"] == name, by_id[trace_id]
        out.setdefault(name, []).append(by_id[trace_id]["duration_ms"])
    return out


def nearest_rank(values: list[float], q: int) -> float:
    """The q-th percentile by nearest rank: the smallest value with at least
    q% of the values at or below it."""
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * q / 100) - 1]


def fmt_ms(ms: float) -> str:
    """format.js's fmtDuration of `ms` milliseconds (1 ms to 1 s): one decimal,
    halves up as JavaScript's toFixed rounds the double's exact value."""
    exact = Decimal(ms * 1e6 / 1e6)
    return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} ms"


@pytest.mark.bpf
def test_slowest_row_and_dot_open_the_trace(page, traced):
    url = traced.url
    slowest = api(url, "/api/v1/traces", service=SERVICE, **{"from": "now-1h"},
                  limit=1)["traces"][0]
    open_traces(page, url, tab="traces", service=SERVICE)
    first = page.locator(".traces-table tbody tr").first
    first.wait_for()
    assert first.get_attribute("data-trace") == slowest["trace_id"]
    assert first.locator("td").nth(1).inner_text() == "GET /slow"
    assert "lock" in first.locator("td").nth(4).inner_text()
    first.locator("td").nth(2).click()  # the duration cell: the whole row is the link
    page.wait_for_url(f"**/?trace={slowest['trace_id']}*")
    # A dot of the scatter opens its trace too.
    open_traces(page, url, tab="traces", service=SERVICE)
    fast = traced.fast[0]["trace_id"]
    point = next(p for p in page.evaluate(f"() => {SCATTER}.points") if p[2] == fast)
    at = page.evaluate(f"(p) => {SCATTER}.pointXY(p)", point)
    page.mouse.click(at["x"], at["y"])
    page.wait_for_url(f"**/?trace={fast}*")


def table_order(page) -> list[str]:
    """The trace ids of the traces table's rows, top to bottom."""
    rows = page.locator(".traces-table tbody tr")
    rows.first.wait_for()
    return [rows.nth(i).get_attribute("data-trace") for i in range(rows.count())]


def sort_by(page, label: str, sort: str, shown: str) -> list[str]:
    """Clicks the traces table's header button `label`; the table's order once
    the URL says `sort` and the table is redrawn with that button reading `shown`."""
    page.locator(".traces-table thead button", has_text=re.compile(f"^{label}( [▼▲])?$")).click()
    page.wait_for_url(re.compile(f"sort={re.escape(urllib.parse.quote(sort))}(&|$)"))
    page.wait_for_function("(t) => [...document.querySelectorAll('.traces-table thead button')]"
                           ".some((b) => b.textContent === t)", arg=shown)
    return table_order(page)


@pytest.mark.bpf
def test_traces_table_sorts_by_duration_cpu_and_a_reason(page, traced):
    """Each header sorts the table by its figure (a second click reverses it),
    and the off-CPU column by one reason: by lock, the slow requests (each
    blocked ~50 ms on the lock and ~20 ms on the pool worker) come first."""
    url = traced.url
    listed = {t["trace_id"]: t for t in api(url, "/api/v1/traces", service=SERVICE,
                                            **{"from": "now-1h"}, limit=200)["traces"]}
    open_traces(page, url, tab="traces", service=SERVICE)
    order = table_order(page)
    assert set(order) == set(listed)

    def values(ids, key):
        return [key(listed[t]) for t in ids]

    def duration(t):
        return t["duration_ms"]

    def cpu(t):
        return t["cpu_ns"]

    def lock(t):
        return t["offcpu_ns"].get("lock", 0)

    # slowest first by default
    assert values(order, duration) == sorted(values(order, duration), reverse=True)
    order = sort_by(page, "Duration", "duration_ms-asc", "Duration ▲")
    assert values(order, duration) == sorted(values(order, duration))
    order = sort_by(page, "CPU", "cpu_ns", "CPU ▼")
    assert values(order, cpu) == sorted(values(order, cpu), reverse=True)
    # the slow requests burn ~50 ms (slow_path and pool_work), a fast one ~5 ms
    slow = {b["trace_id"] for b in traced.slow}
    assert set(order[:len(slow)]) == slow, values(order, cpu)
    order = sort_by(page, "lock", "offcpu:lock", "lock ▼")
    assert values(order, lock) == sorted(values(order, lock), reverse=True)
    assert set(order[:len(slow)]) == slow and not any(values(order[len(slow):], lock)), \
        values(order, lock)
    shoot(page, "05-traces-by-lock")
    order = sort_by(page, "lock", "offcpu:lock-asc", "lock ▲")
    assert values(order, lock) == sorted(values(order, lock))


def diff_rows(page) -> list[tuple[str, str, str]]:
    """The first rows of the functions table (sorted by own time B - A): name,
    B own and own B - A, printed so a failure says how far apart they were."""
    rows = page.locator(".sf-table tbody tr")
    rows.first.wait_for()
    top = [(rows.nth(i).get_attribute("data-name"), *(rows.nth(i).locator("td").nth(c).inner_text()
                                                     for c in (3, 4)))
           for i in range(min(8, rows.count()))]
    print("slow-vs-fast (name, B own, own B - A):", top)
    return top


def ms_of(text: str) -> float:
    """Milliseconds of a duration as format.js writes it ("+81.6 ms", "353 µs")."""
    number, unit = text.lstrip("+").split()
    return float(number) * {"ns": 1e-6, "µs": 1e-3, "ms": 1, "s": 1e3}[unit]


@pytest.mark.bpf
def test_brushed_slow_requests_against_the_rest(page, traced):
    open_traces(page, traced.url, tab="traces", service=SERVICE)
    points = page.evaluate(f"() => {SCATTER}.points")
    slow = [p for p in points if p[1] >= 100]
    # Drag a box around the slow dots (from above the slowest to 90 ms).
    xs = [page.evaluate(f"(p) => {SCATTER}.pointXY(p)", p)["x"] for p in slow]
    top = page.evaluate(f"(p) => {SCATTER}.pointXY(p)", max(slow, key=lambda p: p[1]))["y"]
    bottom = page.evaluate(f"(p) => {SCATTER}.pointXY([p[0], 90])", slow[0])["y"]
    page.mouse.move(min(xs) - 8, top - 8)
    page.mouse.down()
    page.mouse.move((min(xs) + max(xs)) / 2, (top + bottom) / 2, steps=4)
    page.mouse.move(max(xs) + 8, bottom, steps=4)
    page.mouse.up()
    page.wait_for_url("**compare=box*")
    assert "box=" in page.url
    rows = diff_rows(page)
    summary = page.locator(".sf-summary").inner_text()
    assert f"B: {len(slow)} requests in the box" in summary, summary
    assert {p[2] for p in slow} == {b["trace_id"] for b in traced.slow}
    check_slow_diff(page, rows, traced.slow)
    shoot(page, "03-brushed-vs-rest")


@pytest.mark.bpf
def test_slow_vs_fast_by_latency(page, traced):
    url = traced.url
    # The toolbar's button compares one endpoint, by default the one with the
    # slowest requests.
    open_traces(page, url, tab="traces", service=SERVICE)
    page.locator("#tr-compare").click()
    page.wait_for_url(re.compile(r"compare=latency.*endpoint=GET\+%2Fslow|"
                                 r"endpoint=GET\+%2Fslow.*compare=latency"))
    # An endpoint's row opens that endpoint's comparison.
    open_traces(page, url, tab="traces", service=SERVICE)
    page.locator(".endpoints-table tr[data-endpoint='GET /slow'] button.sf-open").click()
    page.wait_for_url("**compare=latency*")
    assert "endpoint=GET+%2Fslow" in page.url, page.url
    # The toolbar follows once the view has loaded the new comparison; until
    # then it still shows the page the click came from.
    expect(page.locator("#tr-endpoint")).to_have_value("GET /slow")
    title = page.locator("#view-traces h2", has_text="Slow vs fast").inner_text()
    assert title == "Slow vs fast: endpoint GET /slow", title
    diff_rows(page)
    # and the scatter shows that endpoint's requests alone
    page.wait_for_function(f"""() => {SCATTER}.points.length > 0 &&
                               {SCATTER}.points.every((p) => p[3] === 'GET /slow')""")
    shoot(page, "02a-slow-vs-fast-one-endpoint")
    # All endpoints, by choice: the whole service's p90 and p50 are then fast
    # requests' durations (one slow request in ~30): the user sets the
    # thresholds from the scatter.
    page.select_option("#tr-endpoint", "")
    page.wait_for_url("**scope=service*")
    assert "endpoint=" not in page.url
    diff_rows(page)  # the whole service's comparison is in
    page.fill("#sf-slow", "90")
    page.fill("#sf-fast", "40")
    page.locator(".sf-form button[type=submit]").click()
    page.wait_for_url("**slow=90*")
    page.wait_for_function(
        "() => document.querySelector('.sf-summary').textContent.includes('≥ 90.0 ms')")
    rows = diff_rows(page)
    summary = page.locator(".sf-summary").inner_text()
    # the scatter of this comparison (B's line at 90 ms), not of the one before
    page.wait_for_function(f"() => {SCATTER}.lines.some((line) => line.ms === 90)")
    b_side = {p[2] for p in page.evaluate(f"() => {SCATTER}.points") if p[1] >= 90}
    assert f"B (slow): {len(b_side)} requests" in summary, summary
    assert b_side == {b["trace_id"] for b in traced.slow}
    check_slow_diff(page, rows, traced.slow)
    # The breakdowns side by side: slow requests wait on the lock, fast ones never.
    lock = page.locator(".sf-breakdown-table tr[data-part=lock] td")
    assert lock.nth(1).inner_text() == "0 ns" and lock.nth(3).inner_text().startswith("+")
    shoot(page, "02-slow-vs-fast")
    # The table's order and the graph's zoom are in the URL: a reload keeps them.
    page.locator(".sf-table th[data-key=dTotal] button").click()
    page.wait_for_url("**sort=dTotal*")
    slow_path = next(name for name, _, _ in rows if name.endswith(".slow_path"))
    rect = slow_fast_frame(page, slow_path)
    page.mouse.click(rect["x"] + min(6, rect["w"] / 2), rect["y"] + rect["h"] / 2)
    page.wait_for_url("**zoom=*")
    page.reload()
    page.wait_for_function(f"(n) => window.flamecam && {SF_GRAPH}.tree && "
                           f"{SF_GRAPH}.zoomPath().at(-1) === n", arg=slow_path, timeout=20000)
    assert page.locator(".sf-table th[data-key=dTotal]").get_attribute("aria-sort") == "descending"
    assert page.locator("#sf-slow").input_value() == "90"


SF_GRAPH = "window.flamecam.views.traces.slowFast.panel.graph"


def slow_fast_frame(page, name: str) -> dict:
    """Where frame `name` of the slow-vs-fast graph is drawn, brought into view
    first: inside the graph's own scroller, then in the page."""
    return page.evaluate(f"""(n) => {{
        const g = {SF_GRAPH};
        const box = g.scroller.getBoundingClientRect();
        g.scroller.scrollTop += g.frameRect(n).y - box.top - g.scroller.clientHeight / 2;
        window.scrollBy(0, g.frameRect(n).y - window.innerHeight / 2);
        return g.frameRect(n);
    }}""", name)


@pytest.mark.bpf
def test_slow_vs_fast_exports_the_comparison(page, traced):
    """Issue 12's export of the slow-vs-fast graph: no sample files (each side
    merges many requests, per request), the diff as JSON, the graph as drawn."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_traces(page, traced.url, tab="traces", service=SERVICE)
    page.locator("#tr-compare").click()
    page.wait_for_url("**endpoint=GET+%2Fslow*")
    diff_rows(page)  # drawn
    slow_path = page.evaluate(f"() => {SF_GRAPH}.tree.names.find("
                              "(n) => n.endsWith('.slow_path'))")
    assert slow_path, "no slow_path in the slow-vs-fast graph"
    page.evaluate(f"() => {SF_GRAPH}.scroller.scrollIntoView()")
    items = ex.menu_shot(page, "traces", "slow-vs-fast-export-menu")
    assert items == ["json", "png", "svg", "link"], items
    name, body = ex.download(page, "traces", "json")
    doc = json.loads(body)
    assert name == "flamecam-slow-vs-fast.flamegraph.json"
    assert doc["per_request"] is True and doc["endpoint"] == "GET /slow"
    assert doc["b"]["count"] > 0 and doc["a"]["count"] > 0
    fb = doc["flamebearer"]
    assert fb["names"] == page.evaluate(f"() => {SF_GRAPH}.tree.names")
    # slow_path's time per request in A and B, as the graph holds it (its
    # widest node in B); the slow requests' 30 ms of CPU in it
    k = fb["names"].index(slow_path)
    node = max((lv[i - 6:i + 1] for lv in fb["levels"] for i in range(6, len(lv), 7)
                if lv[i] == k), key=lambda n: n[4])
    drawn = page.evaluate(f"""(k) => {{
        let best = null;
        for (const level of {SF_GRAPH}.tree.levels)
            for (let i = 0; i < level.n; i++)
                if (level.name[i] === k && (!best || level.rTotal[i] > best[1]))
                    best = [level.lTotal[i], level.rTotal[i]];
        return best;
    }}""", k)
    assert [node[1], node[4]] == drawn and node[4] > 15 * 10**6, (node, drawn)
    _, body = ex.download(page, "traces", "png")
    ex.check_png(page, body, [SF_GRAPH.removeprefix("window.flamecam.")], slow_path)
    fast_path = next((n for n in fb["names"] if n.endswith(".fast_path")), None)
    page.evaluate(f"(n) => {SF_GRAPH}.zoomToName(n)", slow_path)
    _, body = ex.download(page, "traces", "svg")
    assert ex.svg_has_frame(body, slow_path)
    assert fast_path is None or not ex.svg_has_frame(body, fast_path)
    assert ex.link_copied(page, "traces") == page.url


def check_slow_diff(page, rows: list[tuple[str, str, str]], slow: list[dict]) -> None:
    """The issue's known answer: ranked by own time per request, B (the slow
    requests, `slow` as the app reported them) minus A, every row counted,
    `slow_path` and the lock wait lead. The lock's per request is what the app
    measured it blocked: on the lock holder and on the pool worker's release."""
    names = [name for name, _, _ in rows]
    assert "[off-cpu:lock]" in names[:2] and any(n.endswith(".slow_path") for n in names[:2]), \
        rows
    lock_b = ms_of(next(b for name, b, _ in rows if name == "[off-cpu:lock]"))
    blocked = sum(b["lock_ms"] + b["pool_wait_ms"] for b in slow) / len(slow)
    assert abs(lock_b - blocked) <= 0.15 * blocked, (lock_b, blocked, rows)
    slow_path = next(n for n in names if n.endswith(".slow_path"))
    rect = slow_fast_frame(page, slow_path)
    assert rect is not None and 0 < rect["y"] < 800, rect
    tip = hover_tooltip(page, rect)
    assert tip.splitlines()[0] == slow_path and "per request" in tip


def hover_tooltip(page, rect) -> str:
    page.mouse.move(rect["x"] + min(4, rect["w"] / 2), rect["y"] + rect["h"] / 2)
    tip = page.locator(".tooltip:not([hidden])", has_text="per request")
    tip.wait_for(state="visible")
    return tip.inner_text()


def test_no_traces_says_where_to_send_them(page, tmp_path):
    srv = start_server(tmp_path, Path(tmp_path) / "server.log")
    try:
        open_app(page, f"{srv.url}/?tab=traces")
        empty = page.locator("#view-traces .empty")
        empty.wait_for()
        text = empty.inner_text()
        assert f"OpenTelemetry exporter at {srv.url}" in text and "README" in text
        shoot(page, "04-no-traces")
    finally:
        stop_server(srv, page)


def test_many_requests_draw_a_heatmap_of_counts(page, tmp_path):
    """Past 3000 requests the scatter is a heatmap of counts (darker: more)
    with the slowest requests still as dots: 3000 requests of 15 ms over a
    minute (about 25 per cell), 300 more in one cell, and 400 of 400 ms."""
    srv = start_server(tmp_path, Path(tmp_path) / "server.log")
    try:
        t0 = time.time_ns() - 120 * 10**9
        spans = [(t0 + i * 20 * MS, 15 * MS) for i in range(3000)]
        spans += [(t0 + 30_250 * MS, 15 * MS)] * 300
        spans += [(t0 + i * 150 * MS, 400 * MS) for i in range(400)]
        post_spans(srv.url, "heat", spans)
        open_traces(page, srv.url, service="heat")
        hm = page.evaluate(f"() => {SCATTER}.heatmap")
        assert hm is not None and sum(hm["counts"]) == len(spans), hm
        assert len(page.evaluate(f"() => {SCATTER}.points")) == 300  # the slowest, as dots
        note = page.locator("#view-traces .hint", has_text="heatmap").inner_text()
        assert f"{len(spans)} requests" in note and "darker: more" in note, note
        legend = page.locator("#view-traces .legend").first.inner_text()
        assert "requests per cell (darker: more)" in legend, legend
        # Cells painted in the heat colour of their count: the fullest (the
        # 300 and its share of the rest) darkest, another of its row lighter.
        counts, width = hm["counts"], hm["x_bins"]
        top = max(counts)
        assert top >= 300, top
        full = counts.index(top)
        row = full // width
        others = sorted((c, i) for i, c in enumerate(counts[row * width:(row + 1) * width],
                                                     row * width) if 0 < c < top)
        assert others, counts[row * width:(row + 1) * width]
        for want, i in ((top, full), others[len(others) // 2]):
            x, y = i % width, i // width
            at = page.evaluate(f"""([x, y]) => {{
                const s = {SCATTER}, hm = s.heatmap, p = s.plot();
                const cw = (hm.until_ms - hm.from_ms) / hm.x_bins, ch = hm.max_ms / hm.y_bins;
                const r = s.canvas.getBoundingClientRect();
                return {{ x: r.left + s.xOf(hm.from_ms + (x + 0.5) * cw, p),
                          y: r.top + s.yOf((y + 0.5) * ch, p) }};
            }}""", [x, y])
            light = 0.92 - 0.50 * math.sqrt(want / top)
            rgb = tuple(round(c * 255) for c in colorsys.hls_to_rgb(22 / 360, light, 0.85))
            got = pixel(page, at["x"], at["y"])
            assert all(abs(a - b) <= 2 for a, b in zip(got, rgb, strict=True)), \
                (want, got, rgb)
        shoot(page, "06-heatmap")
    finally:
        stop_server(srv, page)


MS = 10**6


def post_spans(url: str, service: str, spans: list[tuple[int, int]]) -> None:
    """Root spans `GET /h` of (start, duration) ns, as the OTLP/HTTP JSON exporter sends them."""
    body = json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": [
            {"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "GET /h", "kind": 2,
             "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + duration)}
            for i, (start, duration) in enumerate(spans)]}]}]}).encode()
    r = requests.post(url + "/v1/traces", data=body,
                      headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 200, r.text


HOSTILE = "<img src=x onerror=alert(1)>"


def otlp_json(service: str, names: list[str], start_ns: int) -> bytes:
    """Spans as the OTLP/HTTP JSON exporter sends them, one root per name."""
    spans = [{"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": name, "kind": 2,
              "startTimeUnixNano": str(start_ns + i * 10**9),
              "endTimeUnixNano": str(start_ns + i * 10**9 + (i + 1) * 10**7)}
             for i, name in enumerate(names)]
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}]}]}).encode()


def test_span_names_render_as_text(page, tmp_path):
    srv = start_server(tmp_path, Path(tmp_path) / "server.log")
    try:
        body = otlp_json(f"svc {HOSTILE}", [HOSTILE, f"GET /a{HOSTILE}"],
                         time.time_ns() - 60 * 10**9)
        r = requests.post(srv.url + "/v1/traces", data=body,
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 200, r.text
        open_traces(page, srv.url)
        row = page.locator(".endpoints-table tbody tr").first
        row.wait_for()
        names = page.locator(".endpoints-table td.name").all_inner_texts()
        assert sorted(names) == sorted([HOSTILE, f"GET /a{HOSTILE}"])
        assert page.locator("#tr-service").input_value() == f"svc {HOSTILE}"
        # the traces list's answer comes apart from the endpoints'
        expect(page.locator(".traces-table a.trace-link", has_text=HOSTILE)).to_have_count(2)
        assert page.locator("#view-traces img").count() == 0
    finally:
        stop_server(srv, page)


def test_toolbar_follows_a_picked_endpoint_before_the_view_loads(page, tmp_path):
    """The endpoint a user picks reads picked at once, not once the view has
    asked the server again: here the view's first question (the services
    with traces) is held until the toolbar has been read."""
    srv = start_server(tmp_path, Path(tmp_path) / "server.log")
    try:
        body = otlp_json("gate", ["GET /a", "GET /b"], time.time_ns() - 60 * 10**9)
        r = requests.post(srv.url + "/v1/traces", data=body,
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 200, r.text
        open_traces(page, srv.url, tab="traces", service="gate")
        row = page.locator(".endpoints-table tr[data-endpoint='GET /b']")
        row.wait_for()
        expect(page.locator("#tr-endpoint")).to_have_value("")
        page.evaluate("""() => {
            const fetch0 = window.fetch;
            const held = new Promise((open) => { window.openServices = open; });
            window.fetch = (url, ...rest) => String(url).includes("api/v1/trace-services")
                ? held.then(() => fetch0(url, ...rest)) : fetch0(url, ...rest);
        }""")
        row.locator("button.sf-open").click()
        page.wait_for_url("**compare=latency*")
        expect(page.locator("#view-traces [role=status]", has_text="Loading traces")
               ).to_be_visible()
        expect(page.locator("#tr-endpoint")).to_have_value("GET /b")
        page.evaluate("() => window.openServices()")
        expect(page.locator("#view-traces h2", has_text="Slow vs fast:")).to_have_text(
            "Slow vs fast: endpoint GET /b")
        expect(page.locator("#tr-endpoint")).to_have_value("GET /b")
    finally:
        stop_server(srv, page)
