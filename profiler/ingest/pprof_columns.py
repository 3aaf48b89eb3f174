"""pprof straight to store columns, for high-rate ingest.

Building a `Sample` per pprof sample and hashing every frame of every stack
dominated Push handling. Two paths produce the same batches:

- the fast path (`_pprofscan`, a small C extension) reads the wire bytes once
  and gives every stack an id interned by its content (its locations'
  contents), so a stack the store has seen before costs one dict lookup of
  an int and no frames;
- the protobuf path resolves frames once per location and stacks once per
  distinct location list. It is used when the extension is not built, and
  for any profile the scan does not take (it then reports the exact error).
"""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass, field
from itertools import repeat
from operator import truediv

from profiler.formats import pprof
from profiler.formats.pprof import NO_LABELS, sample_labels
from profiler.model import CPU, OFFCPU, Frame
from profiler.store.columns import (
    I63,
    U32,
    ColumnBatch,
    SampleColumns,
    StringTable,
    labels_json,
    offcpu_frame,
    wrap64,
)

try:
    from profiler.ingest import _pprofscan
except ImportError:  # not built: `make` builds it; the protobuf path still works
    _pprofscan = None

log = logging.getLogger(__name__)

Groups = list[tuple[str, tuple[tuple[str, str], ...], ColumnBatch]]


# Ids of location and stack contents, the same in every push this process
# takes (cleared past 64 MiB, per server process, as the store's caches are
# bounded; ids are never reused, so a stale one can only miss). Scans hold
# the GIL throughout, so threads share it safely.
INTERNER = _pprofscan.Interner(max_bytes=64 << 20) if _pprofscan is not None else None


def pprof_groups(data: bytes, *, max_decompressed: int, max_samples: int,
                 default_ts_ns: int, hint: str = "",
                 display_names: dict[str, str] | None = None) -> Groups:
    """Decode pprof bytes into (kind, dynamic tags, ColumnBatch without labels) groups.

    Each sample type becomes its kind (`pprof.value_columns`, given the
    client's `hint` and `display_names`). Raises pprof.PprofError subclasses
    on bad input.
    """
    raw = pprof.inflate(data, max_decompressed)
    msg = pprof.parse_raw(raw)
    if len(msg.sample) > max_samples:
        raise pprof.PprofTooLarge(f"profile has {len(msg.sample)} samples, limit {max_samples}")
    scanned = _pprofscan.scan(raw, INTERNER) if _pprofscan is not None else None
    if scanned is not None and scanned[0] == len(msg.sample_type):
        return _fast_groups(msg, scanned, default_ts_ns, hint, display_names)
    return _protobuf_groups(msg, default_ts_ns, hint, display_names)


def _base_ts(msg, default_ts_ns: int) -> int:
    base_ts = msg.time_nanos if msg.time_nanos >= 10**18 else default_ts_ns
    return base_ts - base_ts % 1000


def _count_of(kind: str, value_ns: int, count: int, period: int) -> int:
    if count > 0:
        return min(count, U32)
    if kind == CPU and period:
        return min(max(1, round(value_ns / period)), U32)
    return 1


def _append(cols: SampleColumns, st: StringTable, kind: str, ts: int, stack: int, value_ns: int,
            count: int, ls: pprof.SampleLabels) -> None:
    """One row; off-CPU rows carry their reason (the leaf of their stack)."""
    cols.ts.append(ts)
    cols.stack.append(stack)
    cols.value.append(value_ns)
    cols.count.append(count)
    cols.pid.append(wrap64(ls.pid))
    cols.tid.append(wrap64(ls.tid))
    cols.cpu.append(min(max(0, ls.cpu), U32))
    cols.thread.append(st(ls.thread_name) if ls.thread_name else 0)
    cols.comm.append(st(ls.comm) if ls.comm else 0)
    cols.reason.append(st(ls.reason or "other") if kind == OFFCPU else 0)
    cols.labels.append(st(labels_json(ls.per_sample)) if ls.per_sample else 0)


