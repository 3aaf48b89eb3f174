"""The HTTP query API (docs/CONTRACTS.md) and Pyroscope's render endpoints."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import replace

from flask import Blueprint, Response, current_app, jsonify, request

from profiler.formats.proto import querier_pb2
from profiler.model import BUILTIN_TYPES, FRAME_KINDS, OFFCPU_REASONS, PROFILE_TYPES, profile_type
from profiler.query import density, export, groups, packed, tracks
from profiler.query.engine import (
    MAX_EVENTS,
    TYPE_LABEL,
    QueryEngine,
    Selection,
    default_step,
    pyroscope_id,
)
from profiler.query.flamegraph import MAX_NODES
from profiler.query.selector import parse_selector
from profiler.query.traces import TraceQueryError, scoped
from profiler.query.waits import (
    WaitFilter,
    offwake,
    offwake_samples,
    wait_samples,
    waits_by_target,
    waits_on,
)
from profiler.web import connect
from profiler.web.context import state, tenant
from profiler.web.errors import BadRequest
from profiler.web.limits import decode_body
from profiler.web.params import INT64_MAX, QueryError, parse_duration, parse_int, parse_range

bp = Blueprint("query", __name__)

_PID_MAX = (1 << 32) - 1  # pids and tids are stored as uint32

# Where `server.create_app` puts the app's QueryEngine (one per app, over its store).
ENGINE = "flamecam.query"


def _engine() -> QueryEngine:
    return current_app.extensions[ENGINE]


def _scoped(sel: Selection) -> tuple[QueryEngine, Selection]:
    """The trace's engine when `trace_id` is given (docs/CONTRACTS.md), else the store's."""
    try:
        return scoped(_engine(), state().traces, sel, request.args)
    except TraceQueryError as e:
        raise BadRequest(400, str(e)) from None


def _int_arg(name: str, default: int | None = None, *names: str,
             hi: int = INT64_MAX) -> int | None:
    """The first of `name`, `names` given, as an integer in [0, hi] (400 otherwise)."""
    for key in (name, *names):
        v = request.args.get(key)
        if v not in (None, ""):
            try:
                return parse_int(v, key, 0, hi)
            except QueryError as e:
                raise BadRequest(400, str(e)) from None
    return default


def _selection(prefix: str = "", query_key: str = "query") -> Selection:
    try:
        q = request.args.get(prefix + ("Query" if prefix else query_key))
        sel = parse_selector(q)
        if prefix:
            lo, hi = parse_range(request.args, prefix + "From", prefix + "Until")
        else:
            lo, hi = parse_range(request.args)
    except QueryError as e:
        raise BadRequest(400, str(e)) from None
    return Selection(tenant(), sel, lo, hi, _int_arg("pid", hi=_PID_MAX),
                     _int_arg("tid", hi=_PID_MAX))


def _max_nodes() -> int:
    return _int_arg("maxNodes", 0, "max-nodes", "max_nodes", hi=MAX_NODES) or 0


@bp.get("/api/v1/meta")
def meta():
    """The API's vocabulary, so clients (the web UI) need no copy of it."""
    return jsonify(profile_types=[*PROFILE_TYPES, "wall"], offcpu_reasons=list(OFFCPU_REASONS),
                   frame_kinds=list(FRAME_KINDS),
                   types=[t.as_json() for t in BUILTIN_TYPES.values()])


@bp.get("/api/v1/profile-types")
def profile_types_route():
    """The types of the series with samples in the range (what a type picker offers)."""
    return jsonify(types=[t.as_json() for t in _engine().profile_types(tenant(), *_range())])


@bp.post("/querier.v1.QuerierService/ProfileTypes")
@bp.post("/pyroscope/querier.v1.QuerierService/ProfileTypes")
def connect_profile_types():
    """Pyroscope's ProfileTypes (Grafana's data source asks it first): the stored types.

    `start` and `end` are Unix ms; 0 (unset) means the last hour and now.
    """
    ct = request.content_type or ""
    try:
        req = connect.parse_message(decode_body(request, state().config.limits), ct,
                                    querier_pb2.ProfileTypesRequest())
        now_ms = time.time_ns() // 1_000_000
        lo, hi = req.start or now_ms - 3_600_000, req.end or now_ms
        if lo < 0 or hi <= lo or hi > INT64_MAX // 1_000_000:
            raise BadRequest(400, "end must be after start (Unix milliseconds)")
    except BadRequest as e:
        return connect.error(e)
    resp = querier_pb2.ProfileTypesResponse()
    for t in _engine().profile_types(tenant(), lo * 1_000_000, hi * 1_000_000):
        resp.profile_types.add(ID=pyroscope_id(t.id), name=t.name, sample_type=t.sample_type,
                               sample_unit=t.sample_unit, period_type=t.period_type,
                               period_unit=t.period_unit)
    return connect.reply(resp, ct)


def _range() -> tuple[int, int]:
    """`from` and `until` (a 400 when unreadable)."""
    try:
        return parse_range(request.args)
    except QueryError as e:
        raise BadRequest(400, str(e)) from None


