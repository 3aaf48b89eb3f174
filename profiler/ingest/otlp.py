"""OTLP/HTTP traces: decoding and validating `ExportTraceServiceRequest`s.

Both encodings the OTLP specification defines are read with the official
`opentelemetry-proto` types: binary protobuf, and JSON with the OTLP mapping
(hex trace and span ids, lowerCamelCase names, int64 as strings). A request
with a malformed span (wrong id length, all-zero id, end before start, time
past int64, a runaway attribute map, the same span twice) is refused whole; an
attribute map within bounds but past what is stored per span keeps the keys
users filter by and drops the rest, reported in `partial_success`; spans
outside the
retention window are dropped and counted in `partial_success`, as the
specification asks for spans a server accepts the request but not the data of.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags

from profiler.model import Span
from profiler.web.errors import BadRequest
from profiler.web.limits import Limits

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

MAX_SPANS = 100_000             # per request (the SDK's batch processor sends 512)
MAX_SPAN_ATTRIBUTES = 1000      # more is refused (the SDK's own limit is 128)
MAX_ATTRIBUTE_BYTES = 64 << 10  # a span's attribute map past this is refused
MAX_STORED_ATTRIBUTES = 4096    # bytes of keys and values kept per span
# Attributes users filter traces by: kept ahead of any other within the budget.
KEPT_ATTRIBUTES = ("http.route", "http.request.method", "http.method",
                   "http.response.status_code", "http.status_code", "db.system",
                   "db.system.name", "rpc.method", "rpc.service", "rpc.system")
MAX_NAME = 1024
MAX_SERVICE = 256

_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUSES = ("unset", "ok", "error")
_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | \
    SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_I64 = (1 << 63) - 1
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 409: 6, 413: 8, 415: 3, 429: 8, 503: 14}


@dataclass
class Decoded:
    """Spans to store, and what the response must tell the exporter."""

    spans: list[Span] = field(default_factory=list)
    remote_parent: set[str] = field(default_factory=set)  # span ids of local roots
    rejected: int = 0
    warnings: list[str] = field(default_factory=list)


def parse(body: bytes, as_json: bool) -> ExportTraceServiceRequest:
    """The request message, from protobuf or OTLP JSON bytes (400 if malformed)."""
    req = ExportTraceServiceRequest()
    if not as_json:
        try:
            req.ParseFromString(body)
        except (DecodeError, RecursionError) as e:
            raise BadRequest(400, f"malformed OTLP protobuf: {e}") from None
        return req
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise BadRequest(400, f"malformed OTLP JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadRequest(400, "malformed OTLP JSON: not an object")
    _hex_ids_to_base64(doc)
    try:
        json_format.ParseDict(doc, req, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as e:
        raise BadRequest(400, f"malformed OTLP JSON: {e}") from None
    return req


def _hex_ids_to_base64(doc: dict) -> None:
    """OTLP JSON writes ids as hex where protobuf's JSON mapping expects base64."""
    for rs in _list(doc, "resourceSpans", "resource_spans"):
        for ss in _list(rs, "scopeSpans", "scope_spans"):
            for span in _list(ss, "spans"):
                _convert(span, ("traceId", "trace_id", "spanId", "span_id", "parentSpanId",
                                "parent_span_id"))
                for link in _list(span, "links"):
                    _convert(link, ("traceId", "trace_id", "spanId", "span_id"))


def _list(obj: object, *keys: str) -> list:
    if not isinstance(obj, dict):
        return []
    for k in keys:
        v = obj.get(k)
        if isinstance(v, list):
            return v
    return []


def _convert(obj: object, keys: tuple[str, ...]) -> None:
    if not isinstance(obj, dict):
        return
    for k in keys:
        v = obj.get(k)
        if isinstance(v, str):
            try:
                obj[k] = base64.b64encode(bytes.fromhex(v)).decode()
            except ValueError:
                raise BadRequest(400, f"{k} {v[:40]!r} is not hex") from None


def decode(req: ExportTraceServiceRequest, limits: Limits, now_ns: int) -> Decoded:
    """Validated spans of a request; BadRequest(400/413) refuses the whole request."""
    out = Decoded()
    n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    if n > MAX_SPANS:
        raise BadRequest(413, f"{n} spans in one request, at most {MAX_SPANS}")
    oldest = now_ns - limits.max_age_s * 10**9
    newest = now_ns + limits.max_future_s * 10**9
    seen: set[tuple[bytes, bytes]] = set()
    dropped_attrs = 0
    for rs in req.resource_spans:
        res = {kv.key: kv.value for kv in rs.resource.attributes}
        service = _text(res.get("service.name")) or "unknown_service"
        version = _text(res.get("service.version"))
        host = _text(res.get("host.name"))
        pid = _pid(res.get("process.pid"))
        for ss in rs.scope_spans:
            for sp in ss.spans:
                tid, sid, parent = _ids(sp)
                where = f"span {sid.hex()} of trace {tid.hex()}"
                start, end = sp.start_time_unix_nano, sp.end_time_unix_nano
                if start == 0 or end == 0:
                    raise BadRequest(400, f"{where}: start or end time missing")
                if start > _I64 or end > _I64:
                    raise BadRequest(400, f"{where}: time past int64")
                if end < start:
                    raise BadRequest(400, f"{where}: ends before it starts")
                _check_attributes(sp, where)
                if (tid, sid) in seen:
                    raise BadRequest(400, f"{where}: twice in one request")
                seen.add((tid, sid))
                if end < oldest or start > newest:
                    out.rejected += 1
                    continue
                attrs, dropped = _attributes(sp.attributes, limits)
                dropped_attrs += dropped
                out.spans.append(Span(
                    tid.hex(), sid.hex(), parent.hex(), sp.name[:MAX_NAME],
                    _KINDS[sp.kind] if 0 <= sp.kind < len(_KINDS) else "unspecified",
                    _STATUSES[sp.status.code] if 0 <= sp.status.code < 3 else "unset",
                    start, end, service[:MAX_SERVICE], version[:MAX_SERVICE], attrs, pid,
                    host[:MAX_SERVICE]))
                if parent and sp.flags & _REMOTE == _REMOTE:
                    out.remote_parent.add(sid.hex())
    if out.rejected:
        out.warnings.append(f"{out.rejected} spans outside the retention window "
                            f"({limits.max_age_s} s back, {limits.max_future_s} s ahead)")
    if dropped_attrs:
        out.warnings.append(f"{dropped_attrs} attributes dropped past "
                            f"{MAX_STORED_ATTRIBUTES} bytes per span")
    return out


