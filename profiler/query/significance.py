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
from itertools import accumulate

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

    A node covers the stacks its path prefixes: one run of the sorted keys,
    found by bisection within its parent's run; its squares are differences
    of running sums. Its parent is found as the levels place children: in the
    parents' order, each filling its parent's total after its self. An
    `other` node (name `other`, a parent's last child) holds what its
    parent's own stack and kept children do not.
    """
    keys = sorted(left.keys() | right.keys())
    lget, rget = left.get, right.get
    cum_l = [0, *accumulate(lget(k, 0) for k in keys)]
    cum_r = [0, *accumulate(rget(k, 0) for k in keys)]
    n = len(keys)
    out: list[list[float | int]] = [[_weight(cum_l[n], levels[0][1]),
                                     _weight(cum_r[n], levels[0][4])]] if levels else []
    # previous level's nodes: key, run [a, b), squares (left, right)
    above_key, above_run, above_q = [b""], [(0, n)], [(cum_l[n], cum_r[n])]
    for d in range(1, len(levels)):
        level, up = levels[d], levels[d - 1]
        here_key: list[bytes] = []
        here_run: list[tuple[int, int]] = []
        here_q: list[tuple[int, int]] = []
        weights: list[float | int] = []
        p = -1
        at_l = at_r = end_l = end_r = 0
        used_l = used_r = 0
        pxl = pxr = 0  # x of the previous level's node p
        xl = xr = 0
        for j in range(0, len(level), 7):
            xl += level[j]
            xr += level[j + 3]
            tl, tr, name = level[j + 1], level[j + 4], level[j + 6]
            while p < 0 or (at_l == end_l and at_r == end_r):  # the next parent with room
                if p >= 0:
                    pxl, pxr = end_l, end_r
                p += 1
                if 7 * p >= len(up):
                    return []
                pxl += up[7 * p]
                pxr += up[7 * p + 3]
                at_l, at_r = pxl + up[7 * p + 2], pxr + up[7 * p + 5]
                end_l, end_r = pxl + up[7 * p + 1], pxr + up[7 * p + 4]
                used_l = used_r = 0
            if xl != at_l or xr != at_r:
                return []
            at_l += tl
            at_r += tr
            pk = above_key[p]
            a, b = above_run[p]
            key = pk + name.to_bytes(4, "big")
            if name == other and at_l == end_l and at_r == end_r:
                # what the parent's own stack and kept children leave
                own = bisect_left(keys, pk, a, b)
                own_l = own_r = 0
                if own < b and keys[own] == pk:
                    own_l, own_r = cum_l[own + 1] - cum_l[own], cum_r[own + 1] - cum_r[own]
                ql = max(0, above_q[p][0] - own_l - used_l)
                qr = max(0, above_q[p][1] - own_r - used_r)
                run = (a, a)
            else:
                lo = bisect_left(keys, key, a, b)
                hi = bisect_left(keys, pk + (name + 1).to_bytes(4, "big"), lo, b)
                ql, qr = cum_l[hi] - cum_l[lo], cum_r[hi] - cum_r[lo]
                run = (lo, hi)
            used_l += ql
            used_r += qr
            here_key.append(key)
            here_run.append(run)
            here_q.append((ql, qr))
            weights.append(_weight(ql, tl))
            weights.append(_weight(qr, tr))
            xl += tl
            xr += tr
        out.append(weights)
        above_key, above_run, above_q = here_key, here_run, here_q
    return out


def _weight(squares: int, value: int) -> float | int:
    """squares / value: whole units past 10,000 (ns weights), else 4 significant
    digits (a variance needs no more; the JSON stays short)."""
    if value <= 0 or squares <= 0:
        return 0
    w = squares / value
    return round(w) if w >= 1e4 else float(f"{w:.4g}")