def _fast_groups(msg, scanned: tuple, default_ts_ns: int, hint: str,
                 display_names: dict[str, str] | None) -> Groups:
    nvalues, n, stack_ids, stack_first, sample_stack, values, sample_ls, ls_first = scanned
    dec = pprof.Decoder(msg)
    vcols, count_idx = pprof.value_columns(msg, msg.string_table, hint, display_names)
    base_ts = _base_ts(msg, default_ts_ns)
    period = pprof.period_nanos(msg)
    skeys = array("Q", stack_ids).tolist()
    stack_first = array("I", stack_first)
    sample_stack = array("I", sample_stack)
    values = array("q", values)
    sample_ls = array("I", sample_ls)
    sets = [NO_LABELS] + [sample_labels(msg.sample[j].label, dec.s)
                          for j in array("I", ls_first)]

    # Rows per (kind, tags) group: sample indexes and values in ns.
    groups: dict[tuple, tuple[list[int], list[int]]] = {}
    for idx, kind, mult in vcols:
        col = values[idx::nvalues]
        # Samples with a value in this column (usually all or none of them:
        # found in C by min() and max()).
        chosen = range(len(col)) if min(col, default=0) > 0 else \
            () if max(col, default=0) <= 0 else [i for i, v in enumerate(col) if v > 0]
        for i in chosen if len(sets) > 1 else ():
            key = (kind, sets[sample_ls[i]].tags)
            rows = groups.get(key)
            if rows is None:
                rows = groups[key] = ([], [])
            rows[0].append(i)
            rows[1].append(min(col[i] * mult, I63))
        if len(sets) == 1 and chosen:  # no labels at all: one group, built in bulk
            rows = groups.setdefault((kind, ()), ([], []))
            rows[0].extend(chosen)
            if mult == 1:  # int64 values are already in range
                rows[1].extend(col if isinstance(chosen, range) else [col[i] for i in chosen])
            else:
                rows[1].extend([min(col[i] * mult, I63) for i in chosen])

    def frames_of_stack(push_stack: int, reason: str) -> list[Frame]:
        out: list[Frame] = []
        for lid in reversed(msg.sample[stack_first[push_stack]].location_id):
            out.extend(dec.frames_of(lid))
        if reason:
            out.append(offcpu_frame(reason))
        return out

    counts = values[count_idx::nvalues] if count_idx >= 0 else None
    out: Groups = []
    for (kind, tags), (idx, vals) in groups.items():
        offcpu = kind == OFFCPU
        cols = SampleColumns(value=array("q", vals))
        st = StringTable(cols)
        # Every sample of the push, in order (one value column of this kind).
        every = len(idx) == n and sum(k == kind for _i, k, _m in vcols) == 1
        sets_of = [sample_ls[i] for i in idx] if len(sets) > 1 else [0] * len(idx)
        # Columns that only depend on the label set: one row of values per set.
        per_set = {}
        for ls_i in dict.fromkeys(sets_of):
            ls = sets[ls_i]
            per_set[ls_i] = (
                base_ts if ls.ts is None else ls.ts - ls.ts % 1000, wrap64(ls.pid), wrap64(ls.tid),
                min(max(0, ls.cpu), U32), st(ls.thread_name) if ls.thread_name else 0,
                st(ls.comm) if ls.comm else 0, st(ls.reason or "other") if offcpu else 0,
                st(labels_json(ls.per_sample)) if ls.per_sample else 0,
                (ls.reason or "other") if offcpu else "")
        if len(per_set) == 1:
            row = next(iter(per_set.values()))
            m = len(idx)
            cols.ts = [row[0]] * m
            for name, typ, k in _SET_COLUMNS:
                setattr(cols, name, array(typ, [row[k]]) * m)
        else:
            rows_ = [per_set[x] for x in sets_of]
            cols.ts = [r[0] for r in rows_]
            for name, typ, k in _SET_COLUMNS:
                setattr(cols, name, array(typ, [r[k] for r in rows_]))
        # Local stacks: one per (stack of the push, reason), in order of first use;
        # a CPU group of every sample can use the push's own stack numbers.
        if every and not offcpu:
            cols.stack = array("I", sample_stack)
            sources = None  # the push's stacks, as they are
        else:
            local: dict[tuple[int, str], int] = {}
            cols.stack = array("I", [local.setdefault((sample_stack[i], per_set[x][8]),
                                                      len(local))
                                     for i, x in zip(idx, sets_of, strict=True)])
            sources = list(local)
        # The key of a CPU stack is its interned id; an off-CPU one also has
        # its reason (its leaf frame), and a tuple never equals an int.
        if sources is None:
            keys = skeys
        elif offcpu:
            keys = [(reason, skeys[p]) for p, reason in sources]
        else:
            keys = [skeys[p] for p, _reason in sources]
        if counts is not None:
            cols.count = array("I", [_count_of(kind, v, counts[i], period)
                                     for i, v in zip(idx, vals, strict=True)])
        elif kind == CPU and period:  # _count_of without a count column, in bulk (in C)
            sample_counts = list(map(round, map(truediv, vals, repeat(period))))
            if sample_counts and (min(sample_counts) < 1 or max(sample_counts) > U32):
                sample_counts = [min(max(1, c), U32) for c in sample_counts]
            cols.count = array("I", sample_counts)
        else:
            cols.count = array("I", [1]) * len(vals)
        out.append((kind, tags, ColumnBatch(
            kind, {}, [], [], cols, stack_keys=keys,
            stack_frames=(lambda li: frames_of_stack(li, "")) if sources is None else
            (lambda li, sources=sources: frames_of_stack(*sources[li])))))
    return out


