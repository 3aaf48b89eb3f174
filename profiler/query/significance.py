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
* values kept only as aggregates (downsampled blocks), or in rows past
  `MAX_ROWS` a side read one by one (on-CPU rows of one weight are counted
  in C, without that bound), count as one event per stack.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence

from profiler.model import CPU
from profiler.query.processes import ProcessRoots
from profiler.store import ProfileStore, SeriesInfo

# Sample rows read per side; past them a stack's unread value is one event.
MAX_ROWS = 2_000_000


def stack_squares(store: ProfileStore, series: Mapping[int, SeriesInfo], lo: int, hi: int,
                  values: Mapping[int, int], pid: int | None = None, tid: int | None = None,
                  max_rows: int = MAX_ROWS) -> dict[int, int]:
    """Stack id -> sum of its events' squared values over the range (as the
    module says: bounded from above where events are not stored one by one),
    for the stacks of `values` (the side's exact values).

    On-CPU rows of one sample each, all of one weight (an agent's fixed rate),
    are counted per stack in C; other rows are read one by one, at most
    `max_rows` of them a side."""
    squares: dict[int, int] = {}
    seen: dict[int, int] = {}
    rows = 0
    whole = pid is None and tid is None
    for sid, info in series.items():
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


def node_weights(levels: list[list[int]], left: Mapping[bytes, int], right: Mapping[bytes, int],
                 other: int | None = None) -> list[list[float | int]]:
    """[left w, right w] of each node of diff `levels` (the 7-int form, name
    indexes of the stack keys), from the squares of each side's stacks
    (`stack_key` -> squares, merged by name as the levels were); [] when the
    levels are not laid out as `flamegraph.levels_sorted` lays them out.

    A node covers the stacks its path prefixes; its parent is found as the
    levels place children: in the parents' order, each filling its parent's
    total after its self. An `other` node (name `other`, a parent's last
    child) holds what its parent's own stack and kept children do not.
    """
    sums = (_Prefix(left), _Prefix(right))
    out: list[list[float | int]] = []
    above: list[tuple[bytes, tuple[int, int, int, int], list[int]]] = []
    for d, level in enumerate(levels):
        here: list[tuple[bytes, tuple[int, int, int, int], list[int]]] = []
        weights: list[float | int] = []
        p = -1
        at = end = (0, 0)
        used = [0, 0]
        xl = xr = 0
        for j in range(0, len(level), 7):
            dl, tl, _sl, dr, tr, _sr, name = level[j:j + 7]
            xl += dl
            xr += dr
            if d == 0:
                key = b""
                q = [sums[0].under(key), sums[1].under(key)]
            else:
                while p < 0 or at == end:  # the next parent with children left
                    p += 1
                    if p >= len(above):
                        return []
                    _pk, (pxl, ptl, pxr, ptr), _pq = above[p]
                    sl_sr = levels[d - 1][7 * p + 2], levels[d - 1][7 * p + 5]
                    at, end = (pxl + sl_sr[0], pxr + sl_sr[1]), (pxl + ptl, pxr + ptr)
                    used = [0, 0]
                if (xl, xr) != at:
                    return []
                pk, _, parent_q = above[p]
                key = pk + name.to_bytes(4, "big")
                at = (at[0] + tl, at[1] + tr)
                if name == other and at == end:
                    # what the parent's own stack and kept children leave
                    q = [max(0, parent_q[i] - sums[i].exact(pk) - used[i]) for i in (0, 1)]
                else:
                    q = [sums[0].under(key), sums[1].under(key)]
                used = [used[0] + q[0], used[1] + q[1]]
            here.append((key, (xl, tl, xr, tr), q))
            weights += [_weight(q[0], tl), _weight(q[1], tr)]
            xl += tl
            xr += tr
        out.append(weights)
        above = here
    return out


def _weight(squares: int, value: int) -> float | int:
    """squares / value to 4 significant digits (a variance needs no more; short JSON)."""
    if value <= 0 or squares <= 0:
        return 0
    return float(f"{squares / value:.4g}")


class _Prefix:
    """Sums of squares under any stack prefix: sorted keys and running sums
    (the stacks under a prefix are one run of sorted keys)."""

    def __init__(self, squares: Mapping[bytes, int]) -> None:
        self.keys = sorted(squares)
        self.cum = [0]
        total = 0
        for k in self.keys:
            total += squares[k]
            self.cum.append(total)
        self.squares = squares

    def under(self, prefix: bytes) -> int:
        if not prefix:
            return self.cum[-1]
        last = int.from_bytes(prefix[-4:], "big") + 1
        a = bisect_left(self.keys, prefix)
        b = bisect_left(self.keys, prefix[:-4] + last.to_bytes(4, "big"), a)
        return self.cum[b] - self.cum[a]

    def exact(self, key: bytes) -> int:
        return self.squares.get(key, 0)
