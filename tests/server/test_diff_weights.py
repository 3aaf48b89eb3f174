"""Diff significance on the server (issue 16 item 6): `render-diff&weights=1`
answers each node's weight w = sum(d**2) / sum(d) per side, from the stored
samples, so that w * value is the node's variance as a compound Poisson sum.
Known answers: on-CPU nodes weigh the sampling period; off-CPU nodes the mean
of their interval lengths weighted by length; z from the weights is the z of
the events themselves (tests/server/diff_data.py); a kernel-summed row counts
as one event. Real agent batches through the real app, SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
import time

import pytest

from profiler.agent.batch import encode_batch
from profiler.model import Frame, Sample
from profiler.query import flamegraph as fg
from profiler.store import maintenance
from profiler.web.context import EXT
from tests.server import diff_data

AGENT = {"Content-Type": "application/x-flamecam-batch", "Content-Encoding": "zstd"}


def _post(client, body: bytes) -> None:
    r = client.post("/api/v1/agent/push", data=body, headers=AGENT)
    assert r.status_code == 200, r.get_data(as_text=True)


def _diff(client, kind: str, **extra) -> dict:
    def q(version: str) -> str:
        return f'{kind}{{service_name="{diff_data.SERVICE}",service_version="{version}"}}'

    r = client.get("/api/v1/render-diff", query_string={
        "leftQuery": q("1.0"), "rightQuery": q("2.0"), "leftFrom": "now-1h",
        "leftUntil": "now+1m", "rightFrom": "now-1h", "rightUntil": "now+1m", **extra})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def _nodes(answer: dict) -> dict[tuple[str, ...], dict]:
    """Every node by its path of names (root: ()), with its values and weights."""
    names, levels = answer["flamebearer"]["names"], answer["flamebearer"]["levels"]
    weights = answer["weights"]
    out: dict[tuple[str, ...], dict] = {}
    above: list[tuple[int, int, int, int, tuple[str, ...]]] = []
    for d, lv in enumerate(levels):
        xl = xr = 0
        here = []
        for n, i in enumerate(range(0, len(lv), 7)):
            xl += lv[i]
            xr += lv[i + 3]
            tl, sl, tr, sr, name = lv[i + 1], lv[i + 2], lv[i + 4], lv[i + 5], names[lv[i + 6]]
            if d == 0:
                path: tuple[str, ...] = ()
            else:  # the parent whose spans hold this node's, on both sides
                parent = next(p for p in above if p[0] <= xl and xl + tl <= p[0] + p[1]
                              and p[2] <= xr and xr + tr <= p[2] + p[3])
                path = parent[4] + (name,)
            out[path] = {"l": tl, "r": tr, "ls": sl, "rs": sr,
                         "lw": weights[d][2 * n], "rw": weights[d][2 * n + 1]}
            here.append((xl, tl, xr, tr, path))
            xl += tl
            xr += tr
        above = here
    return out


def _z(nodes: dict, path: tuple[str, ...]) -> float:
    """z of a node's change of share, from the answer's weights (the UI's method)."""
    root, n = nodes[()], nodes[path]

    def var(v: int, w: float, total: int, q_all: float) -> float:
        s = v / total
        return ((1 - s) ** 2 * w * v + s * s * (q_all - w * v)) / total ** 2

    va = var(n["l"], n["lw"], root["l"], root["lw"] * root["l"])
    vb = var(n["r"], n["rw"], root["r"], root["rw"] * root["r"])
    return (n["r"] / root["r"] - n["l"] / root["l"]) / math.sqrt(va + vb)


@pytest.fixture
def pushed(client):
    diff_data.push(lambda body: _post(client, body), time.time_ns() - 60 * 10**9)
    return client


def test_cpu_nodes_weigh_the_sampling_period(pushed):
    answer = _diff(pushed, "cpu", weights="1")
    nodes = _nodes(answer)
    period = diff_data.PERIOD
    for path, n in nodes.items():
        assert n["lw"] == (period if n["l"] else 0) and n["rw"] == (period if n["r"] else 0), path
    # z from the weights is the z of the counts: tiny doubled on 2 -> 4 samples is noise
    for fn in ("tiny", "hot", "steady"):
        assert _z(nodes, ("main", fn)) == pytest.approx(diff_data.expected_z(("cpu",), fn),
                                                         abs=0.01)
    assert abs(_z(nodes, ("main", "tiny"))) < diff_data.Z_REAL < _z(nodes, ("main", "hot"))
    # Pyroscope's answer is unchanged unless asked
    assert "weights" not in _diff(pushed, "cpu")


def test_off_cpu_nodes_weigh_their_intervals_by_length(pushed):
    nodes = _nodes(_diff(pushed, "wall", weights="1"))
    for version, side in (("1.0", "l"), ("2.0", "r")):
        lengths = [v for fn, _, v in diff_data.events(version, ("offcpu",)) if fn == "tiny_wait"]
        w = sum(v * v for v in lengths) / sum(lengths)
        node = nodes[("main", "tiny_wait")]
        assert node[side] == sum(lengths)
        assert node[side + "w"] == pytest.approx(w, rel=1e-3)
        everything = [v for *_, v in diff_data.events(version, ("cpu", "offcpu"))]
        assert nodes[()][side + "w"] == pytest.approx(
            sum(v * v for v in everything) / sum(everything), rel=1e-3)
    # two long waits that became four: noise, though their GCD is 1 ns; the lock: real
    for fn in ("tiny_wait", "lock_wait", "tiny", "hot"):
        want = diff_data.expected_z(("cpu", "offcpu"), fn, by="function")
        assert _z(nodes, ("main", fn)) == pytest.approx(want, abs=0.01), fn
    assert abs(_z(nodes, ("main", "tiny_wait"))) < 1 < diff_data.Z_REAL < _z(
        nodes, ("main", "lock_wait"))


def test_other_node_weighs_what_its_siblings_leave(pushed):
    """maxNodes merges the smallest into `other`: its weight is its parent's
    squares less its kept siblings' (all on-CPU here: the period)."""
    answer = _diff(pushed, "cpu", weights="1", maxNodes="4")
    nodes = _nodes(answer)
    others = [p for p in nodes if p[-1:] == ("other",)]
    assert others, list(nodes)
    period = diff_data.PERIOD
    for p in others:
        assert nodes[p]["lw"] == pytest.approx(period, rel=1e-3)
        assert nodes[p]["rw"] == pytest.approx(period, rel=1e-3)


def test_a_kernel_summed_row_counts_as_one_event(client):
    """An off-CPU row that sums `count` intervals of unknown lengths weighs its
    whole value (sum(d)**2 bounds sum(d**2)): the test errs towards noise."""
    t0 = time.time_ns() - 60 * 10**9
    stack = (Frame("main", "native"), Frame("short_waits", "native"))
    for seq, version in enumerate(("1.0", "2.0"), 1):
        rows = [Sample("offcpu", t0 + k * 10**6, 9, 9, 0, "s", "s", stack, 1_000_000 + k,
                       reason="sleep") for k in range(20)]
        rows.append(Sample("offcpu", t0 + 10**8, 9, 9, 0, "s", "s", stack, 40_000_000,
                           count=400, reason="sleep"))
        labels = {"service_name": diff_data.SERVICE, "service_version": version}
        _post(client, encode_batch(rows, lambda s, labels=labels: labels, agent_id="sum",
                                   seq=seq))
    nodes = _nodes(_diff(client, "offcpu", weights="1"))
    lengths = [1_000_000 + k for k in range(20)] + [40_000_000]
    assert nodes[("main", "short_waits")]["lw"] == pytest.approx(
        sum(v * v for v in lengths) / sum(lengths), rel=1e-3)


def test_a_block_of_one_weight_weighs_its_nodes_without_its_samples(app, client):
    """A block records the one value its samples all have (the agent's period)
    when it is aggregated, so on-CPU weights need no sample: once downsampling
    has dropped them, on-CPU nodes still weigh the period and z is the same.
    Off-CPU blocks hold intervals of many lengths: without their samples, a
    stack's value counts as one event (the test errs towards noise)."""
    diff_data.push(lambda body: _post(client, body), time.time_ns() - 60 * 10**9)
    before = _nodes(_diff(client, "cpu", weights="1"))
    store = app.extensions[EXT].store
    assert maintenance.downsample(store, maintenance.MaintenanceConfig(downsample_after_s=0),
                                  now_ns=time.time_ns() + 3600 * 10**9) > 0
    assert not store.raw([b.id for b in store.blocks(
        [s.id for s in store.series("anonymous")], 0, 2**62)])
    nodes = _nodes(_diff(client, "cpu", weights="1"))
    assert nodes == before
    for path, n in nodes.items():
        assert n["lw"] == (diff_data.PERIOD if n["l"] else 0), path
    assert _z(nodes, ("main", "hot")) == pytest.approx(
        diff_data.expected_z(("cpu",), "hot"), abs=0.01)
    wall = _nodes(_diff(client, "wall", weights="1"))
    wait = wall[("main", "tiny_wait")]
    assert (wait["lw"], wait["rw"]) == (wait["l"], wait["r"])


def _squares_by_path(levels: list[list[int]], sides: tuple[dict[bytes, int], dict[bytes, int]],
                     other: int) -> list[list[int]]:
    """Each node's squares per side ([left, right] per node, levels as the
    diff's), summed over the stacks its path prefixes; an `other` node's are
    its parent's less the parent's own stack and its kept siblings'."""
    out: list[list[int]] = []
    above: list[tuple[int, int, tuple[int, ...], list[int], list[int]]] = []
    for d, lv in enumerate(levels):
        here, got, xl = [], [], 0
        for i in range(0, len(lv), 7):
            xl += lv[i]
            tl, name = lv[i + 1], lv[i + 6]
            path: tuple[int, ...] = ()
            if d == 0:
                q = [sum(s.values()) for s in sides]
            else:  # every stack has a value > 0 on the left: spans nest there
                parent = next(p for p in above if p[0] <= xl and xl + tl <= p[0] + p[1])
                path = parent[2] + (name,)
                if name == other:
                    q = [pq - used for pq, used in zip(parent[3], parent[4], strict=True)]
                else:
                    prefix = fg.stack_key(path)
                    q = [sum(v for k, v in s.items() if k.startswith(prefix)) for s in sides]
                    parent[4][0] += q[0]
                    parent[4][1] += q[1]
            own = fg.stack_key(path)
            here.append((xl, tl, path, q, [s.get(own, 0) for s in sides]))
            got += q
            xl += tl
        out.append(got)
        above = here
    return out


@pytest.mark.parametrize("picker", ["c", "python"])
def test_each_node_has_its_stacks_squares_at_any_maxnodes(picker, monkeypatch):
    """The squares `diff_levels_squared` sums in the pass that lays out the diff
    are those of the stacks under each node, with every node and with the
    heaviest few (picked by profiler/query/_idmap.c or by Python), an `other`
    holding what its parent's own stack and kept siblings leave; a side of one
    weight w has w x its values. Off-CPU-like squares: each stack its own."""
    if picker == "python":
        monkeypatch.setattr(fg, "heaviest_nodes", fg.heaviest_nodes_py)
    elif fg.heaviest_nodes is fg.heaviest_nodes_py:
        pytest.skip("make native builds profiler/query/_idmap.c")
    rng = random.Random(5)
    other = 99
    merged = 0  # layouts with an `other`
    for _ in range(12):
        keys = {fg.stack_key(rng.randint(1, 6) for _ in range(rng.randint(1, 6)))
                for _ in range(rng.choice([3, 40, 200]))}
        left = {k: rng.randint(1, 10**6) for k in keys}
        right = {k: rng.randint(0, 10**6) for k in keys}
        squares = ({k: v * rng.randint(1, 10**4) for k, v in left.items()},
                   {k: v * rng.randint(1, 10**4) for k, v in right.items()})
        for max_nodes in (0, 10**6, 60, 12, 3):
            levels, lt, rt, squared = fg.diff_levels_squared(left, right, squares, max_nodes,
                                                             lambda: other)
            assert (levels, lt, rt) == fg.levels_sorted(left, right, max_nodes, lambda: other)
            assert squared == _squares_by_path(levels, squares, other), max_nodes
            merged += any(lv[i + 6] == other for lv in levels for i in range(0, len(lv), 7))
            _, _, _, one = fg.diff_levels_squared(left, right, (7, squares[1]), max_nodes,
                                                  lambda: other)
            assert [q[0::2] for q in one] == [[7 * t for t in lv[1::7]] for lv in levels]
            assert [q[1::2] for q in one] == [q[1::2] for q in squared]
    assert merged >= 10
