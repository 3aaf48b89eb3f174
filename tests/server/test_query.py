"""Selectors, times and flamebearer levels."""

from __future__ import annotations

import random

import pytest

from profiler.query import flamegraph as fg
from profiler.query.selector import parse_selector
from profiler.web.params import QueryError, parse_time


def test_selectors():
    s = parse_selector('process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="api",'
                       'service_version!="1.3", host=~"h[0-9]+"}')
    assert s.kinds == ("cpu",)
    assert s.matches({"service_name": "api", "service_version": "1.4", "host": "h12"})
    assert not s.matches({"service_name": "api", "service_version": "1.3", "host": "h1"})
    assert parse_selector("{}").kinds == ("cpu", "offcpu")
    assert parse_selector("offcpu").kinds == ("offcpu",)
    assert parse_selector('wall{a="x\\"y"}').matchers == (("a", "=", 'x"y'),)
    for bad in ('cpu{a=b}', 'cpu{a="b"', 'bogus{}', 'cpu{a=~"("}', "cpu{1a=\"x\"}"):
        with pytest.raises(QueryError):
            parse_selector(bad)


def test_times():
    now = 1_700_000_000 * 10**9
    assert parse_time("now", "now", now) == now
    assert parse_time("now-1h", "now", now) == now - 3600 * 10**9
    assert parse_time("1700000000", "now", now) == now
    assert parse_time("1700000000000", "now", now) == now
    assert parse_time("1700000000000000", "now", now) == now
    assert parse_time(str(now), "now", now) == now
    with pytest.raises(QueryError):
        parse_time("yesterday", "now", now)


def _nodes(levels, width):
    out = []
    for depth, lv in enumerate(levels):
        end = [0, 0]
        for i in range(0, len(lv), width):
            g = lv[i:i + width]
            x = end[0] + g[0]
            end[0] = x + g[1]
            node = {"depth": depth, "x": x, "total": g[1], "self": g[2], "name": g[-1]}
            if width == 7:
                xr = end[1] + g[3]
                end[1] = xr + g[4]
                node.update(xr=xr, rtotal=g[4], rself=g[5])
            out.append(node)
    return out


def test_levels_are_consistent():
    rng = random.Random(5)
    left = fg.keyed({tuple(rng.choices(range(1, 20), k=rng.randint(1, 8))): rng.randint(1, 50)
                     for _ in range(300)})
    right = fg.keyed({tuple(rng.choices(range(1, 20), k=rng.randint(1, 8))): rng.randint(1, 50)
                      for _ in range(300)})
    levels, lt, rt = fg.levels_sorted(left, None)
    nodes = _nodes(levels, 4)
    assert nodes[0]["total"] == lt == sum(left.values())
    assert sum(n["self"] for n in nodes) == lt
    by_depth = {}
    for n in nodes:
        by_depth.setdefault(n["depth"], []).append(n)
    for d, ns in by_depth.items():  # children lie inside a parent, without overlaps
        for a, b in zip(ns, ns[1:], strict=False):
            assert a["x"] + a["total"] <= b["x"]
        if d:
            for n in ns:
                assert any(p["x"] <= n["x"] and n["x"] + n["total"] <= p["x"] + p["total"]
                           for p in by_depth[d - 1])
    levels, lt, rt = fg.levels_sorted(left, right)
    nodes = _nodes(levels, 7)
    assert (nodes[0]["total"], nodes[0]["rtotal"]) == (sum(left.values()), sum(right.values()))
    assert sum(n["rself"] for n in nodes) == rt
    small, _, _ = fg.levels_sorted(left, None, max_nodes=50)
    assert sum(len(lv) for lv in small) // 4 <= 50


