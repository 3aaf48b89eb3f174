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
    grid = traces.root_grid(tenant, service, lo, hi, X_BINS, Y_BINS, endpoint)
    if grid is None:  # all gone since the count
        return {"mode": "points", "total": 0, "points": []}
    slowest = traces.roots(tenant, service, lo, hi, endpoint=endpoint, limit=EXEMPLARS)
    return {"mode": "heatmap", "total": sum(grid["counts"]),
            "points": [_point(r) for r in slowest],
            "heatmap": {"from_ms": grid["from_ns"] / 1e6, "until_ms": grid["until_ns"] / 1e6,
                        "max_ms": grid["max_ns"] / 1e6, "x_bins": X_BINS, "y_bins": Y_BINS,
                        "counts": grid["counts"]}}
