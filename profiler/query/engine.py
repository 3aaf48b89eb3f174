"""Queries over the store: flame graphs, diffs, top, timelines, threads.

The store sums values by stack id over a range (`ProfileStore`); this names
the stacks and shapes the answers.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace

from profiler.model import (
    AGENT_LOSSES,
    AGENT_SAMPLED,
    BUILTIN_TYPES,
    CPU,
    OFFCPU,
    PROCESS_CPU_ID,
    Frame,
    ProfileType,
    Sample,
    folded_name,
    profile_type,
    type_id,
)
from profiler.query import flamegraph as fg
from profiler.query import significance, tracks
from profiler.query.gcpause import gc_paused
from profiler.query.idmap import IdMap, summed
from profiler.query.processes import (
    PROCESS_KIND,
    ProcessRoots,
    split_by_process,
    stack_processes,
)
from profiler.query.selector import Selector
from profiler.query.tracks import TrackColumns
from profiler.store import (
    ByteBoundedCache,
    KeptWait,
    ProfileStore,
    SeriesInfo,
    StackProcesses,
)

MAX_EVENTS = 200_000
# The most nodes a flame graph answers (`maxNodes`' largest value, and what no
# `maxNodes` means): past it the smallest merge into `other`, so an answer's
# memory is bounded however many distinct stacks the range holds (160k deep
# distinct stacks made 16M nodes and took 4-6 GiB).

# The label Pyroscope's APIs carry a series' profile type in.
TYPE_LABEL = "__profile_type__"


def pyroscope_id(kind: str) -> str:
    """A stored kind as Pyroscope's tools name it (`cpu` is `process_cpu:cpu:...`)."""
    t = BUILTIN_TYPES.get(kind)
    if t is None:
        return kind
    return PROCESS_CPU_ID if kind == CPU else type_id(
        t.name, t.sample_type, t.sample_unit, t.period_type, t.period_unit)


def better_thread_name(current: str, seen: str, comm: str) -> str:
    """The name to keep for a thread: a runtime's name (one that is not the
    kernel's comm) wins over the comm the recorder falls back to."""
    if not current or (current == comm and seen and seen != comm):
        return seen or current
    return current


@dataclass(frozen=True)
class Selection:
    tenant: str
    selector: Selector
    lo: int
    hi: int
    pid: int | None = None
    tid: int | None = None


class StackNames:
    """Frames' display names interned once, and each stored stack's names as a
    `flamegraph.stack_key` (4 bytes a frame).

    A render then names a stack with one lookup instead of one per frame (a
    host's hour holds ~100k stacks of ~15 frames). Stored frames and stacks
    never change, so entries stay true. Everything is bounded by bytes: the
    keys are an LRU of MAX_KEY_BYTES; past MAX_NAME_BYTES of names and frame
    ids the engine starts a new table (a request keeps the one it began with).
    """

    MAX_KEY_BYTES = 64 << 20
    MAX_NAME_BYTES = 32 << 20

    def __init__(self) -> None:
        self.names = fg.Names()
        self.keys = ByteBoundedCache(self.MAX_KEY_BYTES, _key_bytes)
        self.frames = IdMap()  # stored frame id -> name index
        self.lock = threading.Lock()

    def full(self) -> bool:
        return self.names.bytes + self.frames.nbytes > self.MAX_NAME_BYTES


# Stacks named per store read: a request holds one chunk's frame ids at once
# (~1.6 MB for 20,000 stacks of 20 frames; fewer, denser reads than 5,000).
_NAME_CHUNK = 20_000


_KEY_BYTES = 140  # a key's bytes object, its id and the LRU's entry, past its frames


def _key_bytes(_sid: int, key: bytes) -> int:
    return _KEY_BYTES + len(key)


