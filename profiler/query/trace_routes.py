"""The trace API: trace lists, one trace, endpoints (docs/CONTRACTS.md)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from profiler.query import traces as tq
from profiler.web.context import state, tenant
from profiler.web.errors import BadRequest
from profiler.web.params import QueryError, parse_range

bp = Blueprint("traces", __name__)
MAX_LIMIT = 10_000


def _service_range() -> tuple[str, int, int]:
    service = request.args.get("service", "").strip()
    if not service:
        raise BadRequest(400, "service is required")
    try:
        lo, hi = parse_range(request.args)
    except QueryError as e:
        raise BadRequest(400, str(e)) from None
    return service, lo, hi


def _number(name: str, default: float, lo: float, hi: float) -> float:
    v = request.args.get(name)
    if v in (None, ""):
        return default
    try:
        n = float(v)
    except ValueError:
        raise BadRequest(400, f"{name} must be a number") from None
    if not lo <= n <= hi:
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
