"""`ColumnBatch`: samples of one series as columns over local frame/stack tables.

This is what the store writes. Decoders that can produce it directly (pprof)
skip building one `Sample` object per sample; `from_samples` converts the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from profiler.model import OFFCPU, Frame, Sample
from profiler.store.blocks import RawColumns

_I63 = (1 << 63) - 1
_U32 = (1 << 32) - 1


def wrap64(v: int) -> int:
    """Any 64-bit id (signed or not) as int64, so thread ids keep their identity."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


@dataclass
class ColumnBatch:
    """`cols.stack` holds indexes into `stacks`; a stack holds indexes into `frames`.

    A decoder that can name stacks by content instead gives `stack_keys` (one
    hashable key per local stack, equal for equal stacks across requests) and
    `stack_frames(i)` (the root-first frames of local stack i), and leaves
    `frames` and `stacks` empty: the store then builds frames only for stacks
    it has never seen.
    """

    kind: str
    labels: dict[str, str]
    frames: list[Frame]
    stacks: list[tuple[int, ...]]
    cols: RawColumns
    stack_keys: list[Hashable] | None = None
    stack_frames: Callable[[int], list[Frame]] | None = None


class StringTable:
    def __init__(self, cols: RawColumns) -> None:
        self.cols = cols
        self.index = {s: i for i, s in enumerate(cols.strings)}

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.cols.strings)
            self.cols.strings.append(s)
        return i


def labels_json(labels: dict[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)


def from_samples(kind: str, labels: dict[str, str], samples: list[Sample]) -> ColumnBatch:
    """Columns of `samples` (sorted by time). Off-CPU stacks get the reason as leaf."""
    samples = sorted(samples, key=lambda s: s.ts_ns)
    cols = RawColumns()
    sidx = StringTable(cols)
    frames: list[Frame] = []
    frame_idx: dict[Frame, int] = {}
    stacks: list[tuple[int, ...]] = []
    stack_idx: dict[tuple[int, ...], int] = {}
    by_obj: dict[tuple[int, str], int] = {}
    offcpu = kind == OFFCPU
    keep = []  # keep stack tuples alive so id() stays unique during the loop
    for s in samples:
        okey = (id(s.stack), s.reason if offcpu else "")
        si = by_obj.get(okey)
        if si is None:
            fr = s.stack
            if offcpu:  # the reason is the leaf of an off-CPU stack, as in folded output
                fr = (*fr, Frame(f"[off-cpu:{s.reason or 'other'}]", "offcpu"))
            ids = []
            for f in fr:
                i = frame_idx.get(f)
                if i is None:
                    i = frame_idx[f] = len(frames)
                    frames.append(f)
                ids.append(i)
            t = tuple(ids)
            si = stack_idx.get(t)
            if si is None:
                si = stack_idx[t] = len(stacks)
                stacks.append(t)
            by_obj[okey] = si
            keep.append(s.stack)
        cols.stack.append(si)
        cols.ts.append(s.ts_ns - s.ts_ns % 1000)
        cols.value.append(min(max(0, s.value_ns), _I63))
        cols.count.append(min(max(0, s.count), _U32))
        cols.pid.append(wrap64(s.pid))
        cols.tid.append(wrap64(s.tid))
        cols.cpu.append(min(max(0, s.cpu), _U32))
        cols.thread.append(sidx(s.thread_name))
        cols.comm.append(sidx(s.comm))
        cols.reason.append(sidx(s.reason))
        cols.labels.append(sidx(labels_json(s.labels)) if s.labels else 0)
    return ColumnBatch(kind, labels, frames, stacks, cols)
