"""`POST /v1/traces`: OTLP/HTTP, as the OpenTelemetry SDK exporters send it.

Answers as the OTLP specification says exporters expect: 200 with an
`ExportTraceServiceResponse` (partial_success when spans were dropped), 400 for
a malformed request, 413 too large, 415 unknown Content-Type; 429 and 503 with
`Retry-After` when busy or when the database is down, which exporters retry.
Every body is in the request's encoding.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, Response, request

from profiler.ingest import otlp
from profiler.store import StoreUnavailable
from profiler.web.context import state, tenant
from profiler.web.errors import BadRequest
from profiler.web.limits import decode_body

log = logging.getLogger(__name__)
bp = Blueprint("otlp", __name__)

# Span writes waiting for the database at once; past it, ask exporters to back off.
_WRITERS = threading.BoundedSemaphore(8)
WAIT_S = 5.0
RETRY_AFTER_S = 2


@bp.post("/v1/traces")
def traces():
    ct = (request.content_type or "").split(";")[0].strip().lower()
    as_json = ct == otlp.JSON
    if ct not in (otlp.PROTOBUF, otlp.JSON):
        return _error(415, f"unsupported Content-Type {ct!r}; use {otlp.PROTOBUF} or "
                           f"{otlp.JSON}", True)
    st = state()
    try:
        body = decode_body(request, st.config.limits)
        dec = otlp.decode(otlp.parse(body, as_json), st.config.limits, time.time_ns())
        if dec.spans:
            if not _WRITERS.acquire(timeout=WAIT_S):
                return _error(429, "too many span writes at once, retry later", as_json)
            try:
                st.traces.write_spans(tenant(), dec.spans, dec.remote_parent)
            finally:
                _WRITERS.release()
    except BadRequest as e:
        return _error(e.status, e.message, as_json)
    except StoreUnavailable as e:
        log.warning("span write failed: %s", e)
        return _error(503, "database unavailable, retry later", as_json)
    return Response(otlp.response_body(dec, as_json), status=200,
                    mimetype=otlp.JSON if as_json else otlp.PROTOBUF)


def _error(status: int, message: str, as_json: bool) -> Response:
    resp = Response(otlp.status_body(status, message, as_json), status=status,
                    mimetype=otlp.JSON if as_json else otlp.PROTOBUF)
    if status in (429, 503):
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp
