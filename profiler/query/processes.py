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

from profiler.model import PROCESS_KIND

__all__ = ["PROCESS_KIND", "split_by_process"]


def split_by_process(values: dict[int, int], procs: dict[int, dict[str, int]],
                     at_least: int = 2) -> dict[int, list[tuple[str, int]]] | None:
    """Stack id -> [(process name, its share of the stack's value)], or None when
    the view holds fewer than `at_least` named processes (no process level then;
    a diff roots both sides when either spans processes).

    `values` are the view's exact values; `procs` says which processes each
    stack's value came from (`ProfileStore.stack_processes`). A stack seen in
    several processes is split in proportion, the rounding remainder going to
    the largest share, so each stack's parts sum to its value exactly.
    """
    names = {c for s in values for c in procs.get(s, ()) if c}
    if len(names) < at_least or not names:
        return None
    out: dict[int, list[tuple[str, int]]] = {}
    for s, v in values.items():
        per = {c: w for c, w in procs.get(s, {}).items() if w > 0}
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
    return out
