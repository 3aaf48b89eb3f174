"""Thread density: per thread, per time bucket, per reason, the time spent.

What an "all threads over time" view draws before it draws events one by one:
a whole host's threads over an hour are millions of events, but only threads x
buckets x reasons numbers once summed. `Density` sums events given as
columns (the store's sample blocks, or a trace's `TrackColumns`) into buckets
of equal width over [lo, hi): an event covers [ts, ts + value) (an on-CPU
sample its sampling period, an off-CPU interval its length), clipped to the
window and split between the buckets it overlaps. A kernel sum of many
intervals (count > 1: when each was is lost) ends at its last switch-in, as
the recorder places it, and is spread evenly over the `SUM_SPAN_NS` before
(or its own length when longer): its intervals ended since the kernel's sums
were last drained, about once a second, so a thread whose waits are summed
reads as waiting that share of the time, not as one block and a gap. Values
that are not time (a client's heap or lock types) fall wholly in the bucket
of their `ts`.
Reason 0 is `cpu` (on-CPU); then the off-CPU reasons as met.

The answer (`answer`) lists each thread's non-empty cells as flat runs
[bucket, reason, value, run, ...], so an idle thread costs nothing, one
asleep all along one run, and a page reads it without objects per cell.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from profiler.model import CPU, OFFCPU
from profiler.query.tracks import TrackColumns

if TYPE_CHECKING:
    from profiler.query.engine import QueryEngine, Selection

CPU_REASON = "cpu"
MAX_BUCKETS = 2000
MAX_THREADS = 10_000
MAX_CELLS = 2_000_000  # buckets x threads of one answer (its worst case, reasons aside)
LOOKBACK_NS = 60 * 10**9  # intervals begun up to this long before the window (or its width)
SUM_SPAN_NS = 10**9  # a kernel sum's intervals: since the last drain (the recorder's take)

Key = tuple[int, int]  # (pid, tid)


def lookback(lo: int, hi: int) -> int:
    """How far before `lo` to read so an interval begun earlier still colours
    the window: the window's width, at most `LOOKBACK_NS` (a longer one that
    began earlier is cut at `lo - lookback`)."""
    return min(hi - lo, LOOKBACK_NS)


@dataclass
class Density:
    """Sums events into `buckets` equal buckets of [lo, hi) per thread and reason."""

    lo: int
    hi: int
    buckets: int
    reasons: dict[str, int] = field(default_factory=lambda: {CPU_REASON: 0})
    # per thread: {bucket * len(reason slots) + reason: value}; see `_slot`
    cells: dict[Key, dict[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0 < self.buckets <= MAX_BUCKETS) or self.hi <= self.lo:
            raise ValueError("a density needs 1..2000 buckets over a non-empty window")
        self.step = -(-(self.hi - self.lo) // self.buckets)  # ns per bucket, rounded up

    def reason(self, name: str) -> int:
        """The answer's index of reason `name` ("" is `other`)."""
        name = name or "other"
        r = self.reasons.get(name)
        if r is None:
            r = self.reasons[name] = len(self.reasons)
        return r

    def add(self, ts: Sequence[int], value: Sequence[int], pid: Sequence[int],
            tid: Sequence[int], reason: Sequence[int], reason_of: Mapping[int, int],
            count: Sequence[int] | None, rows: Iterable[int], timed: bool = True) -> None:
        """Adds rows `rows` of the columns: a row's reason is `reason_of[reason[k]]`
        (indexes from `reason()`: the columns' own codes map at C speed, no
        list per row); `timed` False: values are not time (point masses)."""
        lo, hi, step = self.lo, self.hi, self.step
        cells = self.cells
        last_key: Key | None = None
        acc: dict[int, int] = {}
        for k in rows:
            key = (pid[k], tid[k])
            if key != last_key:
                acc = cells.get(key)
                if acc is None:
                    acc = cells[key] = {}
                last_key = key
            t, v, r = ts[k], value[k], reason_of[reason[k]] << 12  # slot: bucket | reason << 12
            if not timed or v <= 0:
                if lo <= t < hi:
                    s = (t - lo) // step | r
                    acc[s] = acc.get(s, 0) + v
                continue
            if count is not None and count[k] > 1 and v < SUM_SPAN_NS:
                self._spread(acc, t + v - SUM_SPAN_NS, t + v, v, r)
                continue
            a = t if t > lo else lo
            b = t + v
            if b > hi:
                b = hi
            if b <= a:
                continue
            i = (a - lo) // step
            j = (b - 1 - lo) // step
            if i == j:
                s = i | r
                acc[s] = acc.get(s, 0) + (b - a)
                continue
            edge = lo + (i + 1) * step
            s = i | r
            acc[s] = acc.get(s, 0) + (edge - a)
            for m in range(i + 1, j):
                s = m | r
                acc[s] = acc.get(s, 0) + step
            s = j | r
            acc[s] = acc.get(s, 0) + (b - (lo + j * step))

    def _spread(self, acc: dict[int, int], start: int, end: int, v: int, r: int) -> None:
        """`v` spread evenly over [start, end), clipped to the window; the
        buckets' parts are differences of rounded running totals, so they
        add up to `v` exactly when the window holds all of it."""
        lo, step, span = self.lo, self.step, end - start
        a, b = max(start, lo), min(end, self.hi)
        if b <= a:
            return
        before = v * (a - start) // span
        for m in range((a - lo) // step, (b - 1 - lo) // step + 1):
            upto = v * (min(lo + (m + 1) * step, b) - start) // span
            s = m | r
            acc[s] = acc.get(s, 0) + (upto - before)
            before = upto

    def add_columns(self, ev: TrackColumns) -> None:
        """A trace's (or any engine's) `TrackColumns`: on-CPU rows as `cpu`."""
        names = [CPU_REASON if c else r for c, r in zip(ev.cpu, ev.reason, strict=True)]
        index = {n: self.reason(n) for n in dict.fromkeys(names)}
        codes = [index[n] for n in names]
        self.add(ev.ts_ns, ev.dur_ns, ev.pid, ev.tid, codes, _Same(), ev.count or None,
                 range(len(ev)))

    def of(self, key: Key) -> list[int]:
        """Thread `key`'s cells as flat [bucket, reason, value, run, ...]: `run`
        buckets from `bucket` on each hold `value` of that reason (a thread
        asleep all hour is one cell, not one per bucket), by reason then bucket."""
        acc = self.cells.get(key)
        if not acc:
            return []
        out: list[int] = []
        run_at = -1  # where in `out` the open run is
        for s in sorted(acc, key=lambda s: (s >> 12, s & 0xFFF)):
            b, r, v = s & 0xFFF, s >> 12, acc[s]
            if run_at >= 0 and out[run_at + 1] == r and out[run_at + 2] == v and \
                    out[run_at] + out[run_at + 3] == b:
                out[run_at + 3] += 1
                continue
            run_at = len(out)
            out += (b, r, v, 1)
        return out

    def total(self, key: Key) -> int:
        return sum(self.cells.get(key, {}).values())

    def answer(self, threads: list[dict], limit: int) -> dict:
        """`threads` (rows with pid and tid, heaviest first) with their cells,
        the first `limit` of them; `more` counts the ones left out."""
        kept = threads[:limit]
        for t in kept:
            t["cells"] = self.of((t["pid"], t["tid"]))
        return {"from_ms": self.lo / 1e6, "until_ms": self.hi / 1e6, "buckets": self.buckets,
                "step_ms": self.step / 1e6, "reasons": list(self.reasons), "threads": kept,
                "more": len(threads) - len(kept)}


def thread_density(eng: QueryEngine, sel: Selection, buckets: int, limit: int) -> dict:
    """Every thread's time per bucket and reason over the selection (the
    store's samples, no trace scope), as the threads list ranks them (a
    thread seen only in an interval begun before the window comes last): the
    heaviest `limit`, and how many more there were."""
    series = {s.id: s for s in eng.series(sel.tenant, sel.selector)}
    acc = Density(sel.lo, sel.hi, buckets)
    rows = eng.threads(sel)
    names: dict[Key, tuple[str, str]] = {}
    known = {(t["pid"], t["tid"]) for t in rows}
    for part in eng.store.samples(series, sel.lo - lookback(sel.lo, sel.hi), sel.hi):
        cols, kind = part.cols, series[part.series_id].kind
        codes = set(cols.reason[part.start:part.end])
        if kind == CPU:
            reason_of = dict.fromkeys(codes, 0)
        else:  # off-CPU by reason; a client's type as its own "reason"
            reason_of = {c: acc.reason(cols.strings[c] if kind == OFFCPU else kind)
                         for c in codes}
        acc.add(cols.ts, cols.value, cols.pid, cols.tid, cols.reason, reason_of, cols.count,
                part.rows(sel.pid, sel.tid), timed=kind in (CPU, OFFCPU))
        # threads the totals do not know began their intervals before the window
        for k in range(part.start, bisect_left(cols.ts, sel.lo, part.start, part.end)):
            key = (cols.pid[k], cols.tid[k])
            if key not in known and key not in names:
                names[key] = (cols.strings[cols.thread[k]], cols.strings[cols.comm[k]])
    extra = [{"pid": p, "tid": t, "thread_name": n or c, "comm": c, "cpu_ns": 0,
              "offcpu_ns": 0} for (p, t), (n, c) in names.items()
             if acc.total((p, t)) and (sel.tid is None or t == sel.tid)
             and (sel.pid is None or p == sel.pid)]
    extra.sort(key=lambda r: -acc.total((r["pid"], r["tid"])))
    if sel.tid is not None:
        rows = [r for r in rows if r["tid"] == sel.tid]
    return acc.answer(rows + extra, limit)


def check_size(buckets: int, limit: int) -> None:
    """A request's bounds (ValueError with the reason: the route's 400)."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}")
    if not 1 <= limit <= MAX_THREADS:
        raise ValueError(f"limit must be between 1 and {MAX_THREADS}")
    if buckets * limit > MAX_CELLS:
        raise ValueError(f"buckets x limit must be at most {MAX_CELLS:,}")


class _Same(dict):
    """A reason map that maps each code to itself (codes already the answer's)."""

    def __missing__(self, key: int) -> int:
        return key
