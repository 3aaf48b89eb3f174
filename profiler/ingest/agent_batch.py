"""Decoding of Flamecam's own agent batches (POST /api/v1/agent/push).

The body is a zstd-compressed `flamecam.agent.v1.Batch`: strings, frames and
stacks deduplicated once per batch, then per series columnar samples. Every
index is checked before anything is built, so a malformed batch is a 400.
The columns stay columns: each series becomes one `ColumnBatch` over the
batch's own frame and stack tables, which all its series share, and each
sample's own labels (`sample_labels`) go into its `labels` column. Samples
linked to a trace's span (the per-sample `link` column, an index into
`Batch.links`) are few: the decoder makes `Sample`s of just those rows
(`AgentBatch.linked`) for the trace store, with the batch's `thread_spans`
(when threads served spans); every row, linked or not, goes to the profile
store as columns.
"""

from __future__ import annotations

import json
import re
import time
from array import array
from dataclasses import dataclass
from itertools import accumulate

from google.protobuf.message import DecodeError

from profiler.formats.proto import AGENT_BATCH_CONTENT_TYPE, agent_pb2
from profiler.ingest.labels import check_time, validate_labels
from profiler.model import FRAME_KINDS, OFFCPU, PROFILE_TYPES, Frame, Sample, ThreadSpan
from profiler.store import AgentLoss
from profiler.store.columns import I63, ColumnBatch, SampleColumns, labels_json, offcpu_frame
from profiler.web.errors import BadRequest
from profiler.web.limits import Limits

CONTENT_TYPE = AGENT_BATCH_CONTENT_TYPE


@dataclass(frozen=True)
class AgentBatch:
    agent_id: str
    seq: int
    batches: list[ColumnBatch]
    lost: list[AgentLoss]  # what the agent lost since its previous batch, for the store
    linked: list[Sample]  # the rows that carry a trace's span, for the trace store
    thread_spans: list[ThreadSpan]


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
                              strings[ts.thread], ts.approximate))
    if out:
        check_time(min(t.start_ns for t in out), limits, now)
        check_time(max(t.end_ns for t in out), limits, now)
    return out


def _linked_rows(ser: agent_pb2.Series, ts: list[int], links: list[tuple[str, str]],
                 frames: list[Frame], stacks: list[tuple[int, ...]], strings: list[str],
                 own: dict[int, str] | None) -> list[Sample]:
    """`Sample`s of the series' rows that carry a link (few), for the trace store."""
    out = []
    offcpu = ser.kind == OFFCPU
    for k, li in enumerate(ser.link):
        if not li:
            continue
        trace_id, span_id = links[li]
        labels = json.loads(own[ser.sample_labels[k]]) if own and own[ser.sample_labels[k]] \
            else {}
        out.append(Sample(ser.kind, ts[k], ser.pid[k], ser.tid[k], ser.cpu[k],
                          strings[ser.comm[k]], strings[ser.thread[k]],
                          tuple(frames[i] for i in stacks[ser.stack[k]]),
                          min(ser.value_ns[k], I63), ser.count[k] or 1,
                          strings[ser.reason[k]] if offcpu else "", labels,
                          trace_id=trace_id, span_id=span_id))
    return out


class _Tables:
    """The batch's frames, and its stacks as on-CPU and off-CPU series use them.

    An off-CPU stack ends with its reason as a frame, so it is a new stack per
    (batch stack, reason); each table holds only the stacks its series use.
    """

    def __init__(self, frames: list[Frame], stacks: list[tuple[int, ...]],
                 strings: list[str]) -> None:
        self.frames = frames
        self.stacks = stacks
        self.strings = strings
        self.cpu: dict[int, int] = {}  # batch stack -> index in cpu_stacks
        self.off: dict[tuple[int, int], int] = {}  # (batch stack, reason) -> off_stacks
        self.reason_frame: dict[str, int] = {}
        self.cpu_stacks: list[tuple[int, ...]] = []
        self.off_stacks: list[tuple[int, ...]] = []

    def cpu_column(self, stack: list[int]) -> array:
        local = self.cpu
        return array("I", [local.setdefault(i, len(local)) for i in stack])

    def off_column(self, stack: list[int], reason: list[int]) -> array:
        local = self.off
        return array("I", [local.setdefault(k, len(local)) for k in zip(stack, reason,
                                                                          strict=True)])

    def finish(self) -> None:
        """Fill the stack tables the columns index (after every series is read)."""
        self.cpu_stacks.extend(self.stacks[i] for i in self.cpu)
        for i, r in self.off:
            name = self.strings[r] or "other"
            f = self.reason_frame.get(name)
            if f is None:
                f = self.reason_frame[name] = len(self.frames)
                self.frames.append(offcpu_frame(name))
            self.off_stacks.append((*self.stacks[i], f))


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
    frames = [Frame(f.name, f.kind if f.kind in FRAME_KINDS else "unknown", f.module,
                    f.build_id, f.offset, f.file, f.line) for f in msg.frames]
    nframes = len(frames)
    stacks = []
    for st in msg.stacks:
        if st.frame and max(st.frame) >= nframes:
            raise BadRequest(400, "stack references a missing frame")
        stacks.append(tuple(st.frame))
    nstacks = len(stacks)
    links = _links(msg)
    if len(msg.series) > limits.max_series_per_request:
        raise BadRequest(400, "too many series in one batch")
    tables = _Tables(frames, stacks, strings)
    now = time.time_ns()
    out = []
    linked: list[Sample] = []
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
        if ser.link and max(ser.link) >= len(links):
            raise BadRequest(400, "sample references a missing link")
        own = _sample_labels(ser.sample_labels, n, strings, limits)
        ts = list(accumulate(ser.ts_delta_ns, initial=msg.base_ns))[1:]
        check_time(min(ts), limits, now)
        check_time(max(ts), limits, now)
        if ser.link:
            linked += _linked_rows(ser, ts, links, frames, stacks, strings, own)
        offcpu = ser.kind == OFFCPU
        out.append(ColumnBatch(ser.kind, labels, frames,
                               tables.off_stacks if offcpu else tables.cpu_stacks,
                               _columns(ser, ts, strings, offcpu, own, tables)))
    thread_spans = _thread_spans(msg, links, strings, limits, now)
    tables.finish()
    host = next((b.labels["host"] for b in out if b.labels.get("host")), msg.agent_id)
    lost = _losses(msg, host, msg.base_ns if out else now)
    return AgentBatch(msg.agent_id, msg.seq, out, lost, linked, thread_spans)