# SampleColumns fields filled from a label set's row (see `per_set` above).
_SET_COLUMNS = (("pid", "q", 1), ("tid", "q", 2), ("cpu", "I", 3), ("thread", "I", 4),
                ("comm", "I", 5), ("reason", "I", 6), ("labels", "I", 7))


@dataclass
class _Group:
    kind: str
    tags: tuple[tuple[str, str], ...]
    frames: list[Frame] = field(default_factory=list)
    frame_of_loc: dict[int, list[int]] = field(default_factory=dict)
    stacks: list[tuple[int, ...]] = field(default_factory=list)
    stack_of: dict[tuple, int] = field(default_factory=dict)
    cols: SampleColumns = field(default_factory=SampleColumns)
    strings: StringTable | None = None


def _protobuf_groups(msg, default_ts_ns: int, hint: str,
                     display_names: dict[str, str] | None) -> Groups:
    dec = pprof.Decoder(msg)
    vcols, count_idx = pprof.value_columns(msg, msg.string_table, hint, display_names)
    nvalues = len(msg.sample_type)
    base_ts = _base_ts(msg, default_ts_ns)
    period = pprof.period_nanos(msg)
    groups: dict[tuple, _Group] = {}
    for ps in msg.sample:
        values = ps.value
        if len(values) != nvalues:
            raise pprof.PprofMalformed("sample value count differs from sample types")
        ls = sample_labels(ps.label, dec.s) if ps.label else NO_LABELS
        ts = base_ts if ls.ts is None else ls.ts - ls.ts % 1000
        loc_key = None
        count = values[count_idx] if count_idx >= 0 else 0
        for idx, kind, mult in vcols:
            v = values[idx]
            if v <= 0:
                continue
            g = groups.get((kind, ls.tags))
            if g is None:
                g = groups[(kind, ls.tags)] = _Group(kind, ls.tags)
                g.strings = StringTable(g.cols)
            if loc_key is None:
                loc_key = tuple(ps.location_id)
            skey = (loc_key, ls.reason) if kind == OFFCPU else loc_key
            si = g.stack_of.get(skey)
            if si is None:
                ids: list[int] = []
                for lid in reversed(loc_key):
                    fl = g.frame_of_loc.get(lid)
                    if fl is None:
                        fl = []
                        for f in dec.frames_of(lid):
                            fl.append(len(g.frames))
                            g.frames.append(f)
                        g.frame_of_loc[lid] = fl
                    ids.extend(fl)
                if kind == OFFCPU:
                    ids.append(len(g.frames))
                    g.frames.append(offcpu_frame(ls.reason))
                si = g.stack_of[skey] = len(g.stacks)
                g.stacks.append(tuple(ids))
            value_ns = min(v * mult, I63)
            _append(g.cols, g.strings, kind, ts, si, value_ns,
                    _count_of(kind, value_ns, count, period), ls)
    return [(g.kind, g.tags, ColumnBatch(g.kind, {}, g.frames, g.stacks, g.cols))
            for g in groups.values()]