def _check_attributes(sp, where: str) -> None:
    """Refuse a runaway attribute map; one within bounds is trimmed when stored."""
    if len(sp.attributes) > MAX_SPAN_ATTRIBUTES:
        raise BadRequest(400, f"{where}: {len(sp.attributes)} attributes, "
                              f"at most {MAX_SPAN_ATTRIBUTES}")
    if sp.ByteSize() > MAX_ATTRIBUTE_BYTES:  # one C call; the attributes' own size only past it
        size = sum(kv.ByteSize() for kv in sp.attributes)
        if size > MAX_ATTRIBUTE_BYTES:
            raise BadRequest(400, f"{where}: attributes of {size} bytes, "
                                  f"at most {MAX_ATTRIBUTE_BYTES}")


def _ids(sp) -> tuple[bytes, bytes, bytes]:
    tid, sid, parent = sp.trace_id, sp.span_id, sp.parent_span_id
    if len(tid) != 16 or not any(tid):
        raise BadRequest(400, f"trace id {tid.hex()!r}: not 16 bytes, or all zero")
    if len(sid) != 8 or not any(sid):
        raise BadRequest(400, f"span id {sid.hex()!r} of trace {tid.hex()}: not 8 bytes, "
                              "or all zero")
    if len(parent) not in (0, 8):
        raise BadRequest(400, f"parent span id {parent.hex()!r} of span {sid.hex()}: "
                              "not 8 bytes")
    return tid, sid, parent if any(parent) else b""


def _attributes(kvs, limits: Limits) -> tuple[tuple[tuple[str, str], ...], int]:
    """Attributes as strings: the filter keys first, then others within the budget."""
    by_key = {kv.key: kv.value for kv in kvs}
    order = [k for k in KEPT_ATTRIBUTES if k in by_key] + \
        [k for k in by_key if k not in KEPT_ATTRIBUTES]
    out = []
    budget = MAX_STORED_ATTRIBUTES
    for k in order:
        v = _text(by_key[k])[:limits.max_label_value]
        key = k[:limits.max_label_name]
        cost = len(key) + len(v)
        if cost > budget and k not in KEPT_ATTRIBUTES:
            continue
        budget -= cost
        out.append((key, v))
    return tuple(out), len(order) - len(out)


def _text(v: AnyValue | None, depth: int = 0) -> str:
    """An attribute value as the string users see and filter by."""
    if v is None:
        return ""
    w = v.WhichOneof("value")
    if w == "string_value":
        return v.string_value
    if w == "bool_value":
        return "true" if v.bool_value else "false"
    if w == "int_value":
        return str(v.int_value)
    if w == "double_value":
        return repr(v.double_value)
    if w == "bytes_value":
        return v.bytes_value.hex()
    if depth > 8:
        return ""
    if w == "array_value":
        return json.dumps([_text(x, depth + 1) for x in v.array_value.values])
    if w == "kvlist_value":
        return json.dumps({kv.key: _text(kv.value, depth + 1) for kv in v.kvlist_value.values})
    return ""


def _pid(v: AnyValue | None) -> int:
    if v is None:
        return 0
    if v.WhichOneof("value") == "int_value":
        return v.int_value if 0 < v.int_value <= _I64 else 0
    s = _text(v)
    return int(s) if s.isdigit() and len(s) < 19 else 0


def response_body(dec: Decoded, as_json: bool) -> bytes:
    """`ExportTraceServiceResponse`, with partial_success when spans were rejected."""
    resp = ExportTraceServiceResponse()
    if dec.rejected or dec.warnings:
        resp.partial_success.rejected_spans = dec.rejected
        resp.partial_success.error_message = "; ".join(dec.warnings)
    if as_json:
        return json.dumps(json_format.MessageToDict(resp)).encode()
    return resp.SerializeToString()


def status_body(status: int, message: str, as_json: bool) -> bytes:
    """The error body OTLP asks for: a google.rpc.Status in the request's encoding.

    The JSON form also carries `error`, the one-line reason every Flamecam
    endpoint answers with.
    """
    code = _GRPC_CODES.get(status, 2)
    if as_json:
        return json.dumps({"code": code, "message": message, "error": message}).encode()
    return status_pb2.Status(code=code, message=message).SerializeToString()

