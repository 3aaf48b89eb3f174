"""Thread tracks: the samples of several threads over a window, one by one.

What the web UI's thread tracks draw (`GET /api/v1/thread-events`), and what
`thread-timeline` answers for one thread. Both engines (the store's and a
trace's) hand over `TrackEvent`s in time order; this shapes them as columns
(a 100,000-event answer stays a few MB of JSON and parses in tens of ms) with
each distinct stack and frame sent once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from profiler.model import CPU, Frame

MAX_TIDS = 1000  # threads per request
MAX_LIMIT = 1_000_000  # events per request


@dataclass(frozen=True, slots=True)
class TrackEvent:
    """An on-CPU sample or an off-CPU interval (`ts_ns` its start) of one thread."""

    kind: str
    ts_ns: int
    dur_ns: int
    pid: int
    tid: int
    thread_name: str
    comm: str
    stack_id: int
    reason: str
    span_id: str = ""


StackLookup = Callable[[Iterable[int]], dict[int, tuple[Frame, ...]]]


def thread_events_answer(events: Sequence[TrackEvent], truncated: bool, lo: int, hi: int,
                         stacks_of: StackLookup,
                         intervals: Sequence[tuple[int, int, int, int, str]] = ()) -> dict:
    """Columns of the events, with their threads, stacks and frames once each.

    `t_us` is each event's start in µs from `t0_ms`; `thread`, `reason`,
    `span` and `stack` index the answer's lists; a stack lists frame indexes
    root first, a frame is [name, kind]. `intervals` are the thread spans
    (pid, tid, start_ns, end_ns, span_id) of a trace, by thread index.
    """
    t0_ms = lo // 10**6
    threads: dict[tuple[int, int], int] = {}
    thread_rows: list[dict] = []
    reasons: dict[str, int] = {"": 0}
    spans: dict[str, int] = {"": 0}
    stack_index: dict[int, int] = {}
    cols: dict[str, list[int]] = {k: [] for k in
                                  ("thread", "cpu", "t_us", "dur_ns", "reason", "stack", "span")}

    def thread(pid: int, tid: int, name: str, comm: str) -> int:
        key = (pid, tid)
        i = threads.get(key)
        if i is None:
            i = threads[key] = len(thread_rows)
            thread_rows.append({"pid": pid, "tid": tid, "thread_name": name, "comm": comm,
                                "events": 0})
        row = thread_rows[i]
        if name and not row["thread_name"]:
            row["thread_name"] = name
        if comm and not row["comm"]:
            row["comm"] = comm
        return i

    for e in events:
        i = thread(e.pid, e.tid, e.thread_name, e.comm)
        thread_rows[i]["events"] += 1
        cols["thread"].append(i)
        cols["cpu"].append(1 if e.kind == CPU else 0)
        cols["t_us"].append((e.ts_ns - t0_ms * 10**6) // 1000)
        cols["dur_ns"].append(e.dur_ns)
        cols["reason"].append(reasons.setdefault(e.reason if e.kind != CPU else "",
                                                 len(reasons)))
        cols["stack"].append(stack_index.setdefault(e.stack_id, len(stack_index)))
        cols["span"].append(spans.setdefault(e.span_id, len(spans)))
    frames: dict[Frame, int] = {}
    stacks: list[list[int]] = [[] for _ in stack_index]
    named = stacks_of(stack_index)
    for sid, idx in stack_index.items():
        stacks[idx] = [frames.setdefault(f, len(frames)) for f in named.get(sid, ())]
    ivs = []
    for pid, tid, a, b, span in intervals:
        ivs.append([thread(pid, tid, "", ""), (a - t0_ms * 10**6) // 1000,
                    (b - t0_ms * 10**6) // 1000, spans.setdefault(span, len(spans))])
    return {"from_ms": lo / 1e6, "until_ms": hi / 1e6, "t0_ms": t0_ms, "threads": thread_rows,
            "events": cols, "reasons": list(reasons), "spans": list(spans), "stacks": stacks,
            "frames": [[f.folded_name() if f.kind == "kernel" else f.name, f.kind]
                       for f in frames],
            "intervals": ivs, "truncated": truncated}


def timeline_answer(events: Sequence[TrackEvent], truncated: bool, stacks_of: StackLookup,
                    intervals: Sequence[tuple[int, int, int, int, str]] | None) -> dict:
    """One thread's events as `thread-timeline` answers them (docs/CONTRACTS.md)."""
    stack_index: dict[int, int] = {}
    out = []
    for e in events:
        ev = {"kind": e.kind, "ts_ms": e.ts_ns / 1e6, "dur_ns": e.dur_ns, "reason": e.reason,
              "stack": stack_index.setdefault(e.stack_id, len(stack_index)), "pid": e.pid,
              "tid": e.tid}
        if intervals is not None:
            ev["span_id"] = e.span_id
        out.append(ev)
    named = stacks_of(stack_index)
    stacks: list[list[str]] = [[] for _ in stack_index]
    for sid, idx in stack_index.items():
        stacks[idx] = [f.folded_name() for f in named.get(sid, ())]
    answer = {"events": out, "stacks": stacks, "truncated": truncated}
    if intervals is not None:
        answer["intervals"] = [[a / 1e6, b / 1e6, span] for _p, _t, a, b, span in intervals]
    return answer
