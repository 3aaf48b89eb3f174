"""Flame graph trees and their flamebearer encoding (Pyroscope's JSON form).

A tree is built from `{stack: value}` where a stack is a tuple of name
indexes, root first. Levels are flat int lists of `[x_delta, total, self,
name]` groups (diff: `[l_delta, l_total, l_self, r_delta, r_total, r_self,
name]`), x delta-encoded against the end of the previous node on the level.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER = "other"


class Names:
    """Interning of frame names to flamebearer name indexes, with their kinds."""

    def __init__(self) -> None:
        self.names: list[str] = ["total"]
        self.kinds: list[str] = ["root"]
        self.index: dict[str, int] = {"total": 0}

    def __call__(self, name: str, kind: str = "native") -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(kind)
        return i


class Node:
    __slots__ = ("name", "total", "self_", "children", "rtotal", "rself")

    def __init__(self, name: int) -> None:
        self.name = name
        self.total = 0
        self.self_ = 0
        self.rtotal = 0
        self.rself = 0
        self.children: dict[int, Node] = {}


def build(stacks: Iterable[tuple[tuple[int, ...], int]], right: bool = False,
          root: Node | None = None) -> Node:
    """Add weighted stacks to a tree (the right side of a diff with right=True)."""
    root = root or Node(0)
    for stack, value in stacks:
        if value <= 0:
            continue
        node = root
        if right:
            node.rtotal += value
            for name in stack:
                child = node.children.get(name)
                if child is None:
                    child = node.children[name] = Node(name)
                child.rtotal += value
                node = child
            node.rself += value
        else:
            node.total += value
            for name in stack:
                child = node.children.get(name)
                if child is None:
                    child = node.children[name] = Node(name)
                child.total += value
                node = child
            node.self_ += value
    return root


def _threshold(root: Node, max_nodes: int) -> int:
    """Smallest node weight kept so that at most max_nodes nodes remain."""
    if max_nodes <= 0:
        return 0
    weights = []
    todo = [root]
    while todo:
        n = todo.pop()
        weights.append(max(n.total, n.rtotal))
        todo.extend(n.children.values())
    if len(weights) <= max_nodes:
        return 0
    weights.sort(reverse=True)
    return weights[max_nodes - 1]


def _levels(root: Node, names: Names, max_nodes: int, diff: bool) -> list[list[int]]:
    minv = _threshold(root, max_nodes)
    other = names(OTHER, "unknown") if minv else -1
    levels: list[list[int]] = []
    ends: list[list[int]] = []  # per level: end x of the previous node (left, right)
    order = names.names
    # (node, depth, x_left, x_right)
    todo: list[tuple[Node, int, int, int]] = [(root, 0, 0, 0)]
    while todo:
        node, depth, xl, xr = todo.pop()
        if depth == len(levels):
            levels.append([])
            ends.append([0, 0])
        end = ends[depth]
        if diff:
            levels[depth].extend((xl - end[0], node.total, node.self_,
                                  xr - end[1], node.rtotal, node.rself, node.name))
        else:
            levels[depth].extend((xl - end[0], node.total, node.self_, node.name))
        end[0], end[1] = xl + node.total, xr + node.rtotal
        kids = sorted(node.children.values(), key=lambda n: order[n.name])
        if minv:
            keep = [k for k in kids if max(k.total, k.rtotal) >= minv]
            dropped = [k for k in kids if max(k.total, k.rtotal) < minv]
            if dropped:
                o = Node(other)
                o.total = sum(k.total for k in dropped)
                o.rtotal = sum(k.rtotal for k in dropped)
                o.self_, o.rself = o.total, o.rtotal
                keep.append(o)
            kids = keep
        placed = []
        cl, cr = xl, xr
        for k in kids:
            placed.append((k, depth + 1, cl, cr))
            cl += k.total
            cr += k.rtotal
        todo.extend(reversed(placed))
    return levels


def flamebearer(root: Node, names: Names, max_nodes: int = 0, units: str = "nanoseconds",
                extra_meta: dict | None = None) -> dict:
    """Single flamebearer JSON object (Pyroscope's shape plus `kinds`)."""
    levels = _levels(root, names, max_nodes, diff=False)
    max_self = max((lv[i] for lv in levels for i in range(2, len(lv), 4)), default=0)
    meta = {"format": "single", "units": units, "spyName": "flamecam", "sampleRate": 1_000_000_000}
    meta.update(extra_meta or {})
    return {
        "version": 1,
        "flamebearer": {"names": names.names, "levels": levels, "numTicks": root.total,
                        "maxSelf": max_self},
        "metadata": meta,
        "kinds": names.kinds,
    }


def diff_flamebearer(root: Node, names: Names, max_nodes: int = 0,
                     units: str = "nanoseconds") -> dict:
    """Diff flamebearer: left is `total/self_`, right is `rtotal/rself`."""
    levels = _levels(root, names, max_nodes, diff=True)
    max_self = max((max(lv[i], lv[i + 3]) for lv in levels for i in range(2, len(lv), 7)),
                   default=0)
    return {
        "version": 1,
        "flamebearer": {"names": names.names, "levels": levels,
                        "numTicks": root.total + root.rtotal, "maxSelf": max_self},
        "metadata": {"format": "double", "units": units, "spyName": "flamecam",
                     "sampleRate": 1_000_000_000},
        "leftTicks": root.total,
        "rightTicks": root.rtotal,
        "kinds": names.kinds,
    }
