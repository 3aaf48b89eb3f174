"""Flame graphs in flamebearer form (Pyroscope's JSON), from weighted stacks.

A stack is a tuple of name indexes, root first. Levels are flat int lists of
`[x_delta, total, self, name]` groups (diff: `[l_delta, l_total, l_self,
r_delta, r_total, r_self, name]`), x delta-encoded against the end of the
previous node on the level. `levels_sorted` builds them without a node tree.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from heapq import heappop, heappush
from itertools import accumulate


class Names:
    """Interning of frame names to flamebearer name indexes, with their kinds."""

    def __init__(self) -> None:
        self.names: list[str] = ["total"]
        self.kinds: list[str] = ["root"]
        self.index: dict[str, int] = {"total": 0}

    def other(self) -> int:
        """The name smaller frames merge into under `maxNodes` (kind `other`)."""
        return self("other", "other")

    def __call__(self, name: str, kind: str = "native") -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(kind)
        return i


def levels_sorted(left: dict[tuple[int, ...], int], right: dict[tuple[int, ...], int] | None,
                  max_nodes: int = 0, other: Callable[[], int] | None = None
                  ) -> tuple[list[list[int]], int, int]:
    """Flamebearer levels straight from weighted stacks, without a node tree.

    Stacks are sorted, so every node covers a contiguous run of them: a node's
    total is the running sum when it closes minus the running sum when it
    opened (flamegraph.pl's method). Returns (levels, left total, right total).
    With `right`, levels are the 7-int diff form.

    With `max_nodes` and `other`, at most that many nodes: the heaviest, and
    per parent one node named `other()` (a name index) holding the rest,
    drawn last among its siblings, so totals add up and the merge is visible
    (`_heaviest`). Without `other`, the smallest nodes are left out.
    """
    if max_nodes and other is not None and right is None:
        keys = sorted(k for k, v in left.items() if v > 0)
        values = [left[k] for k in keys]
        return _heaviest(keys, values, values, max_nodes, other, False)
    merged: dict[tuple[int, ...], list[int]] = {k: [v, 0] for k, v in left.items() if v > 0}
    for k, v in (right or {}).items():
        if v > 0:
            e = merged.get(k)
            if e is None:
                merged[k] = [0, v]
            else:
                e[1] = v
    items = sorted(merged.items())
    if max_nodes and other is not None:
        return _heaviest([k for k, _ in items], [v[0] for _, v in items],
                         [v[1] for _, v in items], max_nodes, other, True)
    nodes: list[tuple[int, int, int, int, int, int, int, int]] = []
    # open nodes per depth: [name, xl, sl, xr, sr]; depth 0 is the root
    opened: list[list[int]] = [[0, 0, 0, 0, 0]]
    cl = cr = 0
    prev: tuple[int, ...] = ()
    for stack, (lv, rv) in items:
        n = min(len(prev), len(stack))
        p = 0
        while p < n and prev[p] == stack[p]:
            p += 1
        while len(opened) > p + 1:
            name, xl, sl, xr, sr = opened.pop()
            nodes.append((len(opened), xl, cl - xl, sl, xr, cr - xr, sr, name))
        for name in stack[p:]:
            opened.append([name, cl, 0, cr, 0])
        last = opened[-1]
        last[2] += lv
        last[4] += rv
        cl += lv
        cr += rv
        prev = stack
    while opened:
        name, xl, sl, xr, sr = opened.pop()
        nodes.append((len(opened), xl, cl - xl, sl, xr, cr - xr, sr, name))
    if max_nodes and len(nodes) > max_nodes:
        weights = sorted((max(nd[2], nd[5]) for nd in nodes), reverse=True)
        minv = weights[max_nodes - 1] + 1
        nodes = [nd for nd in nodes if nd[2] >= minv or nd[5] >= minv or nd[0] == 0]
    # Nodes close deepest first; per level they close in x order, so a stable
    # sort by depth keeps each level's x order.
    nodes.sort(key=lambda nd: nd[0])
    levels: list[list[int]] = []
    end_l = end_r = 0
    diff = right is not None
    for depth, xl, tl, sl, xr, tr, sr, name in nodes:
        if depth == len(levels):
            levels.append([])
            end_l = end_r = 0
        if diff:
            levels[depth].extend((xl - end_l, tl, sl, xr - end_r, tr, sr, name))
        else:
            levels[depth].extend((xl - end_l, tl, sl, name))
        end_l, end_r = xl + tl, xr + tr
    return levels, cl, cr


def _heaviest(keys: list[tuple[int, ...]], left: list[int], right: list[int], max_nodes: int,
              other: Callable[[], int], diff: bool) -> tuple[list[list[int]], int, int]:
    """Levels of the `max_nodes` heaviest nodes (an `other` per parent included).

    A node is a run of sorted stacks [a, b) sharing a prefix; its total is a
    difference of running sums, and its children's runs are found by bisection,
    so only the kept nodes and their children are ever looked at, never the
    whole tree (a host's hour can have hundreds of thousands of nodes). Nodes
    are taken heaviest first (a child never outweighs its parent), until the
    next one and the `other` it may need would not fit. `keys` are the sorted
    stacks, `left`/`right` their values (the same list when not a diff).
    """
    cum_l = [0, *accumulate(left)]
    cum_r = cum_l if right is left else [0, *accumulate(right)]
    max_nodes = max(2, max_nodes)

    def children(a: int, b: int, d: int) -> list[tuple[int, int, int]]:
        """(first, end, name) of each child run of the depth-d node over [a, b)."""
        out = []
        i = a + 1 if len(keys[a]) == d else a  # the node's own stack is its self
        while i < b:
            k = keys[i]
            e = bisect_left(keys, (*k[:d], k[d] + 1), i + 1, b)
            out.append((i, e, k[d]))
            i = e
        return out

    # a kept node: [depth, a, b, name, kept children]; index 0 is the root
    kept: list[list] = [[0, 0, len(keys), 0, []]]
    pending = [0]  # per kept node: its children not kept (it then needs an `other`)
    heap: list[tuple[int, int, int, int, int, int]] = []
    others = 0

    def expand(idx: int) -> None:
        nonlocal others
        d, a, b = kept[idx][0], kept[idx][1], kept[idx][2]
        kids = children(a, b, d) if b > a else []
        pending[idx] = len(kids)
        if kids:
            others += 1
        for ca, cb, name in kids:
            w = max(cum_l[cb] - cum_l[ca], cum_r[cb] - cum_r[ca])
            heappush(heap, (-w, ca, cb, name, d + 1, idx))

    expand(0)
    while heap:
        _, a, b, name, d, parent = heap[0]
        has_kids = b - a > 1 or len(keys[a]) > d
        after = len(kept) + 1 + others + has_kids - (pending[parent] == 1)
        if after > max_nodes:
            break
        heappop(heap)
        kept.append([d, a, b, name, []])
        pending.append(0)
        kept[parent][4].append(len(kept) - 1)
        pending[parent] -= 1
        if not pending[parent]:
            others -= 1
        if has_kids:
            expand(len(kept) - 1)

    other_name = other() if others else 0
    levels: list[list[int]] = []
    ends: list[list[int]] = []  # per level: end of its last node, left and right
    # pre-order, children left to right: each level fills in x order. An entry:
    # (kept index, or -1 for an `other` leaf, xl, xr, other's totals l/r, its depth)
    todo: list[tuple[int, int, int, int, int, int]] = [(0, 0, 0, 0, 0, 0)]
    while todo:
        idx, xl, xr, ol, orr, od = todo.pop()
        if idx < 0:
            _emit(levels, ends, od, xl, ol, ol, xr, orr, orr, other_name, diff)
            continue
        d, a, b, name, kids = kept[idx]
        tl, tr = cum_l[b] - cum_l[a], cum_r[b] - cum_r[a]
        sl, sr = (left[a], right[a]) if b > a and len(keys[a]) == d else (0, 0)
        _emit(levels, ends, d, xl, tl, sl, xr, tr, sr, name, diff)
        cxl, cxr = xl + sl, xr + sr
        placed = []
        for k in sorted(kids, key=lambda c: kept[c][1]):
            placed.append((k, cxl, cxr, 0, 0, 0))
            cxl += cum_l[kept[k][2]] - cum_l[kept[k][1]]
            cxr += cum_r[kept[k][2]] - cum_r[kept[k][1]]
        if pending[idx]:
            placed.append((-1, cxl, cxr, xl + tl - cxl, xr + tr - cxr, d + 1))
        todo.extend(reversed(placed))
    return levels, cum_l[-1], cum_r[-1]


def _emit(levels: list[list[int]], ends: list[list[int]], d: int, xl: int, tl: int, sl: int,
          xr: int, tr: int, sr: int, name: int, diff: bool) -> None:
    """Appends one node to level d, its x delta-encoded against the level's last node."""
    if d == len(levels):
        levels.append([])
        ends.append([0, 0])
    end = ends[d]
    if diff:
        levels[d].extend((xl - end[0], tl, sl, xr - end[1], tr, sr, name))
    else:
        levels[d].extend((xl - end[0], tl, sl, name))
    end[0], end[1] = xl + tl, xr + tr


def _used_names(levels: list[list[int]], names: Names, width: int) -> tuple[list[str], list[str]]:
    """Names and kinds of the frames the levels hold, renumbered in place:
    `names` may be shared by many renders (the engine's table) or hold frames
    a maxNodes merge took out; the answer carries only its own."""
    used = sorted({lv[i] for lv in levels for i in range(width - 1, len(lv), width)} | {0})
    new = {old: k for k, old in enumerate(used)}
    for lv in levels:
        for i in range(width - 1, len(lv), width):
            lv[i] = new[lv[i]]
    return [names.names[i] for i in used], [names.kinds[i] for i in used]


def flamebearer_from_levels(levels: list[list[int]], total: int, names: Names,
                            units: str = "nanoseconds") -> dict:
    max_self = max((lv[i] for lv in levels for i in range(2, len(lv), 4)), default=0)
    used, kinds = _used_names(levels, names, 4)
    return {
        "version": 1,
        "flamebearer": {"names": used, "levels": levels, "numTicks": total,
                        "maxSelf": max_self},
        "metadata": {"format": "single", "units": units, "spyName": "flamecam",
                     "sampleRate": 1_000_000_000},
        "kinds": kinds,
    }


def diff_flamebearer_from_levels(levels: list[list[int]], left: int, right: int, names: Names,
                                 units: str = "nanoseconds") -> dict:
    max_self = max((max(lv[i], lv[i + 3]) for lv in levels for i in range(2, len(lv), 7)),
                   default=0)
    used, kinds = _used_names(levels, names, 7)
    return {
        "version": 1,
        "flamebearer": {"names": used, "levels": levels, "numTicks": left + right,
                        "maxSelf": max_self},
        "metadata": {"format": "double", "units": units, "spyName": "flamecam",
                     "sampleRate": 1_000_000_000},
        "leftTicks": left,
        "rightTicks": right,
        "kinds": kinds,
    }
