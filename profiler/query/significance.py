"""Which changes of a diff are beyond the sampling noise: each node's weight.

Each side of a diff is a sum of sampled events: on-CPU samples, each worth
the sampling period, or off-CPU intervals, each worth its measured length.
Taken as a compound Poisson process, a node's value S = sum(d) has variance
sum(d**2). A node's *weight* w = sum(d**2) / sum(d) (in the value's unit) says
it all: S / w is its effective number of events, (sum d)**2 / sum(d**2), the
count a two-sample test needs. For on-CPU samples at one rate w is the
period; for off-CPU intervals it is the mean interval weighted by length, so
a frame holding two 30 ms waits counts two events, not 60 million ns.

The diff answer carries, per node and side, the weight of its total
(`weights`: [left w, right w] per node, levels as the flamebearer's); the web
UI takes variances as w * value from them (webui/static/js/diffscale.js says
the test). What the store cannot show event by event is bounded from above,
so the test errs towards "noise", never towards "real":

* a stored row that is the kernel's sum of `count` off-CPU intervals (short
  ones, or past the agent's CPU budget) counts as one event of its whole
  value ((sum d)**2 >= sum(d**2)); an on-CPU row of `count` samples (a pprof
  import) as `count` samples of equal weight (one rate, equal weights);
* values kept only as aggregates (downsampled blocks) whose block did not
  record one weight, or in rows past `MAX_ROWS` a side read one by one
  (on-CPU rows of one weight are counted in C, without that bound), count as
  one event per stack.

A block whose samples are each one event of one value (an agent's fixed
rate) records that value when it is aggregated (`Aggregate.weight`): a stack's
squares there are that value times its value, exact, with no sample read.
A side made of such blocks alone is one int; the nodes' squares are summed
with the diff's layout (`flamegraph.diff_levels_squared`: from running sums
of the stacks' squares, never a search per node), so weights cost little
beyond the diff itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from profiler.model import CPU
from profiler.query.processes import ProcessRoots
from profiler.store import ProfileStore, SeriesInfo

# Sample rows read per side; past them a stack's unread value is one event.
MAX_ROWS = 2_000_000


def stack_squares(store: ProfileStore, series: Mapping[int, SeriesInfo], lo: int, hi: int,
                  values: Mapping[int, int], pid: int | None = None, tid: int | None = None,
                  max_rows: int = MAX_ROWS) -> int | dict[int, int]:
    """A side's sum of squared event values per stack over the range (as the
    module says: bounded from above where events are not stored one by one),
    for the stacks of `values` (the side's exact values).

    When every sample of the side is one event of the same value w (each
    block records it at aggregation: an agent's fixed rate), that w: a
    stack's squares are w x its value, and nothing more is read. Otherwise
    per stack id: series of one weight from their aggregates, the others'
    rows read one by one, at most `max_rows` of them a side (on-CPU rows of
    one sample each, all of one weight, in blocks written before blocks
    recorded it, are counted per stack in C)."""
    weights = store.sample_weights(list(series), lo, hi)
    if len(set(weights.values())) == 1 and min(weights.values()) > 0:
        return next(iter(weights.values()))
    squares: dict[int, int] = {}
    seen: dict[int, int] = {}
    rows = 0
    whole = pid is None and tid is None
    for sid, info in series.items():
        w = weights.get(sid, 0)
        if w:
            for s, v in store.stack_values([sid], lo, hi, pid=pid, tid=tid).items():
                squares[s] = squares.get(s, 0) + w * v
                seen[s] = seen.get(s, 0) + v
            continue
        fixed_rate = info.kind == CPU
        for part in store.samples([sid], lo, hi):
            cols, i, j = part.cols, part.start, part.end
            if i >= j:
                continue
            stack, value, count = cols.stack, cols.value, cols.count
            if whole and fixed_rate and _one_weight(value[i:j], count[i:j]):
                w = value[i]
                for s, n in Counter(stack[i:j]).items():
                    squares[s] = squares.get(s, 0) + w * w * n
                    seen[s] = seen.get(s, 0) + w * n
                continue
            if rows >= max_rows:
                continue
            for k in part.rows(pid, tid):
                s, v, c = stack[k], value[k], count[k]
                q = v * v // c if fixed_rate and c > 1 else v * v
                squares[s] = squares.get(s, 0) + q
                seen[s] = seen.get(s, 0) + v
            rows += j - i
    out = {}
    for s, v in values.items():
        rest = v - seen.get(s, 0)
        out[s] = squares.get(s, 0) + (rest * rest if rest > 0 else 0)
    return out


def _one_weight(value: Sequence[int], count: Sequence[int]) -> bool:
    """Whether rows are one sample each, all of the same value (checked in C)."""
    return max(count) == 1 and min(count) == 1 and min(value) == max(value)


def roots_for_squares(roots: ProcessRoots | None, values: Mapping[int, int],
                      squares: Mapping[int, int]) -> ProcessRoots | None:
    """`roots` (each stack's value per process) with each part's squares in
    place of its value: a stack seen in several processes splits its squares
    as its value."""
    if roots is None:
        return None
    parts = {}
    for s, split in roots.parts.items():
        v, q = values.get(s, 0), squares.get(s, 0)
        parts[s] = [(c, q * p // v if v > 0 else 0) for c, p in split]
    return ProcessRoots(roots.owner, parts)


def node_weights(levels: list[list[int]], squared: list[list[int]] | None,
                 sides: tuple[int | Mapping[bytes, int], int | Mapping[bytes, int]]
                 ) -> list[list[float | int]]:
    """[left w, right w] of each node of diff `levels` (the 7-int form). A side
    whose events all weigh w (`sides`: that int) weighs w in each node it has,
    its squares being w x its values; another side from its nodes' squares
    (`squared`: `flamegraph.diff_levels_squared`'s, node for node)."""
    out: list[list[float | int]] = []
    for d, level in enumerate(levels):
        w: list[float | int] = [0] * (2 * (len(level) // 7))
        for k, side in enumerate(sides):
            totals = level[1 + 3 * k::7]
            if isinstance(side, int):
                c = _weight(side, 1)
                w[k::2] = [c if t > 0 else 0 for t in totals]
            else:
                w[k::2] = map(_weight, squared[d][k::2], totals)
        out.append(w)
    return out


def _weight(squares: int, value: int) -> float | int:
    """squares / value: whole units past 10,000 (ns weights), else 4 significant
    digits (a variance needs no more; the JSON stays short)."""
    if value <= 0 or squares <= 0:
        return 0
    w = squares / value
    return round(w) if w >= 1e4 else float(f"{w:.4g}")