@bp.get("/api/v1/labels")
def labels():
    return jsonify(names=_engine().label_names(tenant(), *_range()))


@bp.get("/api/v1/labels/<name>/values")
def label_values(name: str):
    try:
        lo, hi = parse_range(request.args)
        sel = parse_selector(request.args.get("query")) if request.args.get("query") else None
    except QueryError as e:
        raise BadRequest(400, str(e)) from None
    return jsonify(values=_engine().label_values(tenant(), name, lo, hi, sel))


@bp.get("/api/v1/series")
def series():
    sel = _selection()
    rows = _engine().series(sel.tenant, sel.selector, sel.lo, sel.hi)
    return jsonify(series=[{"labels": {**s.labels, TYPE_LABEL: pyroscope_id(s.kind)},
                            "kind": s.kind} for s in rows])


@bp.get("/api/v1/losses")
def losses():
    """Samples (and events) agents reported lost in the range: the UI says so."""
    return jsonify(losses=_engine().losses(_selection()))


@bp.get("/api/v1/render")
@bp.get("/pyroscope/render")
def render():
    eng, sel = _scoped(_selection())
    fmt = request.args.get("format", "json")
    if fmt in ("pprof", "folded", "collapsed", "speedscope"):
        return _export(eng, sel, fmt)
    if fmt != "json":
        raise BadRequest(400, f"unsupported format {fmt!r}")
    only, view = _wait_filter(), _view()
    if view:
        out = offwake(eng, sel, only, _max_nodes())
    else:
        out = eng.render(sel, _max_nodes(), waits_on(eng, sel, only) if only else None)
    out["kinds_in_query"] = list(sel.selector.kinds)
    if len(sel.selector.kinds) == 1:
        with suppress(ValueError):
            out["profile_type"] = profile_type(sel.selector.kinds[0]).as_json()
    return jsonify(out)


def _view() -> str:
    """`view=offwake`: the off-wake graph (absent: the selection's own)."""
    view = request.args.get("view", "")
    if view not in ("", "offwake"):
        raise BadRequest(400, "view must be offwake or absent")
    return view


def _shape() -> export.StackShape:
    """`focus` and `hide` (each repeatable): the graph's frame-menu changes."""
    focus, hide = request.args.getlist("focus"), request.args.getlist("hide")
    for names in (focus, hide):
        if len(names) > export.MAX_SHAPE_NAMES or any(
                not n or len(n) > export.MAX_NAME_CHARS for n in names):
            raise BadRequest(400, f"focus and hide take at most {export.MAX_SHAPE_NAMES} "
                             f"names of 1 to {export.MAX_NAME_CHARS} characters")
    return export.StackShape(tuple(focus), frozenset(hide))


def _export(eng: QueryEngine, sel: Selection, fmt: str) -> Response:
    """The selection as a file; `target`/`syscall` and `view` choose its part
    as they do a rendered graph (then of its samples' waits, weighed alike),
    `focus`/`hide` shape its stacks as the graph's frame menu did."""
    only, view, shape = _wait_filter(), _view(), _shape()
    if fmt not in ("pprof", "folded", "collapsed", "speedscope"):
        raise BadRequest(400, f"unsupported format {fmt!r}")
    if view and fmt not in ("folded", "collapsed", "pprof"):
        raise BadRequest(400, "the off-wake view exports as pprof or folded")
    if only is None and not view:
        if fmt in ("folded", "collapsed"):
            return _folded_file(eng.folded(sel, shape.names if shape else None))
        samples = shape.samples(eng.samples(sel))
    elif view:
        samples = shape.samples(offwake_samples(eng.samples(sel), only))
        if fmt != "pprof":  # its reason frame is in the stack, under the waker's part
            return _folded_file(export.to_folded(
                samples, lambda s: [f.folded_name() for f in s.stack]))
    else:
        samples = shape.samples(wait_samples(eng.samples(sel), only))
        if fmt in ("folded", "collapsed"):
            return _folded_file(export.to_folded(samples))
    if fmt == "pprof":
        return Response(export.to_pprof(samples, sel.lo, sel.hi),
                        mimetype="application/octet-stream",
                        headers={"Content-Disposition": "attachment; filename=flamecam.pb.gz"})
    return Response(export.to_speedscope(samples, sel.lo, sel.hi), mimetype="application/json",
                    headers={"Content-Disposition":
                             "attachment; filename=flamecam.speedscope.json"})


def _folded_file(text: str) -> Response:
    return Response(text, mimetype="text/plain",
                    headers={"Content-Disposition": "attachment; filename=flamecam.folded"})


@bp.get("/api/v1/export")
def export_route():
    eng, sel = _scoped(_selection())
    return _export(eng, sel, request.args.get("format", "pprof"))


@bp.get("/api/v1/render-diff")
@bp.get("/pyroscope/render-diff")
def render_diff():
    left = _selection("left")
    right = _selection("right")
    weights = request.args.get("weights", "") == "1"  # each node's weight (significance.py)
    return jsonify(_engine().diff(left, right, _max_nodes(), weights))


