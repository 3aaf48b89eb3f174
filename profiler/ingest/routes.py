"""Ingest endpoints: the agent protocol, Pyroscope Push and legacy /ingest."""

from __future__ import annotations

import threading

from flask import Blueprint, Response, jsonify, request

from profiler.formats.proto import push_pb2
from profiler.ingest import agent_batch, pyroscope, span_labels
from profiler.web import connect
from profiler.web.context import state, tenant
from profiler.web.errors import BadRequest
from profiler.web.limits import check_value_sums, decode_body, read_body

bp = Blueprint("ingest", __name__)

# Decoding and storing a push is CPU-bound Python: threads only contend for the
# GIL (8 threads made each push cost 8 ms of CPU instead of 5.6). One push at a
# time per process; queries still run on the other threads, and more server
# processes (`--workers`) use more cores.
_INGEST = threading.Lock()

@bp.post("/api/v1/agent/push")
def agent_push():
    st = state()
    ct = (request.content_type or "").split(";")[0].strip().lower()
    if ct not in (agent_batch.CONTENT_TYPE, "application/x-protobuf", "application/octet-stream"):
        raise BadRequest(415, f"unsupported Content-Type {ct!r}; use {agent_batch.CONTENT_TYPE}")
    body = decode_body(request, st.config.limits)
    batch = agent_batch.parse_batch(body, st.config.limits)
    check_value_sums(batch.batches)
    # Profile blocks, linked samples, thread spans and the agent's losses: one transaction.
    stored = st.traces.write_batch(tenant(), batch.batches, batch.linked, batch.thread_spans,
                                   agent_id=batch.agent_id, seq=batch.seq, losses=batch.lost,
                                   max_series=st.config.limits.max_series_per_tenant)
    return jsonify(accepted_samples=stored, duplicate=bool(batch.batches) and stored == 0)


@bp.post("/push.v1.PusherService/Push")
@bp.post("/pyroscope/push.v1.PusherService/Push")
def connect_push():
    st = state()
    try:
        body = decode_body(request, st.config.limits)
        msg = pyroscope.parse_push(body, request.content_type or "")
        with _INGEST:
            batches = pyroscope.push_batches(msg, st.config.limits)
            check_value_sums(batches)
            # pyroscope-otel's span labels: linked samples too, same transaction.
            st.traces.write_batch(tenant(), batches, span_labels.linked_samples(batches),
                                  max_series=st.config.limits.max_series_per_tenant)
    except BadRequest as e:
        return connect.error(e)
    return connect.reply(push_pb2.PushResponse(), request.content_type or "")


@bp.post("/ingest")
@bp.post("/pyroscope/ingest")
def legacy_ingest():
    st = state()
    limits = st.config.limits
    ct = (request.content_type or "").lower()
    files = None
    if ct.startswith("multipart/form-data"):
        read_body_len = request.content_length
        if read_body_len is not None and read_body_len > limits.max_body:
            raise BadRequest(413, f"body exceeds {limits.max_body} bytes")
        request.max_content_length = limits.max_body
        request.max_form_memory_size = limits.max_body
        files = {}
        for name, f in request.files.items():
            data = f.stream.read(limits.max_body + 1)
            if len(data) > limits.max_body:
                raise BadRequest(413, "multipart part too large")
            files[name] = data
        body = b""
    else:
        body = decode_body(request, limits) if request.headers.get("Content-Encoding") else \
            read_body(request, limits)
    batches = pyroscope.legacy_batches(request.args, body, ct, limits, files)
    check_value_sums(batches)
    st.store.write(tenant(), batches, max_series=limits.max_series_per_tenant)
    return Response("", status=200)
