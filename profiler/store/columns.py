"""What the store writes: samples of one series as columns (`ColumnBatch`).

Ingest decoders build these directly from their wire formats (agent batches,
pprof) so no per-sample object is ever made; `from_samples` converts the
`Sample` lists of the other formats. The store's backends take only these.
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from profiler.model import OFFCPU, Frame, Sample

I63 = (1 << 63) - 1
U32 = (1 << 32) - 1


def wrap64(v: int) -> int:
    """Any 64-bit id (signed or not) as int64, so thread ids keep their identity."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


@dataclass
class SampleColumns:
    """Per-sample columns, one row per sample, sorted by `ts` (absolute ns, whole µs).

    `stack` indexes a stack table (the batch's, or the store's ids once
    stored); `thread`, `comm`, `reason` and `labels` index `strings`, whose
    entry 0 is "" (`labels`: a JSON object of per-sample labels, "" for none).
    """

    ts: list[int] = field(default_factory=list)
    stack: array = field(default_factory=lambda: array("I"))
    value: array = field(default_factory=lambda: array("q"))
    count: array = field(default_factory=lambda: array("I"))
    pid: array = field(default_factory=lambda: array("q"))
    tid: array = field(default_factory=lambda: array("q"))
    cpu: array = field(default_factory=lambda: array("I"))
    thread: array = field(default_factory=lambda: array("I"))
    comm: array = field(default_factory=lambda: array("I"))
    reason: array = field(default_factory=lambda: array("I"))
    labels: array = field(default_factory=lambda: array("I"))
    strings: list[str] = field(default_factory=lambda: [""])

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, lo_ns: int, hi_ns: int) -> tuple[int, int]:
        """Index range of samples with lo_ns <= ts < hi_ns."""
        return bisect_left(self.ts, lo_ns), bisect_left(self.ts, hi_ns)


@dataclass
class ColumnBatch:
    """`cols.stack` holds indexes into `stacks`; a stack holds indexes into `frames`.

    Off-CPU stacks end with their reason as a frame (`[off-cpu:REASON]`, kind
    "offcpu"), as folded output writes them.

    A decoder that can name stacks by content instead gives `stack_keys` (one
    hashable key per local stack, equal for equal stacks across requests) and
    `stack_frames(i)` (the root-first frames of local stack i), and leaves
    `frames` and `stacks` empty: the store then builds frames only for stacks
    it has never seen. Batches may share one `frames` and one `stacks` list
    (one agent batch's tables): the store resolves a shared table once.
    Trace links are not columns: the few samples that served a span go to the
    trace store as `Sample`s, beside the batch (see `ingest/agent_batch.py`).
    """

    kind: str
    labels: dict[str, str]
    frames: list[Frame]
    stacks: list[tuple[int, ...]]
    cols: SampleColumns
    stack_keys: list[Hashable] | None = None
    stack_frames: Callable[[int], list[Frame]] | None = None


@dataclass(frozen=True, slots=True)
class SeriesBatch:
    """Samples of one series (kind + labels) as objects; `from_samples` makes it columns."""

    kind: str
    labels: dict[str, str]
    samples: list[Sample]


class StringTable:
    """Index of a string in `cols.strings`, appending it on first use."""

    def __init__(self, cols: SampleColumns) -> None:
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


def offcpu_frame(reason: str) -> Frame:
    """The leaf frame an off-CPU stack ends with."""
    return Frame(f"[off-cpu:{reason or 'other'}]", "offcpu")


def from_samples(kind: str, labels: dict[str, str], samples: list[Sample]) -> ColumnBatch:
    """Columns of `samples` (sorted by time). Off-CPU stacks get the reason as leaf."""
    samples = sorted(samples, key=lambda s: s.ts_ns)
    cols = SampleColumns()
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
                fr = (*fr, offcpu_frame(s.reason))
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
        cols.value.append(min(max(0, s.value_ns), I63))
        cols.count.append(min(max(0, s.count), U32))
        cols.pid.append(wrap64(s.pid))
        cols.tid.append(wrap64(s.tid))
        cols.cpu.append(min(max(0, s.cpu), U32))
        cols.thread.append(sidx(s.thread_name))
        cols.comm.append(sidx(s.comm))
        cols.reason.append(sidx(s.reason))
        cols.labels.append(sidx(labels_json(s.labels)) if s.labels else 0)
    return ColumnBatch(kind, labels, frames, stacks, cols)


@dataclass(slots=True)
class Coded(Sequence):
    """A column as each row's index (`codes`) into its distinct `values`: a
    sequence of the values themselves to whoever does not look inside."""

    codes: array  # "I"
    values: list

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Coded(self.codes[i], self.values)
        return self.values[self.codes[i]]

    def __iter__(self) -> Iterator:
        return map(self.values.__getitem__, self.codes)

    def decoded(self) -> list:
        """Each row's value."""
        return list(self)

    def taken(self, rows: Iterable[int]) -> Coded:
        """The `rows` (in that order), coded by the values they hold alone."""
        return coded([self.codes[i] for i in rows], self.values)


Column = array | Coded


def coded(values: Sequence, names: Sequence | None = None) -> Coded:
    """`values` coded by their distinct ones, first seen first (`names`: the
    values are indexes into it, coded as the names they stand for)."""
    table: dict = {}
    for v in dict.fromkeys(values):
        table[v] = len(table)
    distinct = list(table) if names is None else [names[v] for v in table]
    return Coded(array("I", map(table.__getitem__, values)), distinct)
