"""Why off-CPU intervals waited, as the API shows it: ranked by target, the
flame graph of the waits on one target, and the off-wake flame graph.

The recorder puts what a kept interval waited on and who woke it into the
blocked sample's own labels (`syscall`, `target`, `waker_kind`, `waker_pid`,
`waker_tid`, `waker_comm`, `waker_thread`, `waker_stack`; see
profiler/recorder.py); they travel the agent wire and are stored like any
per-sample labels (pprof exports carry them as labels too). This reads them
back. Short intervals summed in the kernel have none: they are below the
off-CPU threshold, and only kept intervals are explained one by one. Past
its CPU budget the agent keeps 1 in N intervals above the threshold (label
`kept_1_in`): each then counts N times, so counts and totals stay unbiased.

Both engines hand the kept intervals over as `KeptWait`s (`kept_waits`): the
store's from its blocks, a trace's from its linked samples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from profiler.model import OFFCPU, Frame, Sample, kinds_of_waker
from profiler.query import flamegraph as fg
from profiler.store import KeptWait

if TYPE_CHECKING:
    from profiler.query.engine import QueryEngine, Selection

# The top frame of a waker's stack in the off-wake graph names the waker (a
# thread's name, or `timer`, `disk completion`, ... for an interrupt).
WAKER_KIND = "waker"

_MARKERS = ('"syscall"', '"waker_kind"')


_CONNECTED = re.compile(r"^((?:tcp|udp)6?) \S+ -> (\S+)$")


def by_peer(target: str) -> str:
    """A target as the waits table groups it: a connected socket by its peer
    (`tcp 127.0.0.1:41234 -> 127.0.0.1:8080` is `tcp -> 127.0.0.1:8080`, so
    a peer's connections are one row, whatever their local ports), others as
    they are."""
    m = _CONNECTED.match(target)
    return f"{m[1]} -> {m[2]}" if m else target


@dataclass(frozen=True, slots=True)
class WaitFilter:
    """Only the waits on one target (as `by_peer` names it) by one system
    call: a row of the waits table."""

    target: str
    syscall: str

    def matches(self, lab: dict) -> bool:
        return by_peer(lab.get("target", "")) == self.target and \
            lab.get("syscall", "") == self.syscall


def _percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def _weight(kept_1_in) -> int:
    """How many intervals a kept one stands for; 1 unless a sane `kept_1_in` says more."""
    if isinstance(kept_1_in, str) and kept_1_in.isdigit() and len(kept_1_in) <= 6:
        return max(1, int(kept_1_in))
    return 1


def _explained(waits: list[KeptWait], only: WaitFilter | None = None
               ) -> Iterator[tuple[KeptWait, dict]]:
    """The kept waits whose labels say why they waited (of `only`'s target,
    when given), each with its labels parsed (once per distinct text)."""
    parsed: dict[str, dict | None] = {}
    for w in waits:
        lab = parsed.get(w.labels)
        if lab is None and w.labels not in parsed:
            lab = parsed[w.labels] = json.loads(w.labels) \
                if any(m in w.labels for m in _MARKERS) else None
        if lab is not None and (only is None or only.matches(lab)):
            yield w, lab


def waits_by_target(engine: QueryEngine, sel: Selection, limit: int = 100) -> list[dict]:
    """Kept off-CPU intervals grouped by (target, system call), most waited
    first; sockets by peer (`by_peer`).

    A wait without a target (a sleep, a page fault) is grouped by its system
    call alone, so the table still accounts for it.
    """
    groups: dict[tuple[str, str], dict] = {}
    for w, lab in _explained(engine.kept_waits(sel)):
        key = (by_peer(lab.get("target", "")), lab.get("syscall", ""))
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"target": key[0], "syscall": key[1], "reasons": {},
                               "values": [], "count": 0, "total_ns": 0}
        # Kept 1 in N past the agent's CPU budget: it stands for N intervals.
        n = _weight(lab.get("kept_1_in"))
        g["reasons"][w.reason] = g["reasons"].get(w.reason, 0) + w.value_ns * n
        g["values"].append(w.value_ns)
        g["count"] += n
        g["total_ns"] += w.value_ns * n
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


def _explained_samples(samples: Iterable[Sample], only: WaitFilter | None
                       ) -> Iterator[Sample]:
    """`_explained` for an export's samples (their labels already parsed),
    each weighed as the intervals it stands for, as the waits table counts it."""
    for s in samples:
        lab = s.labels
        if s.kind == OFFCPU and ("syscall" in lab or "waker_kind" in lab) and (
                only is None or only.matches(lab)):
            n = _weight(lab.get("kept_1_in"))
            yield replace(s, value_ns=s.value_ns * n) if n > 1 else s


def wait_samples(samples: Iterable[Sample], only: WaitFilter) -> list[Sample]:
    """The samples of the waits on one target: a waits-table row exported
    (pprof, folded), totalling what its filtered flame graph shows."""
    return list(_explained_samples(samples, only))


def offwake_samples(samples: Iterable[Sample], only: WaitFilter | None = None) -> list[Sample]:
    """The off-wake graph's stacks as samples, for exports: each woken
    interval's blocked stack, its reason frame (kind `offcpu`, in place: the
    waker's frames follow it), then the waker's part as `offwake` draws it."""
    out = []
    for s in _explained_samples(samples, only):
        if "waker_kind" not in s.labels:
            continue
        waker = tuple(Frame(n[:-4] if k == "kernel" and n.endswith("_[k]") else n, k)
                      for n, k in _waker_frames(s.labels))
        out.append(replace(s, stack=(*s.stack, Frame(f"[off-cpu:{s.reason or 'other'}]",
                                                       "offcpu"), *waker)))
    return out


def waits_on(engine: QueryEngine, sel: Selection, only: WaitFilter) -> dict[int, int]:
    """Stack id -> off-CPU time of the selection's waits on one target: the
    flame graph a row of the waits table filters to."""
    out: dict[int, int] = {}
    for w, lab in _explained(engine.kept_waits(sel), only):
        out[w.stack_id] = out.get(w.stack_id, 0) + w.value_ns * _weight(lab.get("kept_1_in"))
    return out


def _waker_frames(lab: dict) -> list[tuple[str, str]]:
    """The waker's part of an off-wake stack, bottom up: its stack leaf first
    (the wakeup sits on the blocked stack), then a frame naming the waker."""
    names = lab["waker_stack"].split(";") if lab.get("waker_stack") else []
    kinds = kinds_of_waker(lab.get("waker_kinds", ""), len(names))
    # an older agent sent no kinds: kernel frames still say so by their name
    frames = [(name, kind or ("kernel" if name.endswith("_[k]") else "native"))
              for name, kind in zip(reversed(names), reversed(kinds), strict=True)]
    who = lab.get("waker_thread") or lab.get("waker_comm") or "?"
    if lab.get("waker_kind") == "thread" and lab.get("waker_tid"):
        who = f"{who} (tid {lab['waker_tid']})"
    return [*frames, (f"woken by {who}", WAKER_KIND)]


def offwake(engine: QueryEngine, sel: Selection, only: WaitFilter | None = None,
            max_nodes: int = 0) -> dict:
    """The off-wake flame graph (bcc's offwaketime, drawn as Brendan Gregg's
    off-wake graph): each kept interval's blocked stack, root first, up to its
    reason frame, with its waker's stack stacked on top of it upside down
    (the waker's innermost frame, where it woke the thread, first), topped by a
    frame naming the waker. Only intervals whose waker is known are drawn:
    `woken_ns` is their time, `kept_ns` that of every kept interval of the
    selection (the rest: no wakeup recorded, e.g. a signal or an exit)."""
    waits = list(_explained(engine.kept_waits(sel), only))
    named = engine.named_stacks({w.stack_id for w, _ in waits})
    names = fg.Names()
    wakers: dict[str, tuple[int, ...]] = {}
    stacks: dict[bytes, int] = {}  # flamegraph.stack_key -> value
    kept = 0
    for w, lab in waits:
        value = w.value_ns * _weight(lab.get("kept_1_in"))
        kept += value
        if "waker_kind" not in lab:
            continue
        blocked = tuple(names(f.folded_name() if f.kind == "kernel" else f.name, f.kind)
                        for f in named.get(w.stack_id, ()))
        key = json.dumps([lab.get(k) for k in ("waker_stack", "waker_thread", "waker_comm",
                                               "waker_tid", "waker_kind")])
        top = wakers.get(key)
        if top is None:
            top = wakers[key] = tuple(names(n, k) for n, k in _waker_frames(lab))
        stack = fg.stack_key(blocked + top)
        stacks[stack] = stacks.get(stack, 0) + value
    levels, total, _ = fg.levels_sorted(stacks, None, max_nodes or fg.MAX_NODES, names.other)
    out = fg.flamebearer_from_levels(levels, total, names, engine.units(sel))
    out["offwake"] = {"woken_ns": total, "kept_ns": kept}
    return out