_LOSS_KEY = re.compile(r"^[a-z0-9_]{1,64}$")


def _losses(msg: agent_pb2.Batch, host: str, ts_ns: int) -> list[AgentLoss]:
    """The agent's reported losses on `host` (its series' `host` label, else its id)."""
    if len(msg.lost) > 32:
        raise BadRequest(400, "more than 32 kinds of loss in one batch")
    out = []
    for key, n in sorted(msg.lost.items()):
        if not _LOSS_KEY.match(key):
            raise BadRequest(400, "a loss key must be 1-64 of [a-z0-9_]")
        if n:
            out.append(AgentLoss(host[:256], key, min(n, I63), ts_ns))
    return out


def _sample_labels(column, n: int, strings: list[str],
                   limits: Limits) -> dict[int, str] | None:
    """The samples' own labels: each string index the `sample_labels` column uses,
    as the labels JSON the store keeps ("" for none); None when the column is absent.

    The agent's JSON is checked and written again in the store's form (sorted,
    compact), so a labelled sample is stored as `from_samples` would store it.
    """
    if not len(column):
        return None
    if len(column) != n:
        raise BadRequest(400, "sample columns of unequal length")
    out: dict[int, str] = {0: ""}
    for i in dict.fromkeys(column):  # each index once, in order of first use
        if i in out:
            continue
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
        out[i] = labels_json(labels) if labels else ""
    return out


def _columns(ser: agent_pb2.Series, ts: list[int], strings: list[str], offcpu: bool,
             own: dict[int, str] | None, tables: _Tables) -> SampleColumns:
    """The series' samples as store columns, in time order, over its own string table.

    `own` maps the `sample_labels` column's string indexes to labels JSON
    (see `_sample_labels`); None leaves every sample without labels.
    """
    n = len(ts)
    order = None
    if min(ser.ts_delta_ns) < 0:  # not in time order: sort (stable, as by Sample.ts_ns)
        order = sorted(range(n), key=ts.__getitem__)
        ts = [ts[i] for i in order]

    def col(values) -> list[int]:
        return list(values) if order is None else [values[i] for i in order]

    stack, reason = col(ser.stack), col(ser.reason)
    thread, comm = col(ser.thread), col(ser.comm)
    # Local strings: the ones this series uses, "" first (what index 0 means).
    local = [""]
    remap = [0] * len(strings)
    for i in sorted(set(thread) | set(comm) | (set(reason) if offcpu else set())):
        if strings[i]:
            remap[i] = len(local)
            local.append(strings[i])
    if own is None:
        labels = array("I", bytes(4 * n))
    else:  # each distinct labels JSON once, after the names
        at: dict[str, int] = {"": 0}
        for js in own.values():
            if js not in at:
                at[js] = len(local)
                local.append(js)
        where = {i: at[js] for i, js in own.items()}
        labels = array("I", [where[i] for i in col(ser.sample_labels)])
    value = col(ser.value_ns)
    count = col(ser.count)
    return SampleColumns(
        ts=[t - t % 1000 for t in ts],
        stack=tables.off_column(stack, reason) if offcpu else tables.cpu_column(stack),
        value=array("q", value if max(value) <= I63 else [min(v, I63) for v in value]),
        count=array("I", count if min(count) > 0 else [c or 1 for c in count]),
        pid=array("q", col(ser.pid)),
        tid=array("q", col(ser.tid)),
        cpu=array("I", col(ser.cpu)),
        thread=array("I", [remap[i] for i in thread]),
        comm=array("I", [remap[i] for i in comm]),
        reason=array("I", [remap[i] for i in reason]) if offcpu else array("I", bytes(4 * n)),
        labels=labels,
        strings=local,
    )
