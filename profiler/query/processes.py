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

from dataclasses import dataclass

from profiler.model import PROCESS_KIND
from profiler.store import StackProcesses

__all__ = ["PROCESS_KIND", "ProcessRoots", "split_by_process"]


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
    stack's value came from (`ProfileStore.stack_processes`). A stack seen in
    several processes is split in proportion, the rounding remainder going to
    the largest share, so each stack's parts sum to its value exactly.
    """
    owner, shared = procs.owner, procs.shared
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
