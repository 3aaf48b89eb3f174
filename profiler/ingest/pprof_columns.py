"""pprof straight to store columns, for high-rate ingest.

Building a `Sample` per pprof sample and hashing every frame of every stack
dominated Push handling; here frames are resolved once per location and
stacks once per distinct location list, and samples go directly into columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from profiler.formats import pprof
from profiler.model import CPU, OFFCPU, Frame
from profiler.store.blocks import RawColumns
from profiler.store.columns import ColumnBatch, StringTable, labels_json, wrap64

# Per-sample labels that stay per sample; any other pprof label becomes a series label.
PER_SAMPLE_LABELS = frozenset({"span_id", "span_name", "trace_id", "profile_id"})
_I63 = (1 << 63) - 1


@dataclass
class _Group:
    kind: str
    tags: tuple[tuple[str, str], ...]
    frames: list[Frame] = field(default_factory=list)
    frame_of_loc: dict[int, list[int]] = field(default_factory=dict)
    stacks: list[tuple[int, ...]] = field(default_factory=list)
    stack_of: dict[tuple, int] = field(default_factory=dict)
    cols: RawColumns = field(default_factory=RawColumns)
    strings: StringTable | None = None


def pprof_groups(data: bytes, *, max_decompressed: int, max_samples: int,
                 default_ts_ns: int) -> list[tuple[str, tuple[tuple[str, str], ...],
                                                   ColumnBatch]]:
    """Decode pprof bytes into (kind, dynamic tags, ColumnBatch without labels) groups.

    Raises pprof.PprofError subclasses on bad input.
    """
    msg = pprof.parse(data, max_decompressed=max_decompressed)
    if len(msg.sample) > max_samples:
        raise pprof.PprofTooLarge(f"profile has {len(msg.sample)} samples, limit {max_samples}")
    dec = pprof.Decoder(msg)
    vcols, count_idx = pprof.value_columns(msg, msg.string_table)
    nvalues = len(msg.sample_type)
    base_ts = msg.time_nanos if msg.time_nanos >= 10**18 else default_ts_ns
    base_ts -= base_ts % 1000
    period = msg.period if msg.period > 0 else 0
    s = dec.s
    groups: dict[tuple, _Group] = {}
    for ps in msg.sample:
        values = ps.value
        if len(values) != nvalues:
            raise pprof.PprofMalformed("sample value count differs from sample types")
        pid = tid = cpu = 0
        thread_name = reason = comm = ""
        ts = base_ts
        per_sample = None
        tags: tuple = ()
        if ps.label:
            other = []
            for lab in ps.label:
                key = s(lab.key)
                if key == "pid":
                    pid = lab.num if lab.num or not lab.str else pprof._int(s(lab.str))
                elif key in ("tid", "thread_id"):
                    tid = lab.num if lab.num or not lab.str else pprof._int(s(lab.str))
                elif key == "thread_name":
                    thread_name = s(lab.str)
                elif key == "reason":
                    reason = s(lab.str)
                elif key == "comm":
                    comm = s(lab.str)
                elif key == "cpu":
                    cpu = lab.num
                elif key == "ts_ns":
                    ts = lab.num - lab.num % 1000
                else:
                    val = s(lab.str) if lab.str else str(lab.num)
                    if key in PER_SAMPLE_LABELS:
                        per_sample = per_sample or {}
                        per_sample[key] = val
                    else:
                        other.append((key, val))
            if other:
                tags = tuple(sorted(other))
        loc_key = None
        count = values[count_idx] if count_idx >= 0 else 0
        for idx, kind, mult in vcols:
            v = values[idx]
            if v <= 0:
                continue
            g = groups.get((kind, tags))
            if g is None:
                g = groups[(kind, tags)] = _Group(kind, tags)
                g.strings = StringTable(g.cols)
            if loc_key is None:
                loc_key = tuple(ps.location_id)
            skey = (loc_key, reason) if kind == OFFCPU else loc_key
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
                    g.frames.append(Frame(f"[off-cpu:{reason or 'other'}]", "offcpu"))
                si = g.stack_of[skey] = len(g.stacks)
                g.stacks.append(tuple(ids))
            value_ns = min(v * mult, _I63)
            if count > 0:
                n = count
            elif kind == CPU and period:
                n = max(1, round(value_ns / period))
            else:
                n = 1
            c = g.cols
            st = g.strings
            c.ts.append(ts)
            c.stack.append(si)
            c.value.append(value_ns)
            c.count.append(min(n, 0xFFFFFFFF))
            c.pid.append(wrap64(pid))
            c.tid.append(wrap64(tid))
            c.cpu.append(min(max(0, cpu), 0xFFFFFFFF))
            c.thread.append(st(thread_name) if thread_name else 0)
            c.comm.append(st(comm) if comm else 0)
            c.reason.append(st(reason or "other") if kind == OFFCPU else 0)
            c.labels.append(st(labels_json(per_sample)) if per_sample else 0)
    return [(g.kind, g.tags, ColumnBatch(g.kind, {}, g.frames, g.stacks, g.cols))
            for g in groups.values()]
