"""Slow against fast requests, the trace scatter and the trace services, through
the real Flask app and `TraceStore` on SQLite and PostgreSQL.

One endpoint with a known spread: ten fast requests (5..14 ms, all on-CPU in
`fast_path`) and two slow ones (100 and 110 ms: 3 samples of `slow_path`, 50 ms
on a lock, 20 ms asleep), plus three requests of another endpoint.
"""

from __future__ import annotations

import time

import pytest

from profiler.model import Frame, Sample, Span, ThreadSpan
from profiler.query.scatter import scatter

MS = 10**6
T0 = time.time_ns() - 120 * 10**9
T0 -= T0 % 10**9
PID, TID = 900, 901
RNG = f"from={T0 // 10**9 - 10}&until={T0 // 10**9 + 60}"

HANDLER = Frame("handler", "python", file="/srv/app.py", line=5)
SLOW_PATH = Frame("slow_path", "python", file="/srv/app.py", line=20)
FAST_PATH = Frame("fast_path", "python", file="/srv/app.py", line=60)
HEALTH = Frame("health", "python", file="/srv/app.py", line=80)
LOCK = Frame("futex_wait", "kernel")
SLEEP = Frame("hrtimer_nanosleep", "kernel")
FAST_MS = list(range(5, 15))
SLOW_MS = [100, 110]


def ids(n: int) -> tuple[str, str]:
    return f"{n + 1:032x}", f"{n + 1:016x}"


def request(n: int, start_ms: int, dur_ms: int, name: str = "GET /checkout"
            ) -> tuple[Span, ThreadSpan, list[Sample]]:
    trace, span = ids(n)
    start = T0 + start_ms * MS
    sp = Span(trace, span, "", name, "server", "ok", start, start + dur_ms * MS, "shop", "1.0",
              (("http.route", name.split(" ")[1]),), PID, "web-1")
    row = ThreadSpan(PID, TID, trace, span, start, start + dur_ms * MS, "req-0")

    def cpu(at: int, stack, ms: int) -> Sample:
        return Sample("cpu", start + at * MS, PID, TID, 0, "app", "req-0", stack, ms * MS,
                      trace_id=trace, span_id=span)

    def off(at: int, ms: int, reason: str, stack) -> Sample:
        return Sample("offcpu", start + at * MS, PID, TID, 0, "app", "req-0", stack, ms * MS,
                      reason=reason, trace_id=trace, span_id=span)

    if name == "GET /health":
        samples = [cpu(0, (HEALTH,), 1)]
    elif dur_ms >= 100:
        samples = [cpu(1, (HANDLER, SLOW_PATH), 10), cpu(11, (HANDLER, SLOW_PATH), 10),
                   cpu(21, (HANDLER, SLOW_PATH), 10), off(30, 50, "lock", (HANDLER, LOCK)),
                   off(80, 20, "sleep", (HANDLER, SLEEP))]
    else:
        samples = [cpu(1, (HANDLER, FAST_PATH), 4)]
    return sp, row, samples


@pytest.fixture
def shop(app):
    """The requests, 1 s apart: fast ones first, then the slow ones, then /health."""
    st = app.extensions["flamecam"]
    spans, rows, samples = [], [], []
    durations = [(d, "GET /checkout") for d in FAST_MS + SLOW_MS] + [(1, "GET /health")] * 3
    for n, (dur, name) in enumerate(durations):
        sp, row, ss = request(n, n * 1000, dur, name)
        spans.append(sp)
        rows.append(row)
        samples += ss
    st.traces.write_spans("anonymous", spans)
    st.traces.write_links("anonymous", samples, rows)
    return app


