"""Range reads over blocks: stack values, timelines, threads and samples.

A read takes each block's pre-aggregated tables when the block (or one of its
time buckets) lies wholly inside the range, and the per-sample columns only
for buckets cut by the range edges or when filtering by pid/tid. Mixed into a
backend that stores blocks; it needs the backend's `blocks`, `aggregates`,
`raw` and `raw_blobs`.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from profiler.store import blocks as blk
from profiler.store.columns import SampleColumns
from profiler.store.interface import (
    SampleSlice,
    ThreadEvent,
    ThreadTotal,
)

_AGG_CHUNK = 256  # blocks whose aggregates one read holds decoded at once


@dataclass(frozen=True, slots=True)
class BlockRow:
    id: int
    series_id: int
    t_start: int
    t_end: int
    level: int
    n_samples: int
    total: int

    @property
    def downsampled(self) -> bool:
        """Only the aggregates are left: buckets are the finest resolution."""
        return self.level == blk.LEVEL_DOWNSAMPLED


class BlockReads:
    """`ProfileStore`'s reads, for a backend that provides the four block accessors."""

    def blocks(self, series_ids: Iterable[int], lo: int, hi: int) -> list[BlockRow]:
        raise NotImplementedError

    def aggregates(self, block_ids: Sequence[int]) -> dict[int, blk.Aggregate]:
        raise NotImplementedError

    def raw(self, block_ids: Sequence[int]) -> dict[int, SampleColumns]:
        raise NotImplementedError

    def raw_blobs(self, block_ids: Sequence[int]) -> dict[int, bytes]:
        raise NotImplementedError

    def active_series(self, series_ids: Collection[int], lo: int, hi: int) -> set[int]:
        return {b.series_id for b in self.blocks(series_ids, lo, hi)} if series_ids else set()

    def _blocks_of(self, series_ids: Collection[int], lo: int, hi: int) -> list[BlockRow]:
        return self.blocks(series_ids, lo, hi) if series_ids else []

    def _each_aggregate(self, blocks: list[BlockRow]
                        ) -> Iterator[tuple[BlockRow, blk.Aggregate]]:
        """Each block with its decoded aggregate (blocks without one left out),
        decoded _AGG_CHUNK blocks at a time: a week's range holds thousands of
        blocks, and a read holds one chunk of them, not all."""
        for i in range(0, len(blocks), _AGG_CHUNK):
            chunk = blocks[i:i + _AGG_CHUNK]
            aggs = self.aggregates([b.id for b in chunk])
            for b in chunk:
                agg = aggs.get(b.id)
                if agg is not None:
                    yield b, agg

    def _edge_readers(self, ids: list[int], memo: dict | None) -> dict[int, blk.EdgeReader]:
        """Edge readers by block id; `memo` shares them within one request."""
        memo = memo if memo is not None else {}
        missing = [i for i in ids if i not in memo]
        for bid, blob in self.raw_blobs(missing).items():
            memo[bid] = blk.EdgeReader(blob)
        return {i: memo[i] for i in ids if i in memo}

    def _edge_rows(self, edges: list[tuple[int, int, int]]
                   ) -> Iterator[tuple[SampleColumns, int, int]]:
        """Columns and row range of each (block id, lo, hi) edge whose block has samples."""
        if not edges:
            return
        raws = self.raw(sorted({e[0] for e in edges}))
        for bid, e_lo, e_hi in edges:
            cols = raws.get(bid)
            if cols is not None:
                yield cols, *cols.slice(e_lo, e_hi)

    def stack_values(self, series_ids: Collection[int], lo: int, hi: int, *,
                     pid: int | None = None, tid: int | None = None,
                     memo: dict | None = None) -> dict[int, int]:
        blocks = self._blocks_of(series_ids, lo, hi)
        acc: dict[int, int] = {}
        if pid is not None or tid is not None:
            # Whole blocks: their per-thread tables; blocks cut by the range: samples.
            whole = [b for b in blocks if lo <= b.t_start and b.t_end <= hi]
            aggs = self.aggregates([b.id for b in whole])
            cut = [b.id for b in blocks if b.id not in aggs or not aggs[b.id].thread_tables]
            for agg in aggs.values():
                for k, (t_pid, t_tid) in enumerate(blk.table_heads(agg.thread_tables)):
                    if (pid is None or t_pid == pid) and (tid is None or t_tid == tid):
                        _add(acc, *agg.thread_tables[k][2:])
            for cols in self.raw(cut).values():
                i, j = cols.slice(lo, hi)
                stack, value, pids, tids = cols.stack, cols.value, cols.pid, cols.tid
                for k in range(i, j):
                    if (pid is None or pids[k] == pid) and (tid is None or tids[k] == tid):
                        s = stack[k]
                        acc[s] = acc.get(s, 0) + value[k]
            return acc
        edges: list[tuple[int, int, int]] = []  # (block id, lo, hi) needing raw
        spans: dict[int, list[tuple[int, int, int, int, int]]] = {}  # block id -> edges
        for b, agg in self._each_aggregate(blocks):
            if lo <= b.t_start and b.t_end <= hi:
                _add(acc, agg.stacks, agg.values)
                continue
            for k, (b_lo, b_hi, _tot) in enumerate(blk.table_heads(agg.buckets)):
                if b_hi <= lo or b_lo >= hi:
                    continue
                if lo <= b_lo and b_hi <= hi:
                    _add(acc, *agg.buckets[k][3:])
                elif b.downsampled:  # no samples left: count a bucket by its middle
                    if lo <= (b_lo + b_hi) // 2 < hi:
                        _add(acc, *agg.buckets[k][3:])
                elif k < len(agg.spans):
                    start, end, first = agg.spans[k]
                    spans.setdefault(b.id, []).append(
                        (start, end, first, max(lo, b_lo), min(hi, b_hi)))
                else:
                    edges.append((b.id, max(lo, b_lo), min(hi, b_hi)))
        if spans:
            for bid, reader in self._edge_readers(sorted(spans), memo).items():
                blk.add_range(acc, reader, spans[bid])
        for cols, i, j in self._edge_rows(edges):
            blk.add_weighted(acc, cols.stack[i:j], cols.value[i:j])
        return acc

    def sample_weights(self, series_ids: Collection[int], lo: int, hi: int) -> dict[int, int]:
        """Series id -> the one value all its samples over the range have, each
        one event (its blocks' `weight`), or 0 when they differ or a block does
        not say; series without blocks there are left out. From the
        aggregates alone: no sample is read."""
        out: dict[int, int] = {}
        for b, agg in self._each_aggregate(self._blocks_of(series_ids, lo, hi)):
            w = out.get(b.series_id)
            out[b.series_id] = agg.weight if w is None or w == agg.weight else 0
        return out

    def process_tables(self, series_ids: Collection[int], lo: int, hi: int
                       ) -> Iterator[tuple[str, array, array]]:
        """(comm, stacks, values) of each thread table of the blocks; a block
        written before thread tables, summed per comm from its samples."""
        no_tables = []
        for b, agg in self._each_aggregate(self._blocks_of(series_ids, lo, hi)):
            if not agg.thread_tables:
                no_tables.append(b.id)
                continue
            comm = {(pid, tid): c for pid, tid, _name, c, _v, _n in agg.threads}
            for pid, tid, stacks, values in agg.thread_tables:
                yield comm.get((pid, tid), ""), stacks, values
        for cols in self.raw(no_tables).values():
            st = cols.strings
            per: dict[str, dict[int, int]] = {}
            for k in range(len(cols.ts)):
                _add(per.setdefault(st[cols.comm[k]], {}), (cols.stack[k],), (cols.value[k],))
            for c, acc in per.items():
                yield c, array("I", acc), blk.saturated(acc.values())

    def process_names(self, series_ids: Collection[int], lo: int, hi: int) -> set[str]:
        """The processes (comm) of the blocks over the range, from their threads'
        totals: no thread table decoded (a view of one process has no process
        level to split by)."""
        out: set[str] = set()
        no_tables = []
        for b, agg in self._each_aggregate(self._blocks_of(series_ids, lo, hi)):
            if agg.thread_tables:
                out.update(t[3] for t in agg.threads)
            else:
                no_tables.append(b.id)
        for cols in self.raw(no_tables).values():
            out.update(map(cols.strings.__getitem__, set(cols.comm)))
        return out

    def timeline(self, series_ids: Collection[int], lo: int, hi: int, step_ns: int, *,
                 pid: int | None = None, tid: int | None = None,
                 memo: dict | None = None) -> list[int]:
        """Uses the blocks' 10 s slot totals when the step is a multiple of 10 s
        and `lo` is aligned; slots cut by the range edges, finer steps and
        pid/tid filters read the samples."""
        nsteps = max(1, -(-(hi - lo) // step_ns))
        points = [0] * nsteps
        blocks = self._blocks_of(series_ids, lo, hi)
        filtered = pid is not None or tid is not None
        edges: list[tuple[int, int, int]] = []
        spans: dict[int, list[tuple[int, int, int, int, int]]] = {}
        fine_ns = blk.FINE_NS
        if filtered:
            edges = [(b.id, lo, hi) for b in blocks]
        else:
            fine_ok = step_ns % fine_ns == 0 and lo % fine_ns == 0
            for b, agg in self._each_aggregate(blocks):
                first, fine = agg.fine
                bounds = None
                if not fine or not (fine_ok or b.downsampled):
                    edges.append((b.id, lo, hi))
                    continue
                for i, v in enumerate(fine):
                    t = (first + i) * fine_ns
                    if not v or t + fine_ns <= lo or t >= hi:
                        continue
                    if (lo <= t and t + fine_ns <= hi) or b.downsampled:
                        if lo <= t < hi:
                            points[(t - lo) // step_ns] += v
                        continue
                    e_lo, e_hi = max(lo, t), min(hi, t + fine_ns)
                    bounds = bounds or blk.table_heads(agg.buckets)
                    for k, (b_lo, b_hi, _tot) in enumerate(bounds):
                        if b_lo <= t < b_hi and k < len(agg.spans) and t + fine_ns <= b_hi:
                            start, end, first_ts = agg.spans[k]
                            spans.setdefault(b.id, []).append((start, end, first_ts, e_lo,
                                                               e_hi))
                            break
                    else:
                        edges.append((b.id, e_lo, e_hi))
        if spans:
            for bid, reader in self._edge_readers(sorted(spans), memo).items():
                blk.add_timeline(points, lo, step_ns, reader, spans[bid])
        for cols, i, j in self._edge_rows(edges):
            ts, value, pids, tids = cols.ts, cols.value, cols.pid, cols.tid
            for k in range(i, j):
                if filtered and ((pid is not None and pids[k] != pid) or
                                 (tid is not None and tids[k] != tid)):
                    continue
                points[(ts[k] - lo) // step_ns] += value[k]
        return points

    def thread_totals(self, series_ids: Collection[int], lo: int, hi: int
                      ) -> list[ThreadTotal]:
        """Whole blocks from their per-thread totals, blocks cut by the range from samples."""
        blocks = self._blocks_of(series_ids, lo, hi)
        acc: dict[tuple[int, int, int, str, str], int] = {}
        full = {b.id: b.series_id for b in blocks if lo <= b.t_start and b.t_end <= hi}
        partial = {b.id: b.series_id for b in blocks if b.id not in full}
        for bid, agg in self.aggregates(list(full)).items():
            sid = full[bid]
            for pid, tid, tname, comm, value, _count in agg.threads:
                key = (sid, pid, tid, tname, comm)
                acc[key] = acc.get(key, 0) + value
        for bid, cols in self.raw(list(partial)).items():
            sid = partial[bid]
            i, j = cols.slice(lo, hi)
            st = cols.strings
            for k in range(i, j):
                key = (sid, cols.pid[k], cols.tid[k], st[cols.thread[k]], st[cols.comm[k]])
                acc[key] = acc.get(key, 0) + cols.value[k]
        return [ThreadTotal(*key, value) for key, value in acc.items()]

    def thread_steps(self, series_ids: Collection[int], lo: int, hi: int, step_ns: int, *,
                     pid: int | None = None) -> dict[tuple[int, int], dict[int, int]]:
        """A whole block that lies in one step adds its per-thread totals
        there (no samples read: ingested blocks are a few seconds long); any
        other block, its samples one by one. Downsampled blocks in more than
        one step keep no samples: left out."""
        acc: dict[tuple[int, int], dict[int, int]] = {}
        blocks = self._blocks_of(series_ids, lo, hi)
        inside = {b.id: (b.t_start - lo) // step_ns for b in blocks
                  if lo <= b.t_start and b.t_end <= hi
                  and (b.t_start - lo) // step_ns == (b.t_end - 1 - lo) // step_ns}
        for bid, agg in self.aggregates(list(inside)).items():
            step = inside[bid]
            for t_pid, t_tid, _name, _comm, v, _count in agg.threads:
                if pid is None or t_pid == pid:
                    per = acc.setdefault((t_pid, t_tid), {})
                    per[step] = per.get(step, 0) + v
        for cols in self.raw([b.id for b in blocks if b.id not in inside]).values():
            i, j = cols.slice(lo, hi)
            ts, value, pids, tids = cols.ts, cols.value, cols.pid, cols.tid
            for k in range(i, j):
                if pid is None or pids[k] == pid:
                    per = acc.setdefault((pids[k], tids[k]), {})
                    step = (ts[k] - lo) // step_ns
                    per[step] = per.get(step, 0) + value[k]
        return acc

    def thread_events(self, series_ids: Collection[int], lo: int, hi: int, *,
                      pid: int | None = None, tids: Collection[int] | None = None,
                      limit: int = 200_000) -> tuple[list[ThreadEvent], bool]:
        """Each block's rows are in time order: a lazy merge of the filtered
        rows stops after `limit + 1`, so a long range costs its blocks' decode,
        not a sort of everything in it."""
        want = set(tids) if tids is not None else None

        def rows(i: int, part: SampleSlice) -> Iterator[tuple[int, int, int]]:
            cols = part.cols
            ts, pids, tid_col = cols.ts, cols.pid, cols.tid
            for k in range(part.start, part.end):
                if (pid is None or pids[k] == pid) and (want is None or tid_col[k] in want):
                    yield ts[k], i, k

        parts = list(self.samples(series_ids, lo, hi))
        merged = heapq.merge(*(rows(i, p) for i, p in enumerate(parts)))
        picked = list(islice(merged, limit + 1))
        out = []
        for ts, i, k in picked[:limit]:
            p = parts[i]
            cols, st = p.cols, p.cols.strings
            out.append(ThreadEvent(p.series_id, ts, cols.pid[k], cols.tid[k],
                                   st[cols.thread[k]], st[cols.comm[k]], cols.stack[k],
                                   cols.value[k], st[cols.reason[k]], st[cols.labels[k]],
                                   cols.count[k]))
        return out, len(picked) > limit

    def samples(self, series_ids: Collection[int], lo: int, hi: int) -> Iterator[SampleSlice]:
        blocks = self._blocks_of(series_ids, lo, hi)
        raws = self.raw([b.id for b in blocks])
        for b in blocks:
            cols = raws.get(b.id)
            if cols is not None:
                yield SampleSlice(b.series_id, cols, *cols.slice(lo, hi))


def _add(acc: dict[int, int], stacks: Iterable[int], values: Iterable[int]) -> None:
    if not acc:  # the first table: copied in C
        acc.update(zip(stacks, values, strict=False))
        return
    get = acc.get
    for s, v in zip(stacks, values, strict=False):
        acc[s] = get(s, 0) + v
