"""Encoding of samples into the agent's upload batch (see agent.proto)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import zstandard

from profiler.formats.proto import agent_pb2
from profiler.model import Frame, Sample, ThreadSpan

# Per-sample fields of a Series, in the order encode_batch fills them.
_COLUMNS = ("ts_delta_ns", "stack", "value_ns", "count", "pid", "tid", "thread", "comm",
            "reason", "cpu", "link")


def encode_batch(samples: Iterable[Sample], labels_of: Callable[[Sample], dict[str, str]],
                 *, agent_id: str, seq: int, lost: dict[str, int] | None = None,
                 thread_spans: Iterable[ThreadSpan] = ()) -> bytes:
    """zstd(Batch) with strings, frames, stacks and links deduplicated."""
    msg = agent_pb2.Batch(agent_id=agent_id, seq=seq)
    strings: dict[str, int] = {}
    links: dict[tuple[str, str], int] = {("", ""): 0}
    msg.links.add()  # 0: no link

    def link_idx(trace_id: str, span_id: str) -> int:
        i = links.get((trace_id, span_id))
        if i is None:
            i = links[(trace_id, span_id)] = len(links)
            msg.links.add(trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id))
        return i

    frames: dict[Frame, int] = {}
    stacks: dict[tuple[int, ...], int] = {}  # frame indices -> stack index
    # Fast paths by identity, since hashing a frame is a Python call: one
    # Frame object stands for its frame in many stacks, samples of one stack
    # usually share one tuple (the recorder builds it once per take), and
    # samples of one process share one labels dict. Every sample stays alive
    # in `samples`, so the ids of its stack and frames stay unique; labels
    # dicts are kept alive in `series_by_id`'s values for the same reason.
    frame_by_id: dict[int, int] = {}
    stack_by_id: dict[int, int] = {}
    series_by_id: dict[tuple[str, int], tuple[dict, list[list[int]]]] = {}
    series: dict[tuple[str, tuple], list[list[int]]] = {}  # in msg.series' order

    def s_idx(s: str) -> int:
        i = strings.get(s)
        if i is None:
            i = strings[s] = len(strings)
            msg.strings.append(s)
        return i

    def stack_idx(stack: tuple[Frame, ...]) -> int:
        ids = []
        for f in stack:
            fi = frame_by_id.get(id(f))
            if fi is None:
                fi = frames.get(f)
                if fi is None:
                    fi = frames[f] = len(frames)
                    msg.frames.add(name=f.name, kind=f.kind, module=f.module,
                                   build_id=f.build_id, offset=f.offset & 0xFFFFFFFFFFFFFFFF,
                                   file=f.file, line=max(0, f.line))
                frame_by_id[id(f)] = fi
            ids.append(fi)
        key = tuple(ids)
        st = stacks.get(key)
        if st is None:
            st = stacks[key] = len(stacks)
            msg.stacks.add(frame=ids)
        return st

    def series_of(s: Sample) -> list[list[int]]:
        labels = labels_of(s)
        hit = series_by_id.get((s.kind, id(labels)))
        if hit is not None and hit[0] is labels:
            return hit[1]
        key = (s.kind, tuple(sorted(labels.items())))
        cols = series.get(key)
        if cols is None:
            msg.series.add(kind=s.kind).labels.update(labels)
            cols = series[key] = [[] for _ in _COLUMNS]
        series_by_id[(s.kind, id(labels))] = (labels, cols)
        return cols

    s_idx("")
    samples = sorted(samples, key=lambda s: s.ts_ns)
    msg.base_ns = samples[0].ts_ns if samples else 0
    last_ts: dict[int, int] = {}
    sample_labels: dict[int, list[int]] = {}  # id(series columns) -> string index per sample
    labels_json: dict[int, tuple[dict, int]] = {}  # id(labels) -> (labels, string index)
    for s in samples:
        st = stack_by_id.get(id(s.stack))
        if st is None:
            st = stack_by_id[id(s.stack)] = stack_idx(s.stack)
        cols = series_of(s)
        ts_delta, stack, value, count, pid, tid, thread, comm, reason, cpu, link = cols
        ts_delta.append(s.ts_ns - last_ts.get(id(cols), msg.base_ns))
        last_ts[id(cols)] = s.ts_ns
        stack.append(st)
        value.append(max(0, s.value_ns))
        count.append(max(0, s.count))
        pid.append(s.pid)
        tid.append(s.tid)
        thread.append(s_idx(s.thread_name))
        comm.append(s_idx(s.comm))
        reason.append(s_idx(s.reason))
        cpu.append(max(0, s.cpu))
        # Per-sample labels are rare (the recorder sets none): a column only
        # for series that have some, filled with 0 ("") up to that point.
        if s.labels:
            own = sample_labels.setdefault(id(cols), [])
            own.extend([0] * (len(stack) - 1 - len(own)))
            # The recorder shares one dict among samples with the same labels.
            hit = labels_json.get(id(s.labels))
            if hit is None or hit[0] is not s.labels:
                hit = labels_json[id(s.labels)] = (s.labels, s_idx(json.dumps(
                    dict(sorted(s.labels.items())), separators=(",", ":"),
                    ensure_ascii=False)))
            own.append(hit[1])
        link.append(link_idx(s.trace_id, s.span_id) if s.trace_id else 0)
    # Columns are filled as lists and handed over once: appending to a
    # protobuf field one value at a time costs several times more.
    for ser, cols in zip(msg.series, series.values(), strict=True):
        if not any(cols[-1]):
            cols[-1] = []  # no sample of the series served a span: no column
        for name, col in zip(_COLUMNS, cols, strict=True):
            getattr(ser, name).extend(col)
        own = sample_labels.get(id(cols))
        if own:
            ser.sample_labels.extend(own + [0] * (len(cols[0]) - len(own)))
    for ts in thread_spans:
        msg.thread_spans.add(pid=ts.pid, tid=ts.tid, link=link_idx(ts.trace_id, ts.span_id),
                             start_ns=ts.start_ns, end_ns=ts.end_ns,
                             thread=s_idx(ts.thread_name), approximate=ts.approximate)
    for k, v in (lost or {}).items():
        msg.lost[k] = v
    # A compressor per call: they are not thread-safe, and this runs every 10 s.
    return zstandard.ZstdCompressor(level=3).compress(msg.SerializeToString())


def _decode(data: bytes) -> agent_pb2.Batch:
    return agent_pb2.Batch.FromString(zstandard.ZstdDecompressor().decompress(data))


def contents(data: bytes) -> tuple[int, dict[str, int]]:
    """What is lost when an encoded batch is dropped: its samples, and the losses
    it was reporting (which must then travel with a later batch); (0, {}) if
    unreadable."""
    try:
        msg = _decode(data)
    except (zstandard.ZstdError, ValueError):  # DecodeError is a ValueError
        return 0, {}
    return sum(len(ser.stack) for ser in msg.series), dict(msg.lost)


def split_batch(data: bytes, second_seq: int) -> list[tuple[int, bytes, int]] | None:
    """The batch as two smaller ones, (seq, encoded, samples) each, every series cut
    in half; the first keeps the batch's seq, the second takes `second_seq` (the
    server drops resends by seq). None when it has one sample and cannot be split.

    Each half keeps only the strings, frames and stacks its samples use, so
    halving the samples shrinks the tables too.
    """
    msg = _decode(data)
    if sum(len(ser.stack) for ser in msg.series) < 2:
        return None
    halves = [_half(msg, 0), _half(msg, 1)]
    halves[1].seq = second_seq
    halves[1].lost.clear()  # losses are reported once
    cctx = zstandard.ZstdCompressor(level=3)
    return [(h.seq, cctx.compress(h.SerializeToString()), sum(len(s.stack) for s in h.series))
            for h in halves]


def _half(msg: agent_pb2.Batch, which: int) -> agent_pb2.Batch:
    """The first (0) or second (1) half of every series' samples, with the tables
    cut down to what they use."""
    out = agent_pb2.Batch(agent_id=msg.agent_id, seq=msg.seq, base_ns=msg.base_ns)
    out.lost.update(msg.lost)
    out.links.extend(msg.links)  # few (only traced threads'): kept whole, indexes unchanged
    strings: dict[int, int] = {}
    frames: dict[int, int] = {}
    stacks: dict[int, int] = {}

    def s_idx(i: int) -> int:
        j = strings.get(i)
        if j is None:
            j = strings[i] = len(strings)
            out.strings.append(msg.strings[i])
        return j

    def stack_idx(i: int) -> int:
        j = stacks.get(i)
        if j is None:
            ids = []
            for f in msg.stacks[i].frame:
                k = frames.get(f)
                if k is None:
                    k = frames[f] = len(frames)
                    out.frames.append(msg.frames[f])
                ids.append(k)
            j = stacks[i] = len(stacks)
            out.stacks.add(frame=ids)
        return j

    s_idx(0)  # "" stays string 0
    for ser in msg.series:
        n = len(ser.stack)
        cut = (n + 1) // 2
        lo, hi = (0, cut) if which == 0 else (cut, n)
        if lo == hi:
            continue
        half = out.series.add(kind=ser.kind)
        half.labels.update(ser.labels)
        for name in ("value_ns", "count", "pid", "tid", "cpu"):
            getattr(half, name).extend(getattr(ser, name)[lo:hi])
        half.stack.extend(stack_idx(i) for i in ser.stack[lo:hi])
        for name in ("thread", "comm", "reason"):
            getattr(half, name).extend(s_idx(i) for i in getattr(ser, name)[lo:hi])
        if ser.sample_labels:
            half.sample_labels.extend(s_idx(i) for i in ser.sample_labels[lo:hi])
        if ser.link:
            half.link.extend(ser.link[lo:hi])
        # Deltas chain from base_ns: the second half's first one spans the first half.
        half.ts_delta_ns.extend(ser.ts_delta_ns[lo:hi])
        half.ts_delta_ns[0] = sum(ser.ts_delta_ns[:lo + 1])
    if which == 0:  # thread spans travel once, with the first half
        for span in msg.thread_spans:
            out.thread_spans.add(pid=span.pid, tid=span.tid, link=span.link,
                                 start_ns=span.start_ns, end_ns=span.end_ns,
                                 thread=s_idx(span.thread), approximate=span.approximate)
    return out
