"""Decoding of Flamecam's own agent batches (POST /api/v1/agent/push).

The body is a zstd-compressed `flamecam.agent.v1.Batch`: strings, frames and
stacks deduplicated once per batch, then per series columnar samples. Every
index is checked before anything is built, so a malformed batch is a 400.
Samples may carry the trace and span their thread served (`links`), and the
batch the intervals during which threads served spans (`thread_spans`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from profiler.formats.proto import AGENT_BATCH_CONTENT_TYPE, agent_pb2
from profiler.ingest.labels import check_time, validate_labels
from profiler.model import FRAME_KINDS, OFFCPU, PROFILE_TYPES, Frame, Sample, ThreadSpan
from profiler.store import SeriesBatch
from profiler.web.errors import BadRequest
from profiler.web.limits import Limits

CONTENT_TYPE = AGENT_BATCH_CONTENT_TYPE


@dataclass(frozen=True)
class AgentBatch:
    agent_id: str
    seq: int
    batches: list[SeriesBatch]
    lost: dict[str, int]
    thread_spans: list[ThreadSpan]

    def linked_samples(self) -> list[Sample]:
        """The samples that carry a trace id (for the trace store)."""
        return [s for b in self.batches for s in b.samples if s.trace_id]


def _links(msg: agent_pb2.Batch) -> list[tuple[str, str]]:
    """Batch.links as (trace id, span id) hex; entry 0 must be the empty "no link"."""
    out = [("", "")]
    for i, link in enumerate(msg.links):
        if i == 0:
            if link.trace_id or link.span_id:
                raise BadRequest(400, "links[0] must be empty (it means no link)")
            continue
        if len(link.trace_id) != 16 or len(link.span_id) != 8:
            raise BadRequest(400, "a link's trace_id must be 16 bytes and span_id 8 bytes")
        if not any(link.trace_id):
            raise BadRequest(400, "a link's trace_id is all zero")
        out.append((link.trace_id.hex(), link.span_id.hex()))
    return out


def _thread_spans(msg: agent_pb2.Batch, links: list[tuple[str, str]], strings: list[str],
                  limits: Limits, now: int) -> list[ThreadSpan]:
    if len(msg.thread_spans) > limits.max_samples:
        raise BadRequest(413, "too many thread spans in one batch")
    out = []
    for ts in msg.thread_spans:
        if not 0 < ts.link < len(links):
            raise BadRequest(400, "thread span references a missing link")
        if ts.thread >= len(strings):
            raise BadRequest(400, "thread span references a missing string")
        if ts.end_ns < ts.start_ns:
            raise BadRequest(400, "thread span ends before it starts")
        if ts.tid == 0:
            raise BadRequest(400, "thread span without a thread id")
        trace_id, span_id = links[ts.link]
        out.append(ThreadSpan(ts.pid, ts.tid, trace_id, span_id, ts.start_ns, ts.end_ns,
                              strings[ts.thread]))
    if out:
        check_time(min(t.start_ns for t in out), limits, now)
        check_time(max(t.end_ns for t in out), limits, now)
    return out


def parse_batch(body: bytes, limits: Limits) -> AgentBatch:
    msg = agent_pb2.Batch()
    try:
        msg.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError):
        raise BadRequest(400, "body is not a valid flamecam.agent.v1.Batch") from None
    if len(msg.agent_id) > 128:
        raise BadRequest(400, "agent_id longer than 128")
    strings = list(msg.strings)
    nstr = len(strings)
    frames = []
    for f in msg.frames:
        frames.append(Frame(f.name, f.kind if f.kind in FRAME_KINDS else "unknown", f.module,
                            f.build_id, f.offset, f.file, f.line))
    nframes = len(frames)
    stacks = []
    for st in msg.stacks:
        if any(i >= nframes for i in st.frame):
            raise BadRequest(400, "stack references a missing frame")
        stacks.append(tuple(frames[i] for i in st.frame))
    nstacks = len(stacks)
    links = _links(msg)
    if len(msg.series) > limits.max_series_per_request:
        raise BadRequest(400, "too many series in one batch")
    now = time.time_ns()
    out = []
    total = 0
    for ser in msg.series:
        if ser.kind not in PROFILE_TYPES:
            raise BadRequest(400, f"unknown series kind {ser.kind[:40]!r}")
        labels = validate_labels(sorted(ser.labels.items()), limits)
        n = len(ser.ts_delta_ns)
        cols = (ser.stack, ser.value_ns, ser.count, ser.pid, ser.tid, ser.thread, ser.comm,
                ser.reason, ser.cpu)
        if any(len(c) != n for c in cols) or len(ser.link) not in (0, n):
            raise BadRequest(400, "sample columns of unequal length")
        total += n
        if total > limits.max_samples * 4:
            raise BadRequest(413, "too many samples in one batch")
        if n == 0:
            continue
        if max(ser.stack) >= nstacks:
            raise BadRequest(400, "sample references a missing stack")
        if max(max(ser.thread), max(ser.comm), max(ser.reason)) >= nstr:
            raise BadRequest(400, "sample references a missing string")
        own = _sample_labels(ser.sample_labels, n, strings, limits)
        if ser.link and max(ser.link) >= len(links):
            raise BadRequest(400, "sample references a missing link")
        link = ser.link or None
        ts = msg.base_ns
        samples = []
        for k in range(n):
            ts += ser.ts_delta_ns[k]
            trace_id, span_id = links[link[k]] if link else ("", "")
            samples.append(Sample(ser.kind, ts, ser.pid[k], ser.tid[k], ser.cpu[k],
                                  strings[ser.comm[k]], strings[ser.thread[k]],
                                  stacks[ser.stack[k]], ser.value_ns[k], ser.count[k] or 1,
                                  strings[ser.reason[k]] if ser.kind == OFFCPU else "",
                                  dict(own[k]) if own else {}, trace_id=trace_id,
                                  span_id=span_id))
        check_time(min(s.ts_ns for s in samples), limits, now)
        check_time(max(s.ts_ns for s in samples), limits, now)
        out.append(SeriesBatch(ser.kind, labels, samples))
    return AgentBatch(msg.agent_id, msg.seq, out, dict(msg.lost),
                      _thread_spans(msg, links, strings, limits, now))


def _sample_labels(column, n: int, strings: list[str],
                   limits: Limits) -> list[dict[str, str]] | None:
    """Each sample's own labels from the `sample_labels` column (None when absent)."""
    if not len(column):
        return None
    if len(column) != n:
        raise BadRequest(400, "sample columns of unequal length")
    parsed: dict[int, dict[str, str]] = {0: {}}
    out = []
    for i in column:
        labels = parsed.get(i)
        if labels is None:
            if i >= len(strings):
                raise BadRequest(400, "sample references a missing string")
            try:
                labels = json.loads(strings[i])
            except (ValueError, RecursionError):
                raise BadRequest(400, "sample labels are not JSON") from None
            if (not isinstance(labels, dict) or len(labels) > limits.max_series_labels
                    or not all(isinstance(k, str) and isinstance(v, str)
                               and len(k) <= limits.max_label_name
                               and len(v) <= limits.max_label_value
                               for k, v in labels.items())):
                raise BadRequest(400, "sample labels must be a small JSON object of strings")
            parsed[i] = labels
        out.append(labels)
    return out