def diff(app, query: str) -> dict:
    r = app.test_client().get(f"/api/v1/traces/diff?service=shop&{RNG}&{query}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def node_values(answer: dict) -> dict[str, tuple[int, int]]:
    """Frame name -> (A total, B total) summed over the diff flame graph's nodes."""
    fb = answer["flamebearer"]
    out: dict[str, tuple[int, int]] = {}
    for level in fb["levels"]:
        for i in range(0, len(level), 7):
            name = fb["names"][level[i + 6]]
            a, b = out.get(name, (0, 0))
            out[name] = (a + level[i + 1], b + level[i + 4])
    return out


def test_endpoint_p90_against_p50_per_request(shop):
    got = diff(shop, "endpoint=GET /checkout")
    # 12 requests: nearest-rank p50 is the 6th (10 ms), p90 the 11th (100 ms).
    assert got["slow_ms"] == 100.0 and got["fast_ms"] == 10.0
    a, b = got["a"], got["b"]
    assert (a["count"], a["used"], b["count"], b["used"]) == (6, 6, 2, 2)
    assert (a["min_ms"], a["max_ms"], b["min_ms"], b["max_ms"]) == (5.0, 10.0, 100.0, 110.0)
    # Exact figures (thread spans): a slow request served 100 or 110 ms, 70 of
    # them off-CPU; a fast one was on-CPU all along.
    assert b["breakdown"] == {"cpu": 35 * MS, "lock": 50 * MS, "sleep": 20 * MS}
    assert a["breakdown"] == {"cpu": 7.5 * MS}
    # The flame graph is per request: a slow request spends 30 ms in slow_path,
    # 50 ms on the lock and 20 ms asleep; a fast one 4 ms in fast_path.
    assert got["per_request"] is True and got["metadata"]["format"] == "double"
    assert (got["leftTicks"], got["rightTicks"]) == (4 * MS, 100 * MS)
    v = node_values(got)
    assert v["slow_path"] == (0, 30 * MS) and v["fast_path"] == (4 * MS, 0)
    assert v["[off-cpu:lock]"] == (0, 50 * MS) and v["[off-cpu:sleep]"] == (0, 20 * MS)
    assert v["handler"] == (4 * MS, 100 * MS)
    assert "health" not in v  # another endpoint


def test_thresholds_and_profile_type(shop):
    got = diff(shop, "endpoint=/checkout&slow_ms=12&fast_ms=6")
    assert (got["a"]["count"], got["b"]["count"]) == (2, 5)
    assert (got["slow_ms"], got["fast_ms"]) == (12.0, 6.0)
    cpu = diff(shop, "endpoint=GET /checkout&type=cpu")
    assert "[off-cpu:lock]" not in node_values(cpu)
    assert cpu["rightTicks"] == 30 * MS and cpu["type"] == "cpu"
    # The whole service: /health counts among the fast requests.
    assert "health" in node_values(diff(shop, "slow_ms=50&fast_ms=5"))


def test_limit_bounds_each_side(shop):
    got = diff(shop, "endpoint=GET /checkout&limit=1")
    assert (got["a"]["count"], got["a"]["used"], got["b"]["count"], got["b"]["used"]) == \
        (6, 1, 2, 1)
    # The latest request of each side: 10 ms and 110 ms.
    assert (got["a"]["max_ms"], got["b"]["max_ms"]) == (10.0, 110.0)


def test_brushed_box_against_the_rest(shop):
    # Requests started from 9 s to 12 s that lasted 50 to 200 ms: the two slow ones.
    t = T0 // MS
    got = diff(shop, f"endpoint=GET /checkout&box={t + 9000},{t + 12000},50,200")
    assert got["box"] == {"from_ms": t + 9000, "until_ms": t + 12000, "min_ms": 50.0,
                          "max_ms": 200.0}
    assert (got["a"]["count"], got["b"]["count"]) == (10, 2)
    assert got["a"]["breakdown"] == {"cpu": 9.5 * MS}
    assert node_values(got)["slow_path"] == (0, 30 * MS)
    # A box holding nothing: B is empty, A is everything.
    empty = diff(shop, f"box={t + 9000},{t + 12000},500,600")
    assert (empty["a"]["count"], empty["b"]["count"], empty["rightTicks"]) == (15, 0, 0)


@pytest.mark.parametrize("query", [
    "", "service=",
    "service=shop&box=1,2,3", "service=shop&box=a,b,c,d", "service=shop&box=2,1,0,5",
    "service=shop&box=1,2,5,0", "service=shop&box=1,2,0,nan", "service=shop&box=-1,2,0,5",
    "service=shop&box=1,2,0,1e300",
    "service=shop&box=1,2,0,5&slow_ms=3", "service=shop&slow_ms=5&fast_ms=5",
    "service=shop&slow_ms=inf", "service=shop&fast_ms=-1", "service=shop&type=heap",
    "service=shop&limit=0", "service=shop&limit=5001", "service=shop&maxNodes=x",
    "service=shop&from=now&until=now-1h",
])
def test_bad_parameters_are_400(app, query):
    r = app.test_client().get(f"/api/v1/traces/diff?{query}")
    assert r.status_code == 400, r.data
    assert "\n" not in r.get_json()["error"]


def test_no_requests_is_an_empty_comparison(app):
    got = diff(app, "endpoint=GET /checkout")
    assert (got["a"]["count"], got["b"]["count"], got["leftTicks"], got["rightTicks"]) == \
        (0, 0, 0, 0)


def test_scatter_points_and_heatmap(shop):
    c = shop.test_client()
    got = c.get(f"/api/v1/traces/scatter?service=shop&{RNG}").get_json()
    assert got["mode"] == "points" and got["total"] == 15
    by_id = {p[2]: p for p in got["points"]}
    assert by_id[ids(11)[0]] == [(T0 + 11_000 * MS) / 1e6, 110.0, ids(11)[0], "GET /checkout"]
    only = c.get(f"/api/v1/traces/scatter?service=shop&{RNG}&endpoint=/health").get_json()
    assert only["total"] == 3 and {p[3] for p in only["points"]} == {"GET /health"}
    st = shop.extensions["flamecam"]
    lo, hi = T0 - 10**10, T0 + 6 * 10**10
    dense = scatter(st.traces, "anonymous", "shop", lo, hi, max_points=5)
    hm = dense["heatmap"]
    assert dense["mode"] == "heatmap" and dense["total"] == 15 and sum(hm["counts"]) == 15
    assert len(hm["counts"]) == hm["x_bins"] * hm["y_bins"]
    assert hm["from_ms"] == T0 / 1e6 and hm["max_ms"] > 110
    # The slowest requests stay clickable as points.
    assert dense["points"][0][1] == 110.0 and dense["points"][1][1] == 100.0
    # The two slow requests fall in the top rows of the grid, nothing else does.
    top = sum(hm["counts"][hm["x_bins"] * (hm["y_bins"] * 3 // 4):])
    assert top == 2


def test_trace_services(shop):
    c = shop.test_client()
    assert c.get(f"/api/v1/trace-services?{RNG}").get_json() == {"services": ["shop"]}
    assert c.get("/api/v1/trace-services?from=now-1m&until=now").get_json() == {"services": []}
    assert c.get("/api/v1/trace-services?from=x").status_code == 400
