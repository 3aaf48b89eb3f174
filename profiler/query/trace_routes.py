"""The trace API: trace lists, one trace, endpoints (docs/CONTRACTS.md)."""

from __future__ import annotations

import math

from flask import Blueprint, current_app, jsonify, request

from profiler.query import traces as tq
from profiler.query.compare import KINDS, MAX_SIDE, Comparison, compare
from profiler.query.flamegraph import MAX_NODES
from profiler.query.routes import ENGINE
from profiler.query.scatter import scatter
from profiler.store import RootBox
from profiler.web.context import state, tenant
from profiler.web.errors import BadRequest
from profiler.web.params import INT64_MAX, QueryError, parse_range

bp = Blueprint("traces", __name__)
MAX_LIMIT = 10_000


def _range() -> tuple[int, int]:
    try:
        return parse_range(request.args)
    except QueryError as e:
        raise BadRequest(400, str(e)) from None


def _service_range() -> tuple[str, int, int]:
    service = request.args.get("service", "").strip()
    if not service:
        raise BadRequest(400, "service is required")
    return service, *_range()


def _number(name: str, default: float, lo: float, hi: float) -> float:
    v = request.args.get(name)
    if v in (None, ""):
        return default
    try:
        n = float(v)
    except ValueError:
        raise BadRequest(400, f"{name} must be a number") from None
    if not math.isfinite(n) or not lo <= n <= hi:
        raise BadRequest(400, f"{name} must be between {lo:g} and {hi:g}")
    return n


@bp.get("/api/v1/traces")
def trace_list():
    service, lo, hi = _service_range()
    rows = tq.trace_list(state().traces, tenant(), service, lo, hi,
                         endpoint=request.args.get("endpoint", "").strip(),
                         min_ms=_number("min_ms", 0, 0, 1e12),
                         limit=int(_number("limit", 100, 1, MAX_LIMIT)))
    return jsonify(traces=rows)


@bp.get("/api/v1/trace/<trace_id>")
def trace_view(trace_id: str):
    try:
        trace_id = tq.check_trace_id(trace_id)
    except tq.TraceQueryError as e:
        raise BadRequest(400, str(e)) from None
    view = tq.trace_view(state().traces, tenant(), trace_id)
    if view is None:
        raise BadRequest(404, f"trace {trace_id} not found")
    return jsonify(view)


@bp.get("/api/v1/endpoints")
def endpoints():
    service, lo, hi = _service_range()
    return jsonify(endpoints=tq.endpoints(state().traces, tenant(), service, lo, hi))


@bp.get("/api/v1/traces/scatter")
def trace_scatter():
    service, lo, hi = _service_range()
    return jsonify(scatter(state().traces, tenant(), service, lo, hi,
                           request.args.get("endpoint", "").strip()))


@bp.get("/api/v1/trace-services")
def trace_services():
    return jsonify(services=state().traces.services(tenant(), *_range()))


_MS_MAX = INT64_MAX / 1e6  # a time or duration in ms that still fits int64 ns


def _box() -> RootBox | None:
    """`box=FROM_MS,UNTIL_MS,MIN_MS,MAX_MS`: roots started in [from, until) lasting
    [min, max] ms (Unix ms for the times)."""
    v = request.args.get("box", "").strip()
    if not v:
        return None
    try:
        parts = [float(p) for p in v.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not all(math.isfinite(p) and 0 <= p <= _MS_MAX for p in parts):
        raise BadRequest(400, "box must be FROM_MS,UNTIL_MS,MIN_MS,MAX_MS (non-negative numbers)")
    t0, t1, d0, d1 = (int(p * 1e6) for p in parts)
    if t0 >= t1 or d0 > d1:
        raise BadRequest(400, "box needs FROM_MS < UNTIL_MS and MIN_MS <= MAX_MS")
    return RootBox(t0, t1, d0, d1)


@bp.get("/api/v1/traces/diff")
def traces_diff():
    """Slow against fast requests of a service (or an endpoint), per request."""
    service, lo, hi = _service_range()
    box = _box()
    slow = _number("slow_ms", -1, 0, _MS_MAX)
    fast = _number("fast_ms", -1, 0, _MS_MAX)
    if box is not None and (slow >= 0 or fast >= 0):
        raise BadRequest(400, "give either box or slow_ms/fast_ms, not both")
    if slow >= 0 and fast >= 0 and fast >= slow:
        raise BadRequest(400, "fast_ms must be below slow_ms")
    kind = request.args.get("type", "wall")
    if kind not in KINDS:
        raise BadRequest(400, f"type must be one of {', '.join(KINDS)}")
    c = Comparison(service, lo, hi, request.args.get("endpoint", "").strip(),
                   int(slow * 1e6) if slow >= 0 else None,
                   int(fast * 1e6) if fast >= 0 else None, box, kind,
                   int(_number("limit", 500, 1, MAX_SIDE)))
    max_nodes = int(_number("maxNodes", 0, 0, MAX_NODES))
    return jsonify(compare(current_app.extensions[ENGINE], state().traces, tenant(), c,
                           max_nodes))
