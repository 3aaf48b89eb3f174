"""`POST /v1/traces`: OTLP/HTTP, as the OpenTelemetry SDK exporters send it.

Answers as the OTLP specification says exporters expect: 200 with an
`ExportTraceServiceResponse` (partial_success when spans were dropped), 400 for
a malformed request, 403 for a tenant that has no profiles, 409 when a span is
stored already with other data (an unchanged one is a resend, kept once, as
OTLP expects), 413 too large, 415 unknown Content-Type; 429 and 503 with
`Retry-After` when busy or when the database is down, which exporters retry.
Every body is in the request's encoding.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, Response, request

from profiler.ingest import otlp
from profiler.store import SpanConflict, StoreUnavailable
from profiler.web.context import State, state, tenant
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
        _check_tenant(st)
        body = decode_body(request, st.config.limits)
        dec = otlp.decode(otlp.parse(body, as_json), st.config.limits, time.time_ns())
        if dec.spans:
            if not _WRITERS.acquire(timeout=WAIT_S):
                return _error(429, "too many span writes at once, retry later", as_json)
            try:
                new = st.traces.write_spans(tenant(), dec.spans, dec.remote_parent)
            finally:
                _WRITERS.release()
            if new < len(dec.spans):  # OTLP expects resends; say so, as a warning
                dec.warnings.append(f"{len(dec.spans) - new} spans already stored "
                                    "(a resend?), kept once")
    except BadRequest as e:
        return _error(e.status, e.message, as_json)
    except SpanConflict as e:
        return _error(409, str(e), as_json)
    except StoreUnavailable as e:
        log.warning("span write failed: %s", e)
        return _error(503, "database unavailable, retry later", as_json)
    return Response(otlp.response_body(dec, as_json), status=200,
                    mimetype=otlp.JSON if as_json else otlp.PROTOBUF)


def _check_tenant(st: State) -> None:
    """With tenants, spans join a tenant's profiles: a tenant with none is refused.

    A mistyped X-Scope-OrgID in an exporter would otherwise store traces that no
    profile can ever join, and nobody would notice. A tenant counts once its
    first profile is stored (an agent's first push); the answer is cached.
    """
    if not st.config.multitenancy:
        return
    org = tenant()
    if org in st.tenants_with_profiles:
        return
    if not st.store.has_profiles(org):
        raise BadRequest(403, f"tenant {org!r} has no profiles here: spans are accepted "
                              "for tenants that send profiles (check X-Scope-OrgID)")
    st.tenants_with_profiles.add(org)


def _error(status: int, message: str, as_json: bool) -> Response:
    resp = Response(otlp.status_body(status, message, as_json), status=status,
                    mimetype=otlp.JSON if as_json else otlp.PROTOBUF)
    if status in (429, 503):
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp
