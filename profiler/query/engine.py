"""Queries over the store: flame graphs, diffs, top, timelines, threads.

Aggregation reads each block's pre-aggregated stack table when the block (or
one of its time buckets) lies wholly inside the range, and the per-sample
columns only for buckets cut by the range edges or when filtering by pid/tid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from profiler.model import CPU, OFFCPU, Frame, Sample
from profiler.query import flamegraph as fg
from profiler.query.selector import Selector
from profiler.store import SeriesInfo, Store
from profiler.store import blocks as blk
from profiler.store.store import BlockRow

MAX_EVENTS = 200_000


@dataclass(frozen=True)
class Selection:
    tenant: str
    selector: Selector
    lo: int
    hi: int
    pid: int | None = None
    tid: int | None = None


class QueryEngine:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ----------------------------------------------------------- series/labels

    def series(self, tenant: str, selector: Selector | None = None,
               lo: int | None = None, hi: int | None = None) -> list[SeriesInfo]:
        out = [s for s in self.store.series(tenant)
               if selector is None or (s.kind in selector.kinds and selector.matches(s.labels))]
        if lo is not None and hi is not None and out:
            active = {b.series_id for b in self.store.blocks([s.id for s in out], lo, hi)}
            out = [s for s in out if s.id in active]
        return out

    def label_names(self, tenant: str, lo: int, hi: int) -> list[str]:
        names = set()
        for s in self.series(tenant, None, lo, hi):
            names.update(s.labels)
        return sorted(names)

    def label_values(self, tenant: str, name: str, lo: int, hi: int,
                     selector: Selector | None) -> list[str]:
        vals = {s.labels[name] for s in self.series(tenant, selector, lo, hi) if name in s.labels}
        return sorted(vals)

    # ------------------------------------------------------------ aggregation

    def _blocks(self, sel: Selection) -> tuple[dict[int, SeriesInfo], list[BlockRow]]:
        series = {s.id: s for s in self.series(sel.tenant, sel.selector)}
        return series, (self.store.blocks(series, sel.lo, sel.hi) if series else [])

    def _edge_columns(self, ids: list[int], memo: dict | None) -> dict[int, tuple]:
        """Decoded edge columns by block id; `memo` shares them within one request."""
        memo = memo if memo is not None else {}
        missing = [i for i in ids if i not in memo]
        for bid, blob in self.store.raw_blobs(missing).items():
            memo[bid] = blk.EdgeReader(blob)
        return {i: memo[i] for i in ids if i in memo}

    def stack_values(self, sel: Selection, memo: dict | None = None) -> dict[int, int]:
        """Stored stack id -> summed value over the selection."""
        _, blocks = self._blocks(sel)
        acc: dict[int, int] = {}
        lo, hi = sel.lo, sel.hi
        if sel.pid is not None or sel.tid is not None:
            # Whole blocks: their per-thread tables; blocks cut by the range: samples.
            whole = [b for b in blocks if lo <= b.t_start and b.t_end <= hi]
            aggs = self.store.aggregates([b.id for b in whole])
            cut = [b.id for b in blocks if b.id not in aggs or not aggs[b.id].thread_tables]
            for agg in aggs.values():
                for pid, tid, s, v in agg.thread_tables:
                    if (sel.pid is None or pid == sel.pid) and (sel.tid is None or
                                                                 tid == sel.tid):
                        _add(acc, s, v)
            raws = self.store.raw(cut)
            for cols in raws.values():
                i, j = cols.slice(lo, hi)
                stack, value, pid, tid = cols.stack, cols.value, cols.pid, cols.tid
                for k in range(i, j):
                    if (sel.pid is None or pid[k] == sel.pid) and (
                            sel.tid is None or tid[k] == sel.tid):
                        s = stack[k]
                        acc[s] = acc.get(s, 0) + value[k]
            return acc
        aggs = self.store.aggregates([b.id for b in blocks])
        edges: list[tuple[int, int, int]] = []  # (block id, lo, hi) needing raw
        spans: dict[int, list[tuple[int, int, int, int, int]]] = {}  # block id -> edges
        for b in blocks:
            agg = aggs.get(b.id)
            if agg is None:
                continue
            if lo <= b.t_start and b.t_end <= hi:
                _add(acc, agg.stacks, agg.values)
                continue
            for k, (b_lo, b_hi, _tot, s, v) in enumerate(agg.buckets):
                if b_hi <= lo or b_lo >= hi:
                    continue
                if lo <= b_lo and b_hi <= hi:
                    _add(acc, s, v)
                elif b.level == 2:  # no raw samples left: count a bucket by its middle
                    if lo <= (b_lo + b_hi) // 2 < hi:
                        _add(acc, s, v)
                elif k < len(agg.spans):
                    start, end, first = agg.spans[k]
                    spans.setdefault(b.id, []).append(
                        (start, end, first, max(lo, b_lo), min(hi, b_hi)))
                else:
                    edges.append((b.id, max(lo, b_lo), min(hi, b_hi)))
        if spans:
            for bid, cols in self._edge_columns(sorted(spans), memo).items():
                blk.add_range(acc, cols, spans[bid])
        if edges:
            raws = self.store.raw(sorted({e[0] for e in edges}))
            for bid, e_lo, e_hi in edges:
                cols = raws.get(bid)
                if cols is None:
                    continue
                i, j = cols.slice(e_lo, e_hi)
                blk.add_weighted(acc, cols.stack[i:j], cols.value[i:j])
        return acc

    def _named_stacks(self, values: dict[int, int], names: fg.Names
                      ) -> list[tuple[tuple[int, ...], int]]:
        sf = self.store.stack_frames(values)
        fids = {f for fr in sf.values() for f in fr}
        frames = self.store.frames(fids)
        fname = {fid: names(f.folded_name() if f.kind == "kernel" else f.name, f.kind)
                 for fid, f in frames.items()}
        return [(tuple(fname[f] for f in sf[s]), v) for s, v in values.items() if s in sf]

    # ---------------------------------------------------------------- renders

    def _merged_by_name(self, values: dict[int, int], names: fg.Names) -> dict[tuple, int]:
        out: dict[tuple[int, ...], int] = {}
        for stack, v in self._named_stacks(values, names):
            out[stack] = out.get(stack, 0) + v
        return out

    def render(self, sel: Selection, max_nodes: int = 0) -> dict:
        names = fg.Names()
        memo: dict = {}
        stacks = self._merged_by_name(self.stack_values(sel, memo), names)
        levels, total, _ = fg.levels_sorted(stacks, None, max_nodes)
        out = fg.flamebearer_from_levels(levels, total, names)
        # Pyroscope tooling reads the embedded timeline; it never filters by
        # pid/tid, and per-thread timelines come from /api/v1/timeline.
        if sel.pid is None and sel.tid is None:
            out["timeline"] = self.pyroscope_timeline(sel, memo=memo)
        return out

    def diff(self, left: Selection, right: Selection, max_nodes: int = 0) -> dict:
        names = fg.Names()
        lstacks = self._merged_by_name(self.stack_values(left), names)
        rstacks = self._merged_by_name(self.stack_values(right), names)
        levels, lt, rt = fg.levels_sorted(lstacks, rstacks, max_nodes)
        return fg.diff_flamebearer_from_levels(levels, lt, rt, names)

    def top(self, sel: Selection, limit: int = 100) -> list[dict]:
        values = self.stack_values(sel)
        sf = self.store.stack_frames(values)
        frames = self.store.frames({f for fr in sf.values() for f in fr})
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

        Uses the blocks' 10 s slot totals when the step is a multiple of 10 s
        and `lo` is aligned; slots cut by the range edges, finer steps and
        pid/tid filters read the samples.
        """
        lo, hi = sel.lo, sel.hi
        nsteps = max(1, -(-(hi - lo) // step_ns))
        points = [0] * nsteps
        _, blocks = self._blocks(sel)
        filtered = sel.pid is not None or sel.tid is not None
        edges: list[tuple[int, int, int]] = []
        spans: dict[int, list[tuple[int, int, int, int, int]]] = {}
        fine_ns = blk.FINE_NS
        if filtered:
            edges = [(b.id, lo, hi) for b in blocks]
        else:
            fine_ok = step_ns % fine_ns == 0 and lo % fine_ns == 0
            aggs = self.store.aggregates([b.id for b in blocks])
            for b in blocks:
                agg = aggs.get(b.id)
                if agg is None:
                    continue
                first, fine = agg.fine
                if not fine or not (fine_ok or b.level == 2):
                    edges.append((b.id, lo, hi))
                    continue
                for i, v in enumerate(fine):
                    t = (first + i) * fine_ns
                    if not v or t + fine_ns <= lo or t >= hi:
                        continue
                    if (lo <= t and t + fine_ns <= hi) or b.level == 2:
                        if lo <= t < hi:
                            points[(t - lo) // step_ns] += v
                        continue
                    e_lo, e_hi = max(lo, t), min(hi, t + fine_ns)
                    for k, (b_lo, b_hi, *_rest) in enumerate(agg.buckets):
                        if b_lo <= t < b_hi and k < len(agg.spans) and t + fine_ns <= b_hi:
                            start, end, first_ts = agg.spans[k]
                            spans.setdefault(b.id, []).append((start, end, first_ts, e_lo,
                                                               e_hi))
                            break
                    else:
                        edges.append((b.id, e_lo, e_hi))
        if spans:
            for bid, cols in self._edge_columns(sorted(spans), memo).items():
                blk.add_timeline(points, lo, step_ns, cols, spans[bid])
        if edges:
            raws = self.store.raw(sorted({e[0] for e in edges}))
            for bid, e_lo, e_hi in edges:
                cols = raws.get(bid)
                if cols is None:
                    continue
                i, j = cols.slice(e_lo, e_hi)
                ts, value, pid, tid = cols.ts, cols.value, cols.pid, cols.tid
                for k in range(i, j):
                    if filtered and ((sel.pid is not None and pid[k] != sel.pid) or
                                     (sel.tid is not None and tid[k] != sel.tid)):
                        continue
                    points[(ts[k] - lo) // step_ns] += value[k]
        return [[(lo + i * step_ns) // 10**6, v] for i, v in enumerate(points)]

    def pyroscope_timeline(self, sel: Selection, max_points: int = 360,
                           memo: dict | None = None) -> dict:
        step = default_step(sel.lo, sel.hi, max_points)
        sel = Selection(sel.tenant, sel.selector, sel.lo - sel.lo % step, sel.hi, sel.pid, sel.tid)
        pts = self.timeline(sel, step, memo)
        return {"startTime": sel.lo // 10**9, "samples": [v for _, v in pts],
                "durationDelta": step // 10**9}

    # ---------------------------------------------------------------- threads

    def threads(self, sel: Selection) -> list[dict]:
        series, blocks = self._blocks(sel)
        acc: dict[tuple[int, int], dict] = {}

        def add(kind: str, pid: int, tid: int, tname: str, comm: str, value: int) -> None:
            t = acc.get((pid, tid))
            if t is None:
                t = acc[(pid, tid)] = {"pid": pid, "tid": tid, "thread_name": tname,
                                       "comm": comm, "cpu_ns": 0, "offcpu_ns": 0}
            t["cpu_ns" if kind == CPU else "offcpu_ns"] += value
            if tname and not t["thread_name"]:
                t["thread_name"] = tname

        partial = []
        full = [b for b in blocks if sel.lo <= b.t_start and b.t_end <= sel.hi]
        partial = [b for b in blocks if not (sel.lo <= b.t_start and b.t_end <= sel.hi)]
        for bid, agg in self.store.aggregates([b.id for b in full]).items():
            kind = series[next(b.series_id for b in full if b.id == bid)].kind
            for pid, tid, tname, comm, value, _count in agg.threads:
                add(kind, pid, tid, tname, comm, value)
        kinds = {b.id: series[b.series_id].kind for b in partial}
        for bid, cols in self.store.raw([b.id for b in partial]).items():
            i, j = cols.slice(sel.lo, sel.hi)
            st = cols.strings
            for k in range(i, j):
                add(kinds[bid], cols.pid[k], cols.tid[k], st[cols.thread[k]],
                    st[cols.comm[k]], cols.value[k])
        rows = list(acc.values())
        if sel.pid is not None:
            rows = [r for r in rows if r["pid"] == sel.pid]
        rows.sort(key=lambda r: -(r["cpu_ns"] + r["offcpu_ns"]))
        return rows

    def thread_timeline(self, sel: Selection) -> dict:
        series, blocks = self._blocks(sel)
        events = []
        stack_index: dict[int, int] = {}
        for b_id, cols in self.store.raw([b.id for b in blocks]).items():
            kind = series[next(b.series_id for b in blocks if b.id == b_id)].kind
            i, j = cols.slice(sel.lo, sel.hi)
            for k in range(i, j):
                if sel.tid is not None and cols.tid[k] != sel.tid:
                    continue
                if sel.pid is not None and cols.pid[k] != sel.pid:
                    continue
                s = cols.stack[k]
                idx = stack_index.setdefault(s, len(stack_index))
                events.append({"kind": kind, "ts_ms": cols.ts[k] / 1e6,
                               "dur_ns": cols.value[k], "reason": cols.strings[cols.reason[k]],
                               "stack": idx, "pid": cols.pid[k], "tid": cols.tid[k]})
                if len(events) >= MAX_EVENTS:
                    break
        events.sort(key=lambda e: e["ts_ms"])
        sf = self.store.stack_frames(stack_index)
        frames = self.store.frames({f for fr in sf.values() for f in fr})
        stacks: list[list[str]] = [[] for _ in stack_index]
        for s, idx in stack_index.items():
            stacks[idx] = [frames[f].folded_name() for f in sf.get(s, ())]
        return {"events": events, "stacks": stacks, "truncated": len(events) >= MAX_EVENTS}

    # ---------------------------------------------------------------- samples

    def samples(self, sel: Selection, limit: int = 2_000_000) -> list[Sample]:
        """Per-sample view of the selection (for exports)."""
        series, blocks = self._blocks(sel)
        raws = self.store.raw([b.id for b in blocks])
        stack_ids = {s for cols in raws.values() for s in set(cols.stack)}
        sf = self.store.stack_frames(stack_ids)
        frames = self.store.frames({f for fr in sf.values() for f in fr})
        stacks: dict[int, tuple[Frame, ...]] = {
            s: tuple(frames[f] for f in fr) for s, fr in sf.items()}
        out: list[Sample] = []
        import json

        for b in blocks:
            cols = raws.get(b.id)
            if cols is None:
                continue
            info = series[b.series_id]
            st = cols.strings
            i, j = cols.slice(sel.lo, sel.hi)
            for k in range(i, j):
                if (sel.pid is not None and cols.pid[k] != sel.pid) or (
                        sel.tid is not None and cols.tid[k] != sel.tid):
                    continue
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
        return out

    def folded(self, sel: Selection) -> str:
        """FlameGraph folded text of the merged selection (`a;b;c value_ns`)."""
        values = self.stack_values(sel)
        sf = self.store.stack_frames(values)
        frames = self.store.frames({f for fr in sf.values() for f in fr})
        lines = []
        for s, v in sorted(values.items()):
            fr = sf.get(s)
            if fr:
                lines.append(";".join(frames[f].folded_name() for f in fr) + f" {v}")
        return "\n".join(lines) + ("\n" if lines else "")


def _add(acc: dict[int, int], stacks: Iterable[int], values: Iterable[int]) -> None:
    get = acc.get
    for s, v in zip(stacks, values, strict=False):
        acc[s] = get(s, 0) + v


def default_step(lo: int, hi: int, max_points: int = 360) -> int:
    """A round step (≥ 10 s) giving at most max_points points."""
    span_s = max(1, (hi - lo) // 10**9)
    for step in (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if span_s / step <= max_points:
            return step * 10**9
    return 86400 * 10**9
