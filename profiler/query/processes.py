"""The process level of views that span processes: each stack rooted at its process.

perf, Parca and Flamecam's own folded output start every stack with the
process's name (`comm`); without it a whole-host flame graph merges every
process under `clone3`/`start_thread`. The store keeps stacks without a
process frame (a stack is shared by every process running the same code);
the process is a column of each sample, so the level is added when a view is
read: only where the view holds more than one process, so a view of one
process (a service, a pid) reads as before.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from profiler.model import PROCESS_KIND
from profiler.query.idmap import IdMap, all_positive
from profiler.store import StackProcesses

__all__ = ["PROCESS_KIND", "ProcessRoots", "split_by_process", "stack_processes"]

ProcessTables = Callable[[], Iterable[tuple[str, array, array]]]


def stack_processes(tables: ProcessTables, at_least: int = 1) -> StackProcesses:
    """Which processes each stack was seen in, from the thread tables `tables()`
    yields (`ProfileStore.process_tables`; called twice when some stack is in
    several processes); nothing when they name fewer than `at_least`
    processes (`split_by_process` would not root the view at them).

    A stack's first process is kept in an `IdMap` (in C when built: a host's
    hour is ~1M thread-table entries, which Python sets took ~30 ms to
    union); a table whose stacks all map to its own process holds no shared
    stack, found by one bytes comparison. Values are summed only for the
    stacks seen in several processes, and only from the tables holding them.
    A table with a value <= 0 sums everything (owners need a positive value).
    """
    first = IdMap()  # stack id -> its first process's number
    numbers: dict[str, int] = {}
    firsts: list[list[int]] = []  # per process number, the stacks first seen in it
    shared_ids: set[int] = set()
    nonpositive = False
    for comm, stacks, values in tables():
        n = numbers.get(comm)
        if n is None:
            n = numbers[comm] = len(firsts)
            firsts.append([])
        buf = stacks.tobytes()
        new = first.missing((buf,))
        if new:
            first.update(new, [n] * len(new))
            firsts[n] += new
        (got,) = first.keys((buf,))
        if got != n.to_bytes(4, "big") * len(stacks):  # some stack came first elsewhere
            shared_ids.update(s for s, k in zip(stacks, _u32(got), strict=True) if k != n)
        nonpositive = nonpositive or not all_positive(values)
    if len(numbers.keys() - {""}) < at_least:
        return StackProcesses()
    owner: dict[int, str] = {}
    if not nonpositive:
        for comm, n in numbers.items():
            owner.update(dict.fromkeys(firsts[n], comm))
        for s in shared_ids:
            del owner[s]
    shared: dict[int, dict[str, int]] = {}
    if shared_ids or nonpositive:
        sums: dict[str, dict[int, int]] = {}
        for comm, stacks, values in tables():
            if nonpositive or not shared_ids.isdisjoint(stacks):
                acc = sums.setdefault(comm, {})
                get = acc.get
                for s, v in zip(stacks, values, strict=False):
                    if nonpositive or s in shared_ids:
                        acc[s] = get(s, 0) + v
        for c, acc in sums.items():
            for s, v in acc.items():
                d = shared.get(s)
                if d is None:
                    shared[s] = {c: v}
                else:
                    d[c] = v
    return StackProcesses(owner, shared)


def _u32(key: bytes) -> array:
    """The big-endian uint32 values of an `IdMap.keys` answer."""
    out = array("I", key)
    if sys.byteorder == "little":
        out.byteswap()
    return out


@dataclass(frozen=True, slots=True)
class ProcessRoots:
    """Each stack's value per process: `owner`, the stacks wholly of one process
    (by its name); `parts`, the others as [(process name or "", part)]. A stack
    in neither has no process: its value stays unrooted."""

    owner: dict[int, str]
    parts: dict[int, list[tuple[str, int]]]

    def of(self, stack: int, value: int) -> list[tuple[str, int]]:
        """[(process name or "", part)] of one stack of the view, worth `value`."""
        parts = self.parts.get(stack)
        if parts is not None:
            return parts
        return [(self.owner.get(stack, ""), value)]


def split_by_process(values: dict[int, int], procs: StackProcesses,
                     at_least: int = 2) -> ProcessRoots | None:
    """Each stack's value per process, or None when the view holds fewer than
    `at_least` named processes (no process level then; a diff roots both sides
    when either spans processes).

    `values` are the view's exact values; `procs` says which processes each
    stack's value came from (`stack_processes`). A stack seen in
    several processes is split in proportion, the rounding remainder going to
    the largest share, so each stack's parts sum to its value exactly.
    """
    owner, shared = procs.owner, procs.shared
    if not owner and not shared:  # no process named (or fewer than asked for)
        return None
    names = set(map(owner.get, values))
    both = shared.keys() & values.keys()
    for s in both:
        names.update(shared[s])
    names.discard(None)
    names.discard("")
    if len(names) < at_least or not names:
        return None
    out: dict[int, list[tuple[str, int]]] = {}
    for s in both:
        v = values[s]
        per = {c: w for c, w in shared[s].items() if w > 0}
        if not per:
            out[s] = [("", v)]
            continue
        if len(per) == 1:
            out[s] = [(next(iter(per)), v)]
            continue
        total = sum(per.values())
        parts = [(c, v * w // total) for c, w in sorted(per.items(), key=lambda x: -x[1])]
        rest = v - sum(p for _, p in parts)
        parts[0] = (parts[0][0], parts[0][1] + rest)
        out[s] = [p for p in parts if p[1]]
    return ProcessRoots(owner, out)