def test_max_nodes_merges_the_smallest_frames_into_other():
    """maxNodes keeps the heaviest nodes; the rest merge, per parent, into one
    `other` node: the totals still add up and no frame is silently lost."""
    rng = random.Random(9)
    stacks = fg.keyed({tuple(rng.choices(range(1, 40), k=rng.randint(1, 9))): rng.randint(1, 90)
                       for _ in range(2000)})
    full, total, _ = fg.levels_sorted(stacks, None)
    assert sum(len(lv) for lv in full) // 4 > 500
    other = 99
    for limit in (500, 60, 5):
        levels, lt, _ = fg.levels_sorted(stacks, None, limit, lambda: other)
        nodes = _nodes(levels, 4)
        assert len(nodes) <= limit and lt == total
        assert nodes[0]["total"] == total and sum(n["self"] for n in nodes) == total
        merged = [n for n in nodes if n["name"] == other]
        assert merged and sum(n["total"] for n in merged) > 0
        by_depth: dict[int, list[dict]] = {}
        for n in nodes:
            by_depth.setdefault(n["depth"], []).append(n)
        for d, ns in by_depth.items():
            if not d:
                continue
            for n in ns:  # inside its parent, and each parent has one `other` at most
                parent = [p for p in by_depth[d - 1]
                          if p["x"] <= n["x"] and n["x"] + n["total"] <= p["x"] + p["total"]]
                assert len(parent) == 1
                n["parent"] = id(parent[0])
            kids = [n["parent"] for n in ns if n["name"] == other]
            assert len(kids) == len(set(kids))
            # children's totals plus the parent's self fill the parent exactly
            for p in by_depth[d - 1]:
                inside = sum(n["total"] for n in ns if n["parent"] == id(p))
                assert inside + p["self"] == p["total"]
    # each kept frame keeps its exact total and self (its place moves: `other` goes last)
    big, _, _ = fg.levels_sorted(stacks, None, 60, lambda: other)
    heaviest = [max((n for n in _nodes(lv, 4) if n["depth"] == 1 and n["name"] != other),
                    key=lambda n: n["total"]) for lv in (big, full)]
    assert [(n["name"], n["total"], n["self"]) for n in heaviest] == [
        (heaviest[1]["name"], heaviest[1]["total"], heaviest[1]["self"])] * 2
    # a diff merges where both sides are small
    right = {k: v * 2 for k, v in list(stacks.items())[:900]}
    levels, lt, rt = fg.levels_sorted(stacks, right, 80, lambda: other)
    nodes = _nodes(levels, 7)
    assert len(nodes) <= 80 and (lt, rt) == (total, sum(right.values()))
    assert sum(n["self"] for n in nodes) == lt and sum(n["rself"] for n in nodes) == rt


def test_meta_serves_the_models_vocabulary(client):
    """The UI takes off-CPU reasons from here, so model.OFFCPU_REASONS is their one list."""
    from profiler.model import FRAME_KINDS, OFFCPU_REASONS

    r = client.get("/api/v1/meta")
    assert r.status_code == 200
    body = r.get_json()
    assert body["offcpu_reasons"] == list(OFFCPU_REASONS)
    assert body["frame_kinds"] == list(FRAME_KINDS)
    assert body["profile_types"] == ["cpu", "offcpu", "wall"]


def test_every_reason_the_sampler_gives_is_in_the_model():
    from profiler.model import OFFCPU_REASONS
    from profiler.sampler import reasons

    given = {reason for _, reason in reasons._KERNEL_PATTERNS}
    given |= {reasons.classify(state, []) for state in (0, 1, 2, 0x402)}
    assert given <= set(OFFCPU_REASONS)


def test_render_with_max_nodes_shows_other_and_sends_only_the_names_drawn(client):
    """The API answer: the merged frames' time is in an `other` node (kind
    `other`), and names of frames merged away are not sent."""
    lines = [f"main;handler_{i};leaf_{i} {1000 - i}" for i in range(300)]
    assert client.post("/ingest?name=maxnodes-app.cpu&format=folded",
                       data="\n".join(lines).encode()).status_code == 200
    q = {"query": 'cpu{service_name="maxnodes-app"}', "from": "now-1h", "until": "now"}
    full = client.get("/api/v1/render", query_string=q).get_json()
    small = client.get("/api/v1/render", query_string={**q, "maxNodes": 40}).get_json()
    total = full["flamebearer"]["numTicks"]
    unit = total // sum(1000 - i for i in range(300))  # a folded count is one sample
    assert small["flamebearer"]["numTicks"] == total and unit > 0
    names, levels = small["flamebearer"]["names"], small["flamebearer"]["levels"]
    assert sum(len(lv) for lv in levels) // 4 <= 40
    assert small["kinds"][names.index("other")] == "other"
    used = {lv[i] for lv in levels for i in range(3, len(lv), 4)}
    assert used | {0} == set(range(len(names)))
    # under main: the heaviest handlers, then `other` holding the rest
    depth2 = levels[2]
    kids = [(names[depth2[i + 3]], depth2[i + 1]) for i in range(0, len(depth2), 4)]
    assert kids[-1][0] == "other" and ("handler_0", 1000 * unit) in kids
    assert sum(t for _, t in kids) == total
