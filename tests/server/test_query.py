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
    left = {tuple(rng.choices(range(1, 20), k=rng.randint(1, 8))): rng.randint(1, 50)
            for _ in range(300)}
    right = {tuple(rng.choices(range(1, 20), k=rng.randint(1, 8))): rng.randint(1, 50)
             for _ in range(300)}
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