@bp.get("/api/v1/top")
def top():
    eng, sel = _scoped(_selection())
    limit = _int_arg("limit", 100, hi=1_000_000) or 100
    return jsonify(functions=eng.top(sel, limit), units=eng.units(sel))


@bp.get("/api/v1/timeline")
def timeline():
    eng, sel = _scoped(_selection())
    step = request.args.get("step")
    if step:
        try:
            step_ns = parse_duration(step, "step")
        except QueryError as e:
            raise BadRequest(400, str(e)) from None
        step_ns = max(step_ns, (sel.hi - sel.lo) // 10_000, 10**6)
    else:
        step_ns = default_step(sel.lo, sel.hi)
    if step_ns % 10**9 == 0:  # align to the step, as Pyroscope does, so buckets line up
        sel = replace(sel, lo=sel.lo - sel.lo % step_ns)
    return jsonify(step_ms=step_ns // 10**6, points=eng.timeline(sel, step_ns),
                   units=eng.units(sel))


@bp.get("/api/v1/groups")
def groups_route():
    """The selection by process or thread: totals and a value per step each."""
    sel = _selection()
    by = request.args.get("by", "")
    if by not in groups.GROUP_BY:
        raise BadRequest(400, f"by must be one of {', '.join(groups.GROUP_BY)}")
    step_ns = default_step(sel.lo, sel.hi)
    sel = replace(sel, lo=sel.lo - sel.lo % step_ns)  # steps line up with the timeline's
    return jsonify(groups.breakdown(_engine(), sel, by, _int_arg("limit", 30, hi=1000) or 30,
                                    step_ns))


@bp.get("/api/v1/threads")
def threads():
    frame = request.args.get("frame")
    if frame is not None:  # the threads through one frame (no trace scope)
        if not frame or len(frame) > 4096:
            raise BadRequest(400, "frame must be 1 to 4096 characters")
        return jsonify(threads=_engine().frame_threads(_selection(), frame,
                                                       _int_arg("limit", 20, hi=1000) or 20))
    eng, sel = _scoped(_selection())
    return jsonify(threads=eng.threads(sel, reasons=request.args.get("reasons") == "1"))


def _wait_filter() -> WaitFilter | None:
    """`target=T&syscall=S` (either may be empty): only the waits on that target
    by that system call, as a row of the waits table names them."""
    if "target" not in request.args and "syscall" not in request.args:
        return None
    target, syscall = request.args.get("target", ""), request.args.get("syscall", "")
    if len(target) > 4096 or len(syscall) > 64:
        raise BadRequest(400, "target must be at most 4096 characters, syscall 64")
    return WaitFilter(target, syscall)


@bp.get("/api/v1/waits")
def waits():
    """Kept off-CPU intervals by what they waited on, most waited first."""
    eng, sel = _scoped(_selection())
    return jsonify(waits=waits_by_target(eng, sel, _int_arg("limit", 100, hi=1_000_000)))


@bp.get("/api/v1/thread-timeline")
def thread_timeline():
    eng, sel = _scoped(_selection())
    if sel.tid is None:
        raise BadRequest(400, "tid is required")
    return jsonify(eng.thread_timeline(sel))



def _tids() -> list[int] | None:
    """`tids=1,2,3`: the threads of a thread-tracks request (at most MAX_TIDS)."""
    raw = request.args.get("tids", "").strip()
    if not raw:
        return None
    parts = raw.split(",")
    if len(parts) > tracks.MAX_TIDS:
        raise BadRequest(400, f"at most {tracks.MAX_TIDS} tids")
    try:
        return [parse_int(p.strip(), "tids", 0, _PID_MAX) for p in parts]
    except QueryError as e:
        raise BadRequest(400, str(e)) from None


@bp.get("/api/v1/thread-events")
def thread_events():
    eng, sel = _scoped(_selection())
    limit = _int_arg("limit", MAX_EVENTS, hi=tracks.MAX_LIMIT)
    if limit < 1:
        raise BadRequest(400, f"limit must be between 1 and {tracks.MAX_LIMIT}")
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "columns"):
        raise BadRequest(400, "format must be json or columns")
    tids = _tids()
    if tids is None and sel.tid is not None:
        tids = [sel.tid]
    answer = eng.thread_events(sel, tids, limit)
    if fmt == "columns":  # typed arrays the page reads in place (profiler/query/packed.py)
        return Response(packed.pack_columns(answer), mimetype=packed.MEDIA_TYPE)
    return jsonify(answer)


@bp.get("/api/v1/thread-density")
def thread_density():
    """Every thread's time per bucket and reason: what "all threads over time" draws."""
    if "trace_id" in request.args:
        raise BadRequest(400, "thread-density has no trace scope (use thread-events)")
    sel = _selection()
    buckets = _int_arg("buckets", 400, hi=10**6)
    limit = _int_arg("limit", 2000, hi=10**6)
    try:
        density.check_size(buckets, limit)
    except ValueError as e:
        raise BadRequest(400, str(e)) from None
    return jsonify(density.thread_density(_engine(), sel, buckets, limit))
