"""Request durations over time: the points of a trace scatter, or a heatmap when dense.

Up to `max_points` requests come as points (each one a trace to open). Past
that, the requests are counted into a grid over their own extent (start time
by duration), and the slowest ones still come as points, so the outliers stay
one click away whatever the traffic.
"""

from __future__ import annotations

from profiler.store import RootFilter, TraceReader

MAX_POINTS = 3000
EXEMPLARS = 300
X_BINS, Y_BINS = 120, 40


def _point(r) -> list:
    return [r.start_ns / 1e6, r.duration_ns / 1e6, r.trace_id, r.name]


def scatter(traces: TraceReader, tenant: str, service: str, lo: int, hi: int,
            endpoint: str = "", max_points: int = MAX_POINTS) -> dict:
    """`{"mode": "points", "total", "points": [[start_ms, duration_ms, trace_id, root]]}`
    or `{"mode": "heatmap", ..., "heatmap": {"from_ms", "until_ms", "max_ms", "x_bins",
    "y_bins", "counts"}}` with the slowest requests as `points`."""
    roots, total = traces.select_roots(tenant, RootFilter(service, lo, hi, endpoint),
                                       max_points)
    if total <= max_points:
        return {"mode": "points", "total": total, "points": [_point(r) for r in roots]}
    pts = traces.root_points(tenant, service, lo, hi, endpoint)
    t0 = min(t for t, _ in pts)
    t1 = max(t for t, _ in pts) + 1
    dmax = max(d for _, d in pts) + 1
    counts = [0] * (X_BINS * Y_BINS)
    for t, d in pts:
        x = (t - t0) * X_BINS // (t1 - t0)
        y = d * Y_BINS // dmax
        counts[y * X_BINS + x] += 1
    slowest = traces.roots(tenant, service, lo, hi, endpoint=endpoint, limit=EXEMPLARS)
    return {"mode": "heatmap", "total": len(pts), "points": [_point(r) for r in slowest],
            "heatmap": {"from_ms": t0 / 1e6, "until_ms": t1 / 1e6, "max_ms": dmax / 1e6,
                        "x_bins": X_BINS, "y_bins": Y_BINS, "counts": counts}}
