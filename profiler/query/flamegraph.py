"""Flame graphs in flamebearer form (Pyroscope's JSON), from weighted stacks.

A stack is a tuple of name indexes, root first. Levels are flat int lists of
`[x_delta, total, self, name]` groups (diff: `[l_delta, l_total, l_self,
r_delta, r_total, r_self, name]`), x delta-encoded against the end of the
previous node on the level. `levels_sorted` builds them without a node tree.
"""

from __future__ import annotations

from collections.abc import Callable


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

    With `max_nodes`, at most that many nodes: the smallest ones merge, per
    parent, into one node named `other()` (a name index), drawn last among its
    siblings, so the totals still add up and the merge is visible. Without
    `other` they are left out.
    """
    merged: dict[tuple[int, ...], list[int]] = {k: [v, 0] for k, v in left.items() if v > 0}
    for k, v in (right or {}).items():
        if v > 0:
            e = merged.get(k)
            if e is None:
                merged[k] = [0, v]
            else:
                e[1] = v
    items = sorted(merged.items())
    nodes, cl, cr = _nodes(items)
    if max_nodes and len(nodes) > max_nodes:
        if other is None:
            minv = _threshold(nodes, max_nodes)
            nodes = [nd for nd in nodes if nd[2] >= minv or nd[5] >= minv or nd[0] == 0]
        else:
            nodes, cl, cr = _nodes(_merge_small(items, nodes, max_nodes, other()))
    return _levels(nodes, right is not None), cl, cr


# A node: (depth, xl, total l, self l, xr, total r, self r, name, first stack, end stack).
Node = tuple[int, int, int, int, int, int, int, int, int, int]


def _nodes(items: list[tuple[tuple[int, ...], list[int]]]) -> tuple[list[Node], int, int]:
    """The nodes of sorted (stack, [left, right]) items, deepest closed first."""
    nodes: list[Node] = []
    # open nodes per depth: [name, xl, sl, xr, sr, first stack]; depth 0 is the root
    opened: list[list[int]] = [[0, 0, 0, 0, 0, 0]]
    cl = cr = 0
    prev: tuple[int, ...] = ()
    for j, (stack, (lv, rv)) in enumerate(items):
        n = min(len(prev), len(stack))
        p = 0
        while p < n and prev[p] == stack[p]:
            p += 1
        while len(opened) > p + 1:
            name, xl, sl, xr, sr, a = opened.pop()
            nodes.append((len(opened), xl, cl - xl, sl, xr, cr - xr, sr, name, a, j))
        for name in stack[p:]:
            opened.append([name, cl, 0, cr, 0, j])
        last = opened[-1]
        last[2] += lv
        last[4] += rv
        cl += lv
        cr += rv
        prev = stack
    while opened:
        name, xl, sl, xr, sr, a = opened.pop()
        nodes.append((len(opened), xl, cl - xl, sl, xr, cr - xr, sr, name, a, len(items)))
    return nodes, cl, cr


def _threshold(nodes: list[Node], keep: int) -> int:
    """The weight a node needs to be among the `keep` heaviest (ties may add a few)."""
    weights = sorted((max(nd[2], nd[5]) for nd in nodes), reverse=True)
    return weights[max(1, keep) - 1] + 1


def _merge_small(items: list[tuple[tuple[int, ...], list[int]]], nodes: list[Node],
                 max_nodes: int, other: int) -> list[tuple[tuple[int, ...], list[int]]]:
    """The items again, each stack cut where its first too-small node starts and
    ended with `other` there: the smallest nodes of a parent merge into one.

    A node weighs less than its parent, so the nodes dropped under a kept one
    are whole subtrees. The weight bound falls until the kept nodes and the
    `other` nodes they gain fit in `max_nodes`.
    """
    by_depth = sorted((nd for nd in nodes if nd[0]), key=lambda nd: nd[0])
    keep = max_nodes
    while True:
        minv = _threshold(nodes, keep)
        cut = [0] * len(items)
        parents: set[tuple[int, ...]] = set()
        kept = 1
        for nd in by_depth:
            depth, a = nd[0], nd[8]
            if nd[2] >= minv or nd[5] >= minv:
                kept += 1
            elif not cut[a]:  # the first dropped node on these stacks
                cut[a:nd[9]] = [depth] * (nd[9] - a)
                parents.add(items[a][0][:depth - 1])
        if kept + len(parents) <= max_nodes or keep <= 1:
            break
        keep -= kept + len(parents) - max_nodes
    out: dict[tuple[int, ...], list[int]] = {}
    for (stack, (lv, rv)), depth in zip(items, cut, strict=True):
        key = stack[:depth - 1] + (other,) if depth else stack
        e = out.get(key)
        if e is None:
            out[key] = [lv, rv]
        else:
            e[0] += lv
            e[1] += rv
    # `other` sorts after its siblings when its name index is the largest
    return sorted(out.items())


def _levels(nodes: list[Node], diff: bool) -> list[list[int]]:
    """Flamebearer levels of the nodes (x delta-encoded per level)."""
    # Nodes close deepest first; per level they close in x order, so a stable
    # sort by depth keeps each level's x order.
    nodes.sort(key=lambda nd: nd[0])
    levels: list[list[int]] = []
    end_l = end_r = 0
    for depth, xl, tl, sl, xr, tr, sr, name, _, _ in nodes:
        if depth == len(levels):
            levels.append([])
            end_l = end_r = 0
        if diff:
            levels[depth].extend((xl - end_l, tl, sl, xr - end_r, tr, sr, name))
        else:
            levels[depth].extend((xl - end_l, tl, sl, name))
        end_l, end_r = xl + tl, xr + tr
    return levels


def _used_names(levels: list[list[int]], names: Names, width: int) -> tuple[list[str], list[str]]:
    """Names and kinds of the frames the levels hold, renumbered in place:
    after a maxNodes merge most interned names are gone from the graph, and
    sending them would only make the answer larger."""
    used = sorted({lv[i] for lv in levels for i in range(width - 1, len(lv), width)} | {0})
    if len(used) == len(names.names):
        return names.names, names.kinds
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