class QueryEngine:
    def __init__(self, store: ProfileStore) -> None:
        self.store = store
        self._stack_names = StackNames()

    def _names_table(self) -> StackNames:
        if self._stack_names.full():
            self._stack_names = StackNames()
        return self._stack_names

    def _done_with(self, table: StackNames) -> None:
        """Drops a table a request filled past its bound (not held until the next one)."""
        if table.full() and self._stack_names is table:
            self._stack_names = StackNames()

    # ----------------------------------------------------------- series/labels

    def series(self, tenant: str, selector: Selector | None = None,
               lo: int | None = None, hi: int | None = None) -> list[SeriesInfo]:
        """Series of the tenant; a selector may match `__profile_type__` (the type's id)."""
        out = [s for s in self.store.series(tenant)
               if selector is None or (s.kind in selector.kinds and selector.matches(
                   {**s.labels, TYPE_LABEL: pyroscope_id(s.kind)}))]
        if lo is not None and hi is not None and out:
            active = self.store.active_series([s.id for s in out], lo, hi)
            out = [s for s in out if s.id in active]
        return out

    def label_names(self, tenant: str, lo: int, hi: int) -> list[str]:
        names = set()
        for s in self.series(tenant, None, lo, hi):
            names.update(s.labels)
        return sorted(names | {TYPE_LABEL}) if names else []

    def label_values(self, tenant: str, name: str, lo: int, hi: int,
                     selector: Selector | None) -> list[str]:
        if name == TYPE_LABEL:
            return sorted({pyroscope_id(s.kind) for s in self.series(tenant, selector, lo, hi)})
        vals = {s.labels[name] for s in self.series(tenant, selector, lo, hi) if name in s.labels}
        return sorted(vals)

    def profile_types(self, tenant: str, lo: int, hi: int) -> list[ProfileType]:
        """The types of the series with samples in [lo, hi), Flamecam's own first."""
        kinds = {s.kind for s in self.series(tenant, None, lo, hi)}
        out = []
        for kind in sorted(kinds, key=lambda k: (k not in BUILTIN_TYPES, k)):
            try:
                out.append(profile_type(kind))
            except ValueError:  # a kind this version does not know: not offered
                continue
        return out

    @staticmethod
    def units(sel: Selection) -> str:
        """The unit of a selection's values (its kinds share one: a selector names one type)."""
        try:
            return profile_type(sel.selector.kinds[0]).sample_unit
        except (ValueError, IndexError):
            return "nanoseconds"

    def losses(self, sel: Selection) -> list[dict]:
        """What agents reported lost in the range, per host and reason.

        With label matchers, only on the hosts of the series they select (over
        all time: a host whose every batch was lost has no series in the range).
        """
        rows = self.store.losses(sel.tenant, sel.lo, sel.hi)
        if sel.selector.matchers:
            hosts = {s.labels.get("host", "") for s in self.series(sel.tenant, sel.selector)}
            rows = [r for r in rows if r.host in hosts]
        out = []
        for r in rows:
            unit, why = AGENT_LOSSES.get(r.reason, ("events", r.reason))
            out.append({"host": r.host, "reason": r.reason, "count": r.count, "unit": unit,
                        "why": why, "last_ms": r.ts_ns // 10**6,
                        "lost": r.reason not in AGENT_SAMPLED})
        return out

    # ------------------------------------------------------------ aggregation

    def _series(self, sel: Selection) -> dict[int, SeriesInfo]:
        return {s.id: s for s in self.series(sel.tenant, sel.selector)}

    def stack_values(self, sel: Selection, memo: dict | None = None) -> dict[int, int]:
        """Stored stack id -> value over the selection: summed, or for a gauge type
        (in-use memory, goroutines) each series' average over its profiles."""
        series = self._series(sel)
        if not self._is_gauge(sel):
            return self.store.stack_values(series, sel.lo, sel.hi, pid=sel.pid, tid=sel.tid,
                                           memo=memo)
        out: dict[int, float] = {}
        for sid in series:
            n = len(self._profile_times(sid, sel, memo))
            for stack, v in self.store.stack_values([sid], sel.lo, sel.hi, pid=sel.pid,
                                                    tid=sel.tid, memo=memo).items():
                out[stack] = out.get(stack, 0) + v / n
        return {stack: round(v) for stack, v in out.items()}

    @staticmethod
    def _is_gauge(sel: Selection) -> bool:
        kinds = sel.selector.kinds
        return len(kinds) == 1 and kinds[0] not in BUILTIN_TYPES and \
            profile_type(kinds[0]).aggregation == "average"

    def _profile_times(self, sid: int, sel: Selection, memo: dict | None) -> list[int]:
        """When each profile of one series in the selection was taken (its sample times).

        A heap snapshot pushed every 10 s must not add up to 360 heaps an hour.
        Downsampled blocks keep no samples: there, each 10 s with data is one.
        """
        times: set[int] = set()
        for part in self.store.samples([sid], sel.lo, sel.hi):
            times.update(part.cols.ts[part.start:part.end])
        if not times:
            points = self.store.timeline([sid], sel.lo, sel.hi, 10**10, memo=memo)
            times = {sel.lo + i * 10**10 for i, v in enumerate(points) if v}
        return sorted(times) or [sel.lo]

    def stack_processes(self, sel: Selection, at_least: int = 1) -> StackProcesses:
        """Which processes the selection's stacks came from. None for a selection
        of one pid or thread (it is one process), or of fewer than `at_least`."""
        if sel.pid is not None or sel.tid is not None:
            return StackProcesses()
        series = self._series(sel)
        if len(self.store.process_names(series, sel.lo, sel.hi) - {""}) < at_least:
            return StackProcesses()  # without reading the thread tables
        return stack_processes(lambda: self.store.process_tables(series, sel.lo, sel.hi),
                               at_least)

    def process_roots(self, sel: Selection, values: dict[int, int], at_least: int = 2
                      ) -> ProcessRoots | None:
        """Each stack's value per process when the selection spans processes, else None."""
        return split_by_process(values, self.stack_processes(sel, at_least), at_least)

    def _stack_keys(self, stack_ids: Iterable[int], table: StackNames
                    ) -> tuple[list[int], list[bytes]]:
        """Stored stacks of `stack_ids` (unknown ids left out) and their `table`
        keys, in bulk. Unnamed stacks are read from the store _NAME_CHUNK at a
        time, in id order (mostly runs of ids, read by range), so a request
        holds one chunk's frames, never every stack's."""
        ids = list(stack_ids)
        keys = list(map(table.keys.get, ids))
        unnamed = keys.count(None)
        if not unnamed:
            return ids, keys
        if unnamed == len(ids):  # a cold render: none named yet
            missing, ids, keys = ids, [], []
        else:
            missing = [s for s, k in zip(ids, keys, strict=True) if k is None]
            ids = [s for s, k in zip(ids, keys, strict=True) if k is not None]
            keys = [k for k in keys if k is not None]
        # a set of a database's dense ids iterates nearly in order: half a list's sort
        missing = sorted(set(missing))
        for i in range(0, len(missing), _NAME_CHUNK):
            got_ids, got_keys = self._name_stacks(missing[i:i + _NAME_CHUNK], table)
            ids += got_ids
            keys += got_keys
        return ids, keys

    def _name_stacks(self, stack_ids: list[int], table: StackNames
                     ) -> tuple[list[int], list[bytes]]:
        """Stored stacks (unknown ones left out) and their keys, named in bulk:
        every frame id mapped to its name index by `IdMap` (in C when built),
        no Python step per stack."""
        ids, packed = self.store.packed_stacks(stack_ids)
        fnames = table.frames
        unknown = fnames.missing(packed)
        with table.lock:  # one index per name, whichever request interns it
            if unknown:
                fids, names, kinds = self.store.frame_names(unknown)
                fnames.update(fids, table.names.many(zip(map(folded_name, names, kinds), kinds,
                                                         strict=True)))
            keys = fnames.keys(packed)
        size = sum(map(len, packed))
        del packed
        with table.lock:
            table.keys.put_many(ids, keys, _KEY_BYTES * len(keys) + size)
        return ids, keys

    # ---------------------------------------------------------------- renders

    def _named_pairs(self, values: dict[int, int], table: StackNames,
                     roots: ProcessRoots | None = None) -> tuple[list[bytes], list[int]]:
        """Each stack's key (`stack_key` of its frames' names) and value, a key
        repeated where stacks name alike; with `roots`, each stack's value
        split under the processes it came from."""
        ids, keys = self._stack_keys(values, table)
        split: list[tuple[int, bytes]] = []
        if roots is not None:
            owner, parts = roots.owner, roots.parts
            comms = set(map(owner.get, ids)) | {c for p in parts.values() for c, _ in p}
            procs: dict[str | None, bytes] = {None: b"", "": b""}  # no process: unrooted
            with table.lock:
                for comm in comms - procs.keys():
                    procs[comm] = fg.stack_key((table.names(comm, PROCESS_KIND),))
            split = [(s, k) for s, k in zip(ids, keys, strict=True) if s in parts] if parts else []
            if split:  # stacks of several processes: each process's part below
                whole = [(s, k) for s, k in zip(ids, keys, strict=True) if s not in parts]
                ids, keys = [s for s, _ in whole], [k for _, k in whole]
            keys = list(map(bytes.__add__, map(procs.__getitem__, map(owner.get, ids)), keys))
        vals = list(map(values.__getitem__, ids))
        for s, k in split:
            for comm, part in roots.parts[s]:
                keys.append(procs[comm] + k)
                vals.append(part)
        return keys, vals

    def _merged_by_name(self, values: dict[int, int], table: StackNames,
                        roots: ProcessRoots | None = None) -> dict[bytes, int]:
        """Values by the names of the stacks' frames (`stack_key`s: stacks that name
        alike merge); with `roots`, each stack's value split under the processes
        it came from."""
        return summed(*self._named_pairs(values, table, roots))

    def render(self, sel: Selection, max_nodes: int = 0,
               values: dict[int, int] | None = None) -> dict:
        """The selection's flame graph; of `values` (stack id -> value, a part of
        the selection such as the waits on one target) when given, then with
        neither process level nor timeline."""
        table = self._names_table()
        names = table.names
        memo: dict = {}
        whole = values is None
        with gc_paused():
            if values is None:
                values = self.stack_values(sel, memo)
            roots = self.process_roots(sel, values) if whole else None
            keys, vals = self._named_pairs(values, table, roots)
            del values
            levels, total, _ = fg.levels_of_pairs(keys, vals, max_nodes or fg.MAX_NODES,
                                                  self._other(table))
            del keys, vals
            out = fg.flamebearer_from_levels(levels, total, names, self.units(sel))
        self._done_with(table)
        # Pyroscope tooling reads the embedded timeline; it never filters by
        # pid/tid, and per-thread timelines come from /api/v1/timeline.
        if whole and sel.pid is None and sel.tid is None:
            out["timeline"] = self.pyroscope_timeline(sel, memo=memo)
        return out

    @staticmethod
    def _other(table: StackNames) -> Callable[[], int]:
        def other() -> int:
            with table.lock:
                return table.names.other()
        return other

    def diff(self, left: Selection, right: Selection, max_nodes: int = 0,
             weights: bool = False) -> dict:
        """With `weights`, each node's weight per side as well (significance.py)."""
        lv, rv = self.stack_values(left), self.stack_values(right)
        # Both sides under their processes when either spans processes.
        roots = (self.process_roots(left, lv), self.process_roots(right, rv))
        if roots[0] is not None or roots[1] is not None:
            roots = (self.process_roots(left, lv, 1), self.process_roots(right, rv, 1))
        squares = None
        if weights and not (self._is_gauge(left) or self._is_gauge(right)):
            squares = tuple(significance.stack_squares(self.store, self._series(s), s.lo, s.hi,
                                                       v, s.pid, s.tid)
                            for s, v in ((left, lv), (right, rv)))
        return self.diff_values(lv, rv, max_nodes, self.units(left), roots, squares)

    def diff_values(self, left: dict[int, int], right: dict[int, int], max_nodes: int = 0,
                    units: str = "nanoseconds",
                    roots: tuple[dict | None, dict | None] = (None, None),
                    squares: tuple[int | dict[int, int], int | dict[int, int]] | None = None
                    ) -> dict:
        """The diff flamebearer of two stack id -> value maps (A left, B right);
        with `squares` (per side: stack id -> sum of squared event values, or
        one int w when each event weighs w), the nodes' `weights` too."""
        table = self._names_table()
        names = table.names
        with gc_paused():
            lstacks = self._merged_by_name(left, table, roots[0])
            rstacks = self._merged_by_name(right, table, roots[1])
            merged = None
            if squares is not None:  # a side of one weight is that int: squares follow values
                merged = tuple(q if isinstance(q, int) else self._merged_by_name(
                    q, table, significance.roots_for_squares(r, v, q))
                    for q, r, v in zip(squares, roots, (left, right), strict=True))
            squared = None
            if merged is None or all(isinstance(q, int) for q in merged):  # no node's squares
                levels, lt, rt = fg.levels_sorted(lstacks, rstacks, max_nodes or fg.MAX_NODES,
                                                  self._other(table))
            else:
                levels, lt, rt, squared = fg.diff_levels_squared(
                    lstacks, rstacks, merged, max_nodes or fg.MAX_NODES, self._other(table))
            del lstacks, rstacks
            node_weights = significance.node_weights(levels, squared, merged) if merged else None
            out = fg.diff_flamebearer_from_levels(levels, lt, rt, names, units)
        self._done_with(table)
        if node_weights:
            out["weights"] = node_weights
        return out

    def top(self, sel: Selection, limit: int = 100) -> list[dict]:
        values = self.stack_values(sel)
        sf, frames = self.stack_frames(values)
        # By display name (as the flame graph merges them): a stack counts once
        # towards a name's total however many of its frames carry that name,
        # even when they are different frames (the same function in two processes).
        by_name: dict[tuple[str, str], list[int]] = {}
        for s, v in values.items():
            fr = sf.get(s)
            if not fr:
                continue
            leaf = frames[fr[-1]]
            by_name.setdefault((leaf.name, leaf.kind), [0, 0])[0] += v
            for key in {(frames[f].name, frames[f].kind) for f in fr}:
                by_name.setdefault(key, [0, 0])[1] += v
        rows = [{"name": n, "kind": k, "self": s, "total": t} for (n, k), (s, t) in
                by_name.items()]
        rows.sort(key=lambda r: (-r["self"], -r["total"], r["name"]))
        return rows[:limit] if limit > 0 else rows

    # --------------------------------------------------------------- timeline

    def timeline(self, sel: Selection, step_ns: int, memo: dict | None = None
                 ) -> list[list[int]]:
        """[[ts_ms, value_ns], ...] per step over the selection (zeros included).

        A step that is a multiple of 10 s, with `lo` aligned to 10 s, is the
        cheapest: the store keeps 10 s totals.
        """
        lo = sel.lo
        series = self._series(sel)
        if not self._is_gauge(sel) or not series:
            points = self.store.timeline(series, lo, sel.hi, step_ns, pid=sel.pid, tid=sel.tid,
                                         memo=memo)
            return [[(lo + i * step_ns) // 10**6, v] for i, v in enumerate(points)]
        # A gauge: per step, each series' average over its profiles in the step.
        acc: list[float] = []
        for sid in series:
            per_step = Counter((t - lo) // step_ns for t in self._profile_times(sid, sel, memo))
            points = self.store.timeline([sid], lo, sel.hi, step_ns, pid=sel.pid, tid=sel.tid,
                                         memo=memo)
            acc += [0.0] * (len(points) - len(acc))
            for i, v in enumerate(points):
                if v:
                    acc[i] += v / max(1, per_step[i])
        return [[(lo + i * step_ns) // 10**6, round(v)] for i, v in enumerate(acc)]

    def pyroscope_timeline(self, sel: Selection, max_points: int = 360,
                           memo: dict | None = None) -> dict:
        step = default_step(sel.lo, sel.hi, max_points)
        sel = Selection(sel.tenant, sel.selector, sel.lo - sel.lo % step, sel.hi, sel.pid, sel.tid)
        pts = self.timeline(sel, step, memo)
        return {"startTime": sel.lo // 10**9, "samples": [v for _, v in pts],
                "durationDelta": step // 10**9}

    # ---------------------------------------------------------------- threads

    def threads(self, sel: Selection, reasons: bool = False) -> list[dict]:
        """Per thread: on-CPU and off-CPU time (with `reasons`, the off-CPU time
        split by reason as well: that reads the samples, not the aggregates).

        A thread's name is the runtime's (threading's, Java's) when any sample
        carries one: the recorder falls back to the kernel's comm until the
        runtime has read a new thread's name, so a thread's first samples
        often carry only its comm.
        """
        series = self._series(sel)
        acc: dict[tuple[int, int], dict] = {}
        for r in self.store.thread_totals(series, sel.lo, sel.hi):
            t = acc.get((r.pid, r.tid))
            if t is None:
                t = acc[(r.pid, r.tid)] = {"pid": r.pid, "tid": r.tid,
                                           "thread_name": r.thread_name, "comm": r.comm,
                                           "cpu_ns": 0, "offcpu_ns": 0}
            kind = series[r.series_id].kind
            if kind in (CPU, OFFCPU):
                t["cpu_ns" if kind == CPU else "offcpu_ns"] += r.value
            else:  # a client's type (heap, locks): in its own unit
                t["value"] = t.get("value", 0) + r.value
            t["thread_name"] = better_thread_name(t["thread_name"], r.thread_name, t["comm"])
            t["comm"] = t["comm"] or r.comm
        if reasons:
            self._offcpu_reasons(sel, series, acc)
        rows = list(acc.values())
        if sel.pid is not None:
            rows = [r for r in rows if r["pid"] == sel.pid]
        rows.sort(key=lambda r: -(r["cpu_ns"] + r["offcpu_ns"]))
        return rows

    def frame_threads(self, sel: Selection, name: str, limit: int = 20) -> list[dict]:
        """The threads whose samples pass through the frame `name` (named as the
        flame graph names it), most time in it first, with that time as `value`:
        what a flame graph's "show only this thread/process" offers."""
        series = self._series(sel)
        by_stack: dict[int, Counter] = {}
        thread_names: dict[tuple[int, int], tuple[str, str]] = {}
        for part in self.store.samples(series, sel.lo, sel.hi):
            cols = part.cols
            st = cols.strings
            for k in range(part.start, part.end):
                if sel.pid is not None and cols.pid[k] != sel.pid:
                    continue
                key = (cols.pid[k], cols.tid[k])
                per = by_stack.get(cols.stack[k])
                if per is None:
                    per = by_stack[cols.stack[k]] = Counter()
                per[key] += cols.value[k]
                tname, comm = thread_names.get(key, ("", ""))
                comm = comm or st[cols.comm[k]]
                thread_names[key] = (better_thread_name(tname, st[cols.thread[k]], comm), comm)
        sf, frames = self.stack_frames(by_stack)
        hit = {fid for fid, f in frames.items()
               if (f.folded_name() if f.kind == "kernel" else f.name) == name}
        acc: Counter = Counter()
        for sid, fr in sf.items():
            if hit.intersection(fr):
                acc.update(by_stack[sid])
        return [{"pid": pid, "tid": tid, "thread_name": thread_names[(pid, tid)][0],
                 "comm": thread_names[(pid, tid)][1], "value": v}
                for (pid, tid), v in acc.most_common(limit)]

    def _offcpu_reasons(self, sel: Selection, series: dict[int, SeriesInfo],
                        acc: dict[tuple[int, int], dict]) -> None:
        """Adds `offcpu_by_reason` to each thread of `acc`, from the stored samples
        (downsampled data keeps none: what they held stays in `offcpu_ns` only)."""
        off = [sid for sid, s in series.items() if s.kind == OFFCPU]
        for t in acc.values():
            t["offcpu_by_reason"] = {}
        for part in self.store.samples(off, sel.lo, sel.hi):
            cols = part.cols
            st, pids, tids, reason, value = (cols.strings, cols.pid, cols.tid, cols.reason,
                                             cols.value)
            for k in range(part.start, part.end):
                t = acc.get((pids[k], tids[k]))
                if t is not None:
                    by = t["offcpu_by_reason"]
                    name = st[reason[k]] or "other"
                    by[name] = by.get(name, 0) + value[k]

    def track_events(self, sel: Selection, tids: Collection[int] | None = None,
                     limit: int = MAX_EVENTS) -> tuple[TrackColumns, bool]:
        """The selection's samples one by one, by time (of `tids`, else of
        `sel.tid` when given): the first `limit`, and whether more were left out."""
        series = self._series(sel)
        if tids is None and sel.tid is not None:
            tids = (sel.tid,)
        rows, more = self.store.thread_events(series, sel.lo, sel.hi, pid=sel.pid, tids=tids,
                                              limit=limit)
        cpu = {sid: int(s.kind == CPU) for sid, s in series.items()}
        names: dict[tuple[int, int], tuple[str, str]] = {}
        for r in rows:  # the runtime's name when any sample has it
            name, comm = names.get((r.pid, r.tid), ("", ""))
            comm = comm or r.comm
            names[(r.pid, r.tid)] = (better_thread_name(name, r.thread_name, comm), comm)
        return TrackColumns(
            [cpu[r.series_id] for r in rows], [r.ts_ns for r in rows],
            [r.value_ns for r in rows], [r.pid for r in rows], [r.tid for r in rows],
            [r.stack_id for r in rows], [r.reason for r in rows], [""] * len(rows),
            names, [r.labels for r in rows], [r.count for r in rows]), more

    def kept_waits(self, sel: Selection) -> list[KeptWait]:
        """The selection's off-CPU intervals whose labels say why they waited
        (kept one by one: summed short ones have none), for profiler/query/waits.py."""
        off = [sid for sid, s in self._series(sel).items() if s.kind == OFFCPU]
        out = []
        for part in self.store.samples(off, sel.lo, sel.hi):
            cols = part.cols
            st, labels, pids, tids = cols.strings, cols.labels, cols.pid, cols.tid
            for k in range(part.start, part.end):
                if not labels[k] or (sel.tid is not None and tids[k] != sel.tid) or (
                        sel.pid is not None and pids[k] != sel.pid):
                    continue
                out.append(KeptWait(cols.stack[k], st[cols.reason[k]], cols.value[k],
                                    st[labels[k]]))
        return out

    def track_intervals(self, sel: Selection, tids: Collection[int] | None = None
                        ) -> list[tuple[int, int, int, int, str]] | None:
        """Which thread served which span when (a trace's engine); None: no trace."""
        return None

    def stack_frames(self, stack_ids: Iterable[int]
                     ) -> tuple[dict[int, tuple[int, ...]], dict[int, Frame]]:
        """Frame ids (root first) of stored stacks, and those frames by id."""
        sf = self.store.stack_frames(set(stack_ids))
        return sf, self.store.frames({f for fr in sf.values() for f in fr})

    def named_stacks(self, stack_ids: Iterable[int]) -> dict[int, tuple[Frame, ...]]:
        """Frames (root first) of stored stacks."""
        sf, frames = self.stack_frames(stack_ids)
        return {s: tuple(frames[f] for f in fr) for s, fr in sf.items()}

    def thread_events(self, sel: Selection, tids: Collection[int] | None,
                      limit: int = MAX_EVENTS) -> dict:
        """Several threads' events over the selection, as thread tracks draw them."""
        events, more = self.track_events(sel, tids, limit)
        return tracks.thread_events_answer(events, more, sel.lo, sel.hi, self.stack_frames,
                                           self.track_intervals(sel, tids) or ())

    def thread_timeline(self, sel: Selection) -> dict:
        events, more = self.track_events(sel, None, MAX_EVENTS)
        return tracks.timeline_answer(events, more, self.stack_frames,
                                      self.track_intervals(sel, None))

    # ---------------------------------------------------------------- samples

    def samples(self, sel: Selection, limit: int = 2_000_000) -> list[Sample]:
        """Per-sample view of the selection (for exports)."""
        series = self._series(sel)
        parts = list(self.store.samples(series, sel.lo, sel.hi))
        stack_ids = {s for p in parts for s in set(p.cols.stack[p.start:p.end])}
        sf = self.store.stack_frames(stack_ids)
        frames = self.store.frames({f for fr in sf.values() for f in fr})
        stacks: dict[int, tuple[Frame, ...]] = {
            s: tuple(frames[f] for f in fr) for s, fr in sf.items()}
        out: list[Sample] = []
        for p in parts:
            info = series[p.series_id]
            cols = p.cols
            st = cols.strings
            for k in p.rows(sel.pid, sel.tid):
                stack = stacks.get(cols.stack[k], ())
                if info.kind == OFFCPU and stack and stack[-1].kind == "offcpu":
                    stack = stack[:-1]
                lab = st[cols.labels[k]]
                out.append(Sample(info.kind, cols.ts[k], cols.pid[k], cols.tid[k], cols.cpu[k],
                                  st[cols.comm[k]], st[cols.thread[k]], stack, cols.value[k],
                                  cols.count[k], st[cols.reason[k]],
                                  {**info.labels, **(json.loads(lab) if lab else {})}))
                if len(out) >= limit:
                    return out
        out.sort(key=lambda s: s.ts_ns)
        return rooted_at_process(sel, out)

    def folded(self, sel: Selection,
               shape: Callable[[list[str]], list[str] | None] | None = None) -> str:
        """FlameGraph folded text of the merged selection (`a;b;c value_ns`), one
        line per stack of names (stored stacks naming alike are one line, as they
        are one node of the flame graph); `shape` reshapes each stack's names
        (None: left out; export.StackShape.names: a graph's focus and hidden frames)."""
        values = self.stack_values(sel)
        sf, frames = self.stack_frames(values)
        roots = self.process_roots(sel, values)
        lines: Counter[str] = Counter()
        for s, v in sorted(values.items()):
            fr = sf.get(s)
            if not fr:
                continue
            names = [frames[f].folded_name() for f in fr]
            for comm, part in roots.of(s, v) if roots is not None else (("", v),):
                kept = [comm, *names] if comm else names
                if shape is not None:
                    kept = shape(kept)
                if kept:
                    lines[";".join(kept)] += part
        return "".join(f"{stack} {v}\n" for stack, v in lines.items())


def rooted_at_process(sel: Selection, samples: list[Sample]) -> list[Sample]:
    """Samples of a selection spanning processes, each stack under a frame naming its
    process (kind `process`), as the flame graph shows them; others unchanged."""
    if sel.pid is not None or sel.tid is not None or len({s.comm for s in samples
                                                          if s.comm}) < 2:
        return samples
    return [replace(s, stack=(Frame(s.comm, PROCESS_KIND), *s.stack)) if s.comm else s
            for s in samples]


def default_step(lo: int, hi: int, max_points: int = 360) -> int:
    """A round step (≥ 10 s) giving at most max_points points."""
    span_s = max(1, (hi - lo) // 10**9)
    for step in (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if span_s / step <= max_points:
            return step * 10**9
    return 86400 * 10**9
