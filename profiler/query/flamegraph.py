"""Flame graphs in flamebearer form (Pyroscope's JSON), from weighted stacks.

A stack is a sequence of name indexes, root first, kept as a `stack_key`
(bytes: 4 per frame). Levels are flat int lists of
`[x_delta, total, self, name]` groups (diff: `[l_delta, l_total, l_self,
r_delta, r_total, r_self, name]`), x delta-encoded against the end of the
previous node on the level. `levels_sorted` builds them without a node tree.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from heapq import heappop, heappush
from itertools import accumulate, chain, compress, repeat
from operator import add, sub
from struct import pack, unpack

from profiler.query.idmap import sorted_keys, sorted_sums

# Bytes one interned name costs beyond its text: the string, its dict entry and list slots.
NAME_OVERHEAD = 160


class Names:
    """Interning of frame names to flamebearer name indexes, with their kinds."""

    def __init__(self) -> None:
        self.names: list[str] = ["total"]
        self.kinds: list[str] = ["root"]
        self.index: dict[str, int] = {"total": 0}
        self.bytes = 0  # estimated: what a table shared by many renders is bounded by

    def other(self) -> int:
        """The name smaller frames merge into under `maxNodes` (kind `other`)."""
        return self("other", "other")

    def many(self, named: Iterable[tuple[str, str]]) -> list[int]:
        """The index of each (name, kind), interning new ones as `self(name, kind)`
        does: a cold render interns ~50k names, in one Python call."""
        index, names, kinds = self.index, self.names, self.kinds
        out = []
        added = 0
        for name, kind in named:
            i = index.get(name)
            if i is None:
                i = index[name] = len(names)
                names.append(name)
                kinds.append(kind)
                added += NAME_OVERHEAD + len(name)
            out.append(i)
        self.bytes += added
        return out

    def __call__(self, name: str, kind: str = "native") -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(kind)
            self.bytes += NAME_OVERHEAD + len(name)
        return i


# Nodes in one flame graph answer at most; the smallest past it merge into `other`.
MAX_NODES = 1_000_000


def stack_key(names: Iterable[int]) -> bytes:
    """A stack of name indexes (root first) as the compact key renders merge by.

    Four big-endian bytes per frame: 8x smaller than a tuple of ints, hashable,
    and bytes order is tuple order, so sorted keys keep every prefix (a node)
    a contiguous run, as `levels_sorted` needs.
    """
    names = tuple(names)
    return pack(f">{len(names)}I", *names)


def key_names(key: bytes) -> tuple[int, ...]:
    """The name indexes of a `stack_key`."""
    return unpack(f">{len(key) >> 2}I", key)


def keyed(stacks: dict[tuple[int, ...], int]) -> dict[bytes, int]:
    """Weighted stacks of name-index tuples as `levels_sorted` takes them."""
    out: dict[bytes, int] = {}
    for k, v in stacks.items():
        key = stack_key(k)
        out[key] = out.get(key, 0) + v
    return out


# A side's squared event values by stack: per `stack_key`, or one int w when
# every event of the side weighs w (then a stack's squares are w x its value).
Squares = dict[bytes, int] | int


def levels_sorted(left: dict[bytes, int], right: dict[bytes, int] | None,
                  max_nodes: int = 0, other: Callable[[], int] | None = None
                  ) -> tuple[list[list[int]], int, int]:
    """Flamebearer levels straight from weighted stacks (`stack_key`s), without a
    node tree. Returns (levels, left total, right total). With `right`, levels
    are the 7-int diff form.

    Stacks are sorted, so every node covers a contiguous run of them: a node's
    total is the running sum when it closes minus the running sum when it
    opened (flamegraph.pl's method). With `max_nodes`, at most that many
    nodes: the heaviest, and with `other`, per parent one node named `other()`
    (a name index) holding the rest, drawn last among its siblings, so totals
    add up and the merge is visible (`_heaviest`); without `other`, the
    smallest nodes are left out. Memory is the sorted keys and their values,
    plus the nodes kept.
    """
    if right is None:
        return levels_of_pairs(list(left), list(left.values()), max_nodes, other)
    levels, lt, rt, _ = _levels(*_diff_columns(left, right), True, max_nodes, other)
    return levels, lt, rt


def diff_levels_squared(left: dict[bytes, int], right: dict[bytes, int],
                        squares: tuple[Squares, Squares], max_nodes: int = 0,
                        other: Callable[[], int] | None = None
                        ) -> tuple[list[list[int]], int, int, list[list[int]]]:
    """`levels_sorted`'s diff, and each node's sum of squared event values per
    side (significance.py): levels of [left, right] pairs, node for node as
    the diff levels. A node's squares are those of the stacks it covers, as
    its total is their values; an `other` node holds what its parent's own
    stack and kept children leave, of squares as of values. The heaviest
    nodes' layout sums them as it places the nodes; with every node, they
    come from the nodes' spans afterwards (`_squares_by_span`), so the plain
    render's pass over the stacks carries nothing for them."""
    keys, lv, rv = _diff_columns(left, right)
    sq = tuple(list(map(q.__mul__, v)) if isinstance(q, int)
               else list(map(q.get, keys, repeat(0)))
               for q, v in zip(squares, (lv, rv), strict=True))
    return _levels(keys, lv, rv, True, max_nodes, other, sq)


def _diff_columns(left: dict[bytes, int], right: dict[bytes, int]
                  ) -> tuple[list[bytes], list[int], list[int]]:
    """The sorted stacks either side has a value > 0 for, and each side's
    values (0 where it has none)."""
    keys = sorted_keys({k for k, v in left.items() if v > 0}
                       | {k for k, v in right.items() if v > 0})
    lget, rget = left.get, right.get
    return keys, [max(0, lget(k, 0)) for k in keys], [max(0, rget(k, 0)) for k in keys]


def levels_of_pairs(keys: list[bytes], values: list[int], max_nodes: int = 0,
                    other: Callable[[], int] | None = None) -> tuple[list[list[int]], int, int]:
    """`levels_sorted` of the stacks `keys` (a key may repeat: its values add
    up) without the dict of merged stacks: summed and sorted in one pass (in C
    when built)."""
    keys, values = sorted_sums(keys, values)
    if min(values, default=1) <= 0:
        keep = [v > 0 for v in values]
        keys, values = list(compress(keys, keep)), list(compress(values, keep))
    levels, total, rt, _ = _levels(keys, values, values, False, max_nodes, other)
    return levels, total, rt


def _levels(keys: list[bytes], lv: list[int], rv: list[int], diff: bool, max_nodes: int,
            other: Callable[[], int] | None, sq: tuple[list[int], list[int]] | None = None
            ) -> tuple[list[list[int]], int, int, list[list[int]] | None]:
    """`levels_sorted` of sorted, distinct stacks and their values (`lv` and
    `rv` the same list when not a diff), and with `sq` (each stack's squares
    per side) each node's squares."""
    frames = sum(map(len, keys)) // 4 if max_nodes else 0
    got = None
    if frames < max_nodes or not max_nodes:  # a frame is one node at most: all fit
        got = _all_nodes(keys, lv, rv, diff)
    elif frames < 4 * max_nodes:  # stacks share prefixes: the whole tree may still fit
        got = _all_nodes(keys, lv, rv, diff, max_nodes)
    if got is not None:
        return *got, _squares_by_span(got[0], lv, rv, sq) if sq is not None else None
    return _heaviest(keys, lv, rv, max_nodes, other, diff, sq)


def _all_nodes(keys: list[bytes], left: list[int], right: list[int], diff: bool,
               max_nodes: int = 0) -> tuple[list[list[int]], int, int] | None:
    """Levels of every node (None once past `max_nodes`, if given). Nodes close
    deepest first, but on each level in x order, so each goes straight to the
    end of its level."""
    levels: list[list[int]] = []
    ends: list[list[int]] = []
    # open nodes per depth: [name, xl, sl, xr, sr]; depth 0 is the root
    opened: list[list[int]] = [[0, 0, 0, 0, 0]]
    cl = cr = 0
    count = 1  # nodes opened, the root's included
    prev: tuple[int, ...] = ()
    for key, lv, rv in zip(keys, left, right, strict=True):
        stack = key_names(key)
        n = min(len(prev), len(stack))
        p = 0
        while p < n and prev[p] == stack[p]:
            p += 1
        while len(opened) > p + 1:
            name, xl, sl, xr, sr = opened.pop()
            _emit(levels, ends, len(opened), xl, cl - xl, sl, xr, cr - xr, sr, name, diff)
        count += len(stack) - p
        if max_nodes and count > max_nodes:
            return None
        for name in stack[p:]:
            opened.append([name, cl, 0, cr, 0])
        last = opened[-1]
        last[2] += lv
        cl += lv
        if diff:
            last[4] += rv
            cr += rv
        prev = stack
    while opened:
        name, xl, sl, xr, sr = opened.pop()
        _emit(levels, ends, len(opened), xl, cl - xl, sl, xr, cr - xr, sr, name, diff)
    return levels, cl, cr


def _squares_by_span(levels: list[list[int]], left: list[int], right: list[int],
                     sq: tuple[list[int], list[int]]) -> list[list[int]]:
    """Each node's squares (left, right) of diff `levels` that `_all_nodes` laid
    out over every stack: a node spans the run of sorted stacks between its
    x's (each stack moves left x + right x on by its values' sum, > 0 in a
    diff), so its squares are differences of running sums; no stack's names
    are read again, and the loops run in C."""
    stack_at = {x: i for i, x in enumerate(accumulate(map(add, left, right), initial=0))}
    cum_ql, cum_qr = (list(accumulate(q, initial=0)) for q in sq)
    out: list[list[int]] = []
    for level in levels:
        tl, tr = level[1::7], level[4::7]
        # a node's x: its delta past the end of the node before it
        xl = list(accumulate(map(add, level[0::7], chain((0,), tl))))
        xr = list(accumulate(map(add, level[3::7], chain((0,), tr))))
        a = list(map(stack_at.__getitem__, map(add, xl, xr)))
        b = list(map(stack_at.__getitem__, map(add, map(add, xl, tl), map(add, xr, tr))))
        got = [0] * (2 * len(a))
        got[0::2] = map(sub, map(cum_ql.__getitem__, b), map(cum_ql.__getitem__, a))
        got[1::2] = map(sub, map(cum_qr.__getitem__, b), map(cum_qr.__getitem__, a))
        out.append(got)
    return out


def _heaviest(keys: list[bytes], left: list[int], right: list[int], max_nodes: int,
              other: Callable[[], int] | None, diff: bool,
              sq: tuple[list[int], list[int]] | None = None
              ) -> tuple[list[list[int]], int, int, list[list[int]] | None]:
    """Levels of the `max_nodes` heaviest nodes (an `other` per parent included):
    `heaviest_nodes` picks them (in C when built; ~30 ms of Python for a
    host's hour at 8,192 nodes), `_layout` places them (with `sq`, and their
    squares)."""
    cum_l = [0, *accumulate(left)]
    cum_r = cum_l if right is left else [0, *accumulate(right)]
    args = (keys, cum_l, cum_r, max(2, max_nodes), other is not None, diff)
    try:
        *kept, others = heaviest_nodes(*args)
    except OverflowError:  # running sums past int64: Python's ints
        *kept, others = heaviest_nodes_py(*args)
    return _layout(keys, left, right, cum_l, cum_r, kept,
                   other() if others and other is not None else None, diff, sq)


def heaviest_nodes_py(keys: list[bytes], cum_l: list[int], cum_r: list[int], max_nodes: int,
                      counts_other: bool, diff: bool) -> tuple:
    """The `max_nodes` heaviest nodes of the sorted stacks `keys` (an `other`
    per parent counted when `counts_other`), as columns (depth, first, end,
    names, parent, pending) and how many kept nodes have children left out.

    A node is a run of sorted stacks [a, b) sharing a prefix; its total is a
    difference of running sums (`cum_l`, `cum_r`: the same list when not a
    diff), and its children's runs are found by bisection, so only the kept
    nodes and their children are ever looked at, never the whole tree (a
    host's hour can have hundreds of thousands of nodes). Nodes are taken
    heaviest first (a child never outweighs its parent; ties in stack order),
    until the next one and the `other` it may need would not fit. Kept nodes
    are columns of ints, so a million of them cost tens of MiB.
    """
    n = len(keys)
    # kept nodes, index 0 the root: depth, run [first, end), name, parent, and
    # how many of its children are not kept (it then needs an `other`)
    depth, first, end = array("I", [0]), array("I", [0]), array("I", [n])
    names, parent, pending = array("I", [0]), array("i", [-1]), array("I", [0])
    heap: list[tuple[int, int, int, int, int, int]] = []
    others = 0  # kept nodes with children pending

    def expand(idx: int) -> int:
        """Puts the children of kept node `idx` on the heap; returns how many."""
        d, a, b = depth[idx], first[idx], end[idx]
        p = 4 * d
        i = a + 1 if len(keys[a]) == p else a  # the node's own stack is its self
        kids = 0
        while i < b:
            k = keys[i]
            name = int.from_bytes(k[p:p + 4], "big")
            e = bisect_left(keys, k[:p] + (name + 1).to_bytes(4, "big"), i + 1, b)
            w = cum_l[e] - cum_l[i]
            if diff:
                w = max(w, cum_r[e] - cum_r[i])
            heappush(heap, (-w, i, e, name, d + 1, idx))
            kids += 1
            i = e
        pending[idx] = kids
        return kids

    if n and expand(0):
        others = 1
    while heap:
        _, a, b, name, d, par = heap[0]
        has_kids = b - a > 1 or len(keys[a]) > 4 * d
        after = len(depth) + 1 + counts_other * (others + has_kids - (pending[par] == 1))
        if after > max_nodes:
            break
        heappop(heap)
        idx = len(depth)
        depth.append(d)
        first.append(a)
        end.append(b)
        names.append(name)
        parent.append(par)
        pending.append(0)
        pending[par] -= 1
        if not pending[par]:
            others -= 1
        if has_kids and expand(idx):
            others += 1
    return depth, first, end, names, parent, pending, others


try:
    from profiler.query._idmap import heaviest as heaviest_nodes
except ImportError:  # not built
    heaviest_nodes = heaviest_nodes_py


def _layout(keys: list[bytes], left: list[int], right: list[int], cum_l: list[int],
            cum_r: list[int], kept: list[Sequence[int]], other_name: int | None, diff: bool,
            sq: tuple[list[int], list[int]] | None = None
            ) -> tuple[list[list[int]], int, int, list[list[int]] | None]:
    """Levels of the kept nodes, level by level: on a level, nodes in stack
    order are grouped by parent in the parents' order; each parent's kept
    children follow its self, then its `other` (if any) holds the rest (and,
    with `sq`, the squares they leave)."""
    depth, first, end, names, parent, pending = kept
    m = len(depth)
    width = len(keys) + 1
    order = sorted(range(m), key=lambda i: depth[i] * width + first[i])
    # per kept node: where its next child goes, and where it ends (left, right)
    at_l, at_r, end_l, end_r = [0] * m, [0] * m, [0] * m, [0] * m
    levels: list[list[int]] = []
    ends: list[list[int]] = []
    squared: list[list[int]] | None = None
    if sq is not None:
        squared = []
        cum_ql, cum_qr = ([0, *accumulate(q)] for q in sq)
        # per kept node: its squares, and those of its own stack and placed children
        node_q, used_q = [(0, 0)] * m, [[0, 0] for _ in range(m)]

    def place(i: int, xl: int, xr: int) -> None:
        a, b, d = first[i], end[i], depth[i]
        tl, tr = cum_l[b] - cum_l[a], cum_r[b] - cum_r[a]
        own = b > a and len(keys[a]) == 4 * d
        sl, sr = (left[a], right[a]) if own else (0, 0)
        _emit(levels, ends, d, xl, tl, sl, xr, tr, sr, names[i], diff)
        at_l[i], at_r[i], end_l[i], end_r[i] = xl + sl, xr + sr, xl + tl, xr + tr
        if squared is not None:
            q = node_q[i] = (cum_ql[b] - cum_ql[a], cum_qr[b] - cum_qr[a])
            _emit_squares(squared, d, *q)
            used_q[i] = [sq[0][a], sq[1][a]] if own else [0, 0]
            if i:
                used = used_q[parent[i]]
                used[0] += q[0]
                used[1] += q[1]

    place(0, 0, 0)
    parents = [0]
    k = 1
    while parents:
        level = []
        for p in parents:
            while k < m and parent[order[k]] == p:
                c = order[k]
                place(c, at_l[p], at_r[p])
                at_l[p], at_r[p] = end_l[c], end_r[c]
                level.append(c)
                k += 1
            if pending[p] and other_name is not None:
                ol, orr = end_l[p] - at_l[p], end_r[p] - at_r[p]
                _emit(levels, ends, depth[p] + 1, at_l[p], ol, ol, at_r[p], orr, orr,
                      other_name, diff)
                if squared is not None:
                    (ql, qr), (ul, ur) = node_q[p], used_q[p]
                    _emit_squares(squared, depth[p] + 1, max(0, ql - ul), max(0, qr - ur))
        parents = level
    return levels, cum_l[-1], cum_r[-1] if diff else 0, squared


def _emit(levels: list[list[int]], ends: list[list[int]], d: int, xl: int, tl: int, sl: int,
          xr: int, tr: int, sr: int, name: int, diff: bool) -> None:
    """Appends one node to level d, its x delta-encoded against the level's last node."""
    while d >= len(levels):
        levels.append([])
        ends.append([0, 0])
    end = ends[d]
    if diff:
        levels[d].extend((xl - end[0], tl, sl, xr - end[1], tr, sr, name))
    else:
        levels[d].extend((xl - end[0], tl, sl, name))
    end[0], end[1] = xl + tl, xr + tr


def _emit_squares(squared: list[list[int]], d: int, ql: int, qr: int) -> None:
    """Appends one node's squares (left, right) to level d, as `_emit` its values."""
    while d >= len(squared):
        squared.append([])
    squared[d] += (ql, qr)


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
