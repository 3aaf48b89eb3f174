"""Thread tracks: the samples of several threads over a window, one by one.

What the web UI's thread tracks draw (`GET /api/v1/thread-events`), and what
`thread-timeline` answers for one thread. Both engines (the store's and a
trace's) hand over `TrackColumns` in time order; this shapes them as columns
(a 100,000-event answer stays a few MB of JSON) with each distinct thread,
stack and frame sent once. Everything per event is a comprehension over
columns: no object per event.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, compress

from profiler.model import Frame, kinds_of_waker
from profiler.store.columns import Coded

MAX_TIDS = 1000  # threads per request
MAX_LIMIT = 1_000_000  # events per request


@dataclass(slots=True)
class TrackColumns:
    """Events (on-CPU samples; off-CPU intervals, from `ts_ns` for `dur_ns`)
    as parallel columns in time order."""

    cpu: Sequence[int]  # 1 on-CPU, 0 off-CPU
    ts_ns: Sequence[int]
    dur_ns: Sequence[int]
    pid: Sequence[int]
    tid: Sequence[int]
    stack_id: Sequence[int]
    reason: Sequence[str]
    span_id: Sequence[str]
    names: dict[tuple[int, int], tuple[str, str]]  # (pid, tid) -> (thread name, comm)
    labels: Sequence[str] = ()  # per event: its own labels as JSON, "" for none (or none at all)
    count: Sequence[int] = ()  # per event: intervals summed in it (> 1: when each was is lost)

    def __len__(self) -> int:
        return len(self.ts_ns)


# Stack ids -> (frame ids of each stack, root first; the frames by id).
StackLookup = Callable[[Iterable[int]], tuple[dict[int, tuple[int, ...]], dict[int, Frame]]]
Intervals = Sequence[tuple[int, int, int, int, str]]  # pid, tid, start ns, end ns, span id


def _index(values: Sequence, table: dict) -> list[int]:
    """Each value's index in `table`, adding the new ones (first seen, first).

    The distinct values are found at C speed first: a column of 100,000
    events with a few hundred distinct values costs two passes of lookups
    (one, for a column the store read coded by its distinct values).
    """
    if isinstance(values, Coded):
        remap = [table.setdefault(v, len(table)) for v in values.values]
        return list(map(remap.__getitem__, values.codes))
    for v in dict.fromkeys(values):
        if v not in table:
            table[v] = len(table)
    return list(map(table.__getitem__, values))


def _threads(ev: TrackColumns, table: dict[tuple[int, int], int]) -> list[int]:
    """Each event's index in `table` of its (pid, tid), first seen first; looked
    up by tid alone when no tid is in two processes (no pair kept per event)."""
    pairs = dict.fromkeys(zip(ev.pid, ev.tid, strict=True))
    if len({t for _p, t in pairs}) < len(pairs):
        return _index(list(zip(ev.pid, ev.tid, strict=True)), table)
    by_tid = {t: table.setdefault((p, t), len(table)) for p, t in pairs}
    return list(map(by_tid.__getitem__, ev.tid))


def wait_of(labels_json: str) -> dict | None:
    """Why a kept off-CPU interval waited, from its labels (profiler/recorder.py):
    `syscall`, `target` and `waker` ({kind, pid, tid, comm, thread, stack: folded
    frame names root first, kinds: each frame's kind when the agent sent them});
    None when the labels say nothing about it."""
    if '"syscall"' not in labels_json and '"waker_kind"' not in labels_json:
        return None
    lab = json.loads(labels_json)
    out: dict = {k: lab[k] for k in ("syscall", "target") if k in lab}
    if "waker_kind" in lab:
        waker = {"kind": lab["waker_kind"], "comm": lab.get("waker_comm", ""),
                 "thread": lab.get("waker_thread", lab.get("waker_comm", "")),
                 "stack": lab["waker_stack"].split(";") if lab.get("waker_stack") else []}
        if lab.get("waker_kinds"):  # each frame's kind (agents since issue 13's off-wake graph)
            kinds = kinds_of_waker(lab["waker_kinds"], len(waker["stack"]))
            if all(kinds):
                waker["kinds"] = kinds
        for k in ("pid", "tid"):
            if f"waker_{k}" in lab:
                waker[k] = int(lab[f"waker_{k}"])
        out["waker"] = waker
    return out


def _waits(labels: Sequence[str], n: int) -> tuple[list[int], list[dict | None]]:
    """Each event's index in the list of distinct waits (0: none), and that list."""
    if not labels:
        return [0] * n, [None]
    table: dict[str, int] = {"": 0}
    index = _index(labels, table)
    waits = [None] * len(table)
    for text, i in table.items():
        if text:
            waits[i] = wait_of(text)
    return index, waits


def thread_events_answer(ev: TrackColumns, truncated: bool, lo: int, hi: int,
                         stacks_of: StackLookup, intervals: Intervals = ()) -> dict:
    """Columns of the events, with their threads, stacks and frames once each.

    `t_us` is each event's start in µs from `t0_ms`; `thread`, `reason`,
    `span`, `stack` and `wait` index the answer's lists; a stack lists frame
    indexes root first, a frame is [name, kind]; a wait is `wait_of`'s answer
    (null: the interval says nothing of why it waited). `intervals` (a trace's
    thread spans) become [thread, start µs, end µs, span]. `summed` lists
    [event, count] for the off-CPU events that are the kernel's sum of `count`
    intervals (short ones, or past the agent's CPU budget): their `dur_ns` is a
    total over a flush period, not one interval's length, so a track must not
    draw it as a stretch of time.
    """
    t0_ms = lo // 10**6
    base = t0_ms * 10**6
    threads: dict[tuple[int, int], int] = {}
    thread_of = _threads(ev, threads)
    spans: dict[str, int] = {"": 0}
    stack_index: dict[int, int] = {}
    reasons: dict[str, int] = {"": 0}
    reason_of = _index(ev.reason, reasons)
    if any(compress(reason_of, ev.cpu)):  # an on-CPU sample's reason is none
        reasons = {"": 0}
        reason_of = _index([r if not c else "" for r, c in zip(ev.reason, ev.cpu, strict=True)],
                           reasons)
    cols = {
        "thread": thread_of,
        "cpu": ev.cpu,
        "t_us": [(t - base) // 1000 for t in ev.ts_ns],
        "dur_ns": ev.dur_ns,
        "reason": reason_of,
        "stack": _index(ev.stack_id, stack_index),
        "span": _index(ev.span_id, spans),
    }
    cols["wait"], waits = _waits(ev.labels, len(ev))
    ivs = [[threads.setdefault((pid, tid), len(threads)), (a - base) // 1000,
            (b - base) // 1000, spans.setdefault(span, len(spans))]
           for pid, tid, a, b, span in intervals]
    counts = Counter(thread_of)
    rows = [{"pid": pid, "tid": tid, "thread_name": ev.names.get((pid, tid), ("", ""))[0],
             "comm": ev.names.get((pid, tid), ("", ""))[1], "events": counts[i]}
            for i, (pid, tid) in enumerate(threads)]
    frame_ids, frame_of = stacks_of(stack_index)
    of_stack = [frame_ids.get(sid, ()) for sid in stack_index]  # in index order
    frames: dict[int, int] = {}
    for f in dict.fromkeys(chain.from_iterable(of_stack)):
        frames[f] = len(frames)
    stacks = [list(map(frames.__getitem__, fr)) for fr in of_stack]
    named = [frame_of[f] for f in frames]
    return {"from_ms": lo / 1e6, "until_ms": hi / 1e6, "t0_ms": t0_ms, "threads": rows,
            "events": cols, "reasons": list(reasons), "spans": list(spans), "stacks": stacks,
            "frames": [[f.folded_name() if f.kind == "kernel" else f.name, f.kind]
                       for f in named],
            "waits": waits, "intervals": ivs, "truncated": truncated,
            "summed": [[i, ev.count[i]] for i in compress(range(len(ev.count)),
                                                          map((1).__lt__, ev.count))]}


def timeline_answer(ev: TrackColumns, truncated: bool, stacks_of: StackLookup,
                    intervals: Intervals | None) -> dict:
    """One thread's events as `thread-timeline` answers them (docs/CONTRACTS.md)."""
    stack_index: dict[int, int] = {}
    stack_of = _index(ev.stack_id, stack_index)
    out = []
    for i in range(len(ev)):
        e = {"kind": "cpu" if ev.cpu[i] else "offcpu", "ts_ms": ev.ts_ns[i] / 1e6,
             "dur_ns": ev.dur_ns[i], "reason": ev.reason[i], "stack": stack_of[i],
             "pid": ev.pid[i], "tid": ev.tid[i]}
        if intervals is not None:
            e["span_id"] = ev.span_id[i]
        out.append(e)
    frame_ids, frame_of = stacks_of(stack_index)
    stacks: list[list[str]] = [[] for _ in stack_index]
    for sid, idx in stack_index.items():
        stacks[idx] = [frame_of[f].folded_name() for f in frame_ids.get(sid, ())]
    answer = {"events": out, "stacks": stacks, "truncated": truncated}
    if intervals is not None:
        answer["intervals"] = [[a / 1e6, b / 1e6, span] for _p, _t, a, b, span in intervals]
    return answer
