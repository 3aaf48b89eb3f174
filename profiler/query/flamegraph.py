"""Flame graphs in flamebearer form (Pyroscope's JSON), from weighted stacks.

A stack is a tuple of name indexes, root first. Levels are flat int lists of
`[x_delta, total, self, name]` groups (diff: `[l_delta, l_total, l_self,
r_delta, r_total, r_self, name]`), x delta-encoded against the end of the
previous node on the level. `levels_sorted` builds them without a node tree.
"""

from __future__ import annotations


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


def levels_sorted(left: dict[tuple[int, ...], int], right: dict[tuple[int, ...], int] | None,
                  max_nodes: int = 0) -> tuple[list[list[int]], int, int]:
    """Flamebearer levels straight from weighted stacks, without a node tree.

    Stacks are sorted, so every node covers a contiguous run of them: a node's
    total is the running sum when it closes minus the running sum when it
    opened (flamegraph.pl's method). Returns (levels, left total, right total).
    With `right`, levels are the 7-int diff form.
    """
    diff = right is not None
    merged: dict[tuple[int, ...], list[int]] = {k: [v, 0] for k, v in left.items() if v > 0}
    for k, v in (right or {}).items():
        if v > 0:
            e = merged.get(k)
            if e is None:
                merged[k] = [0, v]
            else:
                e[1] = v
    nodes: list[tuple[int, int, int, int, int, int, int, int]] = []
    # open nodes per depth: [name, xl, sl, xr, sr]; depth 0 is the root
    opened: list[list[int]] = [[0, 0, 0, 0, 0]]
    cl = cr = 0
    prev: tuple[int, ...] = ()
    for stack, (lv, rv) in sorted(merged.items()):
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


def flamebearer_from_levels(levels: list[list[int]], total: int, names: Names,
                            units: str = "nanoseconds") -> dict:
    max_self = max((lv[i] for lv in levels for i in range(2, len(lv), 4)), default=0)
    return {
        "version": 1,
        "flamebearer": {"names": names.names, "levels": levels, "numTicks": total,
                        "maxSelf": max_self},
        "metadata": {"format": "single", "units": units, "spyName": "flamecam",
                     "sampleRate": 1_000_000_000},
        "kinds": names.kinds,
    }


def diff_flamebearer_from_levels(levels: list[list[int]], left: int, right: int, names: Names,
                                 units: str = "nanoseconds") -> dict:
    max_self = max((max(lv[i], lv[i + 3]) for lv in levels for i in range(2, len(lv), 7)),
                   default=0)
    return {
        "version": 1,
        "flamebearer": {"names": names.names, "levels": levels, "numTicks": left + right,
                        "maxSelf": max_self},
        "metadata": {"format": "double", "units": units, "spyName": "flamecam",
                     "sampleRate": 1_000_000_000},
        "leftTicks": left,
        "rightTicks": right,
        "kinds": names.kinds,
    }
