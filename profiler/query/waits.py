"""Why off-CPU intervals waited, as the API shows it: ranked by target.

The recorder puts what a kept interval waited on and who woke it into the
blocked sample's own labels (`syscall`, `target`, `waker_kind`, `waker_pid`,
`waker_tid`, `waker_comm`, `waker_thread`, `waker_stack`; see
profiler/recorder.py); they travel the agent wire and are stored like any
per-sample labels (pprof exports carry them as labels too). This reads them
back. Short intervals summed in the kernel have none: they are below the
off-CPU threshold, and only kept intervals are explained one by one. Past
its CPU budget the agent keeps 1 in N intervals above the threshold (label
`kept_1_in`): each then counts N times, so counts and totals stay unbiased.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from profiler.model import OFFCPU

if TYPE_CHECKING:
    from profiler.query.engine import QueryEngine, Selection

_MARKERS = ('"syscall"', '"waker_kind"')


def _percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def _weight(kept_1_in) -> int:
    """How many intervals a kept one stands for; 1 unless a sane `kept_1_in` says more."""
    if isinstance(kept_1_in, str) and kept_1_in.isdigit() and len(kept_1_in) <= 6:
        return max(1, int(kept_1_in))
    return 1


def waits_by_target(engine: QueryEngine, sel: Selection, limit: int = 100) -> list[dict]:
    """Kept off-CPU intervals grouped by (target, system call), most waited first.

    A wait without a target (a sleep, a page fault) is grouped by its system
    call alone, so the table still accounts for it.
    """
    series = {i: s for i, s in engine._series(sel).items() if s.kind == OFFCPU}
    groups: dict[tuple[str, str], dict] = {}
    parsed: dict[str, dict | None] = {}
    for part in engine.store.samples(series, sel.lo, sel.hi):
        cols = part.cols
        st = cols.strings
        for k in part.rows(sel.pid, sel.tid):
            text = st[cols.labels[k]]
            lab = parsed.get(text)
            if lab is None and text not in parsed:
                lab = parsed[text] = json.loads(text) if any(m in text for m in _MARKERS) \
                    else None
            if lab is None:
                continue
            key = (lab.get("target", ""), lab.get("syscall", ""))
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"target": key[0], "syscall": key[1], "reasons": {},
                                   "values": [], "count": 0, "total_ns": 0}
            reason = st[cols.reason[k]]
            # Kept 1 in N past the agent's CPU budget: it stands for N intervals.
            w = _weight(lab.get("kept_1_in"))
            g["reasons"][reason] = g["reasons"].get(reason, 0) + cols.value[k] * w
            g["values"].append(cols.value[k])
            g["count"] += w
            g["total_ns"] += cols.value[k] * w
    rows = []
    for g in groups.values():
        values = sorted(g["values"])
        reasons = g["reasons"]
        rows.append({"target": g["target"], "syscall": g["syscall"],
                     "reason": max(reasons, key=reasons.get), "count": g["count"],
                     "total_ns": g["total_ns"], "p50_ns": _percentile(values, 0.5),
                     "p99_ns": _percentile(values, 0.99)})
    rows.sort(key=lambda r: -r["total_ns"])
    return rows[:limit]
