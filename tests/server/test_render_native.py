"""A cold render's C helpers (profiler/query/_idmap.c, built by `make native`)
answer exactly as their Python forms, which run when it is not built: stack
keys sorted and summed, int64 positivity, the heaviest nodes of a flame graph
under maxNodes, and the process split's ownership (whole renders and diffs both
ways: tests/server/test_idmap.py).
"""

from __future__ import annotations

import random
from array import array
from itertools import accumulate

import pytest

from profiler.query import flamegraph as fg
from profiler.query import idmap, processes
from profiler.store import blocks as blk

I63 = (1 << 63) - 1

native = pytest.importorskip("profiler.query._idmap", reason="make native builds it")


def _keys(rng: random.Random, n: int, names: int = 6, deepest: int = 7) -> list[bytes]:
    """Stack keys sharing prefixes (few names, so runs and repeats are common)."""
    return [fg.stack_key(rng.randrange(names) for _ in range(rng.randint(0, deepest)))
            for _ in range(n)]


def test_sorted_keys_and_sums_answer_as_python():
    rng = random.Random(7)
    for n in (0, 1, 2, 50, 3000):
        keys = _keys(rng, n)
        keys += [k + b"\0\0\0\0" for k in keys[:5]] + [b"\xff\xff\xff\xff"]  # 0 and max names
        assert native.sorted_keys(keys) == sorted(keys)
        assert native.sorted_keys(set(keys)) == sorted(set(keys))
        values = [rng.choice([rng.randint(-5, 10**6), I63, -I63 - 1, 1 << 70])
                  for _ in keys]  # sums past int64 are Python ints
        got = native.sorted_sums(keys, values)
        assert got == idmap.sorted_sums_py(keys, values)
        want = {}
        for k, v in zip(keys, values, strict=True):
            want[k] = want.get(k, 0) + v
        assert got == (sorted(want), [want[k] for k in sorted(want)])
    with pytest.raises(TypeError):
        native.sorted_keys([b"a", "b"])
    with pytest.raises(TypeError):
        native.sorted_sums([b"a", 1], [1, 2])
    with pytest.raises(ValueError):
        native.sorted_sums([b"a"], [1, 2])


def test_all_positive_answers_as_python():
    for values in ([], [1], [0], [-1], [5, 7, I63], [5, -I63 - 1, 7], [1] * 1000 + [0]):
        a = array("q", values)
        assert native.all_positive(a) is idmap.all_positive_py(a) is (min(values, default=1) > 0)
    with pytest.raises(ValueError):
        native.all_positive(b"1234567")


@pytest.mark.parametrize("diff", [False, True])
def test_heaviest_nodes_answer_as_python(diff):
    rng = random.Random(11 + diff)
    for trial in range(60):
        keys = sorted(set(_keys(rng, rng.choice([1, 5, 40, 400]), rng.randint(1, 9))))
        left = [rng.choice([1, 2, 3, 10**rng.randint(0, 12)]) for _ in keys]
        right = [rng.randint(0, 50) for _ in keys] if diff else left
        cum_l = [0, *accumulate(left)]
        cum_r = [0, *accumulate(right)] if diff else cum_l
        for max_nodes in (2, 3, 7, 30, 10**6):
            for counts_other in (False, True):
                args = (keys, cum_l, cum_r, max_nodes, counts_other, diff)
                want = fg.heaviest_nodes_py(*args)
                got = native.heaviest(*args)
                assert [list(c) for c in want[:6]] == list(got[:6]), (trial, max_nodes)
                assert want[6] == got[6]
                assert len(got[0]) <= max_nodes
    # running sums past int64: C refuses, the render's levels come from Python's ints
    keys = sorted({fg.stack_key((1, i)) for i in range(20)})
    big = [1 << 62] * len(keys)
    cum = [0, *accumulate(big)]
    with pytest.raises(OverflowError):
        native.heaviest(keys, cum, cum, 5, True, False)
    levels, total, _ = fg.levels_sorted(dict(zip(keys, big, strict=True)), None, 5, lambda: 99)
    assert total == 20 << 62 and levels[1] == [0, total, 0, 1]
    assert sum(lv[i + 1] for lv in levels[2:] for i in range(0, len(lv), 4)) == total


def _old_stack_processes(tables) -> tuple[dict, dict]:
    """Ownership as sets of stack ids per process would say it."""
    seen: dict[str, set[int]] = {}
    nonpositive = False
    for comm, stacks, values in tables():
        seen.setdefault(comm, set()).update(stacks)
        nonpositive = nonpositive or min(values, default=1) <= 0
    count: dict[int, int] = {}
    for got in seen.values():
        for s in got:
            count[s] = count.get(s, 0) + 1
    owner = {} if nonpositive else {
        s: c for c, got in seen.items() for s in got if count[s] == 1}
    shared: dict[int, dict[str, int]] = {}
    for comm, stacks, values in tables():
        for s, v in zip(stacks, values, strict=True):
            if nonpositive or count[s] > 1:
                per = shared.setdefault(s, {})
                per[comm] = per.get(comm, 0) + v
    return owner, shared


@pytest.mark.parametrize("cls", [idmap.IdMap, idmap.DictIdMap])
def test_stack_processes_with_either_map(cls, monkeypatch):
    monkeypatch.setattr(processes, "IdMap", cls)
    rng = random.Random(5)
    for trial in range(200):
        comms = ["nginx", "postgres", "", "python3"][:rng.randint(1, 4)]
        ids = [0, 0xFFFFFFFF, *rng.sample(range(1, 5000), 200)]
        tables = []
        for _ in range(rng.randint(0, 10)):
            stacks = array("I", rng.sample(ids, rng.randint(0, 40)))
            low = 0 if trial % 4 == 0 else 1  # some tables with a value <= 0
            tables.append((rng.choice(comms), stacks,
                           array("q", [rng.randint(low, 100) for _ in stacks])))
        tables_of = tables.__iter__
        for at_least in (1, 2):
            got = processes.stack_processes(tables_of, at_least)
            named = {c for c, _, _ in tables} - {""}
            if len(named) < at_least:
                assert got.owner == {} and got.shared == {}
            else:
                assert (got.owner, got.shared) == _old_stack_processes(tables_of)


def test_buckets_decode_when_read():
    """An aggregate's buckets and thread tables read back as written, each
    decoded when first read; their heads and pairs answered without decoding."""
    rng = random.Random(3)
    buckets = [(i * 10, i * 10 + 10, rng.randint(0, 99), array("I", range(i)),
                array("q", [rng.randint(-5, 5) for _ in range(i)])) for i in range(6)]
    agg = blk.Aggregate(array("I", [1, 2]), array("q", [3, 4]), buckets,
                        [(1, 2, "t", "c", 7, 1)], (0, [7]), [],
                        [(1, 2, array("I", [1]), array("q", [7]))])
    back = blk.decode_agg(blk.encode_agg(agg))
    assert isinstance(back.buckets, blk.Tables) and blk.table_pairs(back.buckets) == 15
    assert blk.table_heads(back.buckets) == [b[:3] for b in buckets]
    assert blk.table_heads(back.thread_tables) == [(1, 2)] == blk.table_heads(agg.thread_tables)
    assert back.buckets[2] == buckets[2] and back.buckets[1:4] == buckets[1:4]
    assert list(back.buckets) == buckets and blk.table_pairs(back.buckets) == 15
    assert list(back.thread_tables) == agg.thread_tables and list(back.stacks) == [1, 2]
    assert blk.table_pairs(back.thread_tables) == 1 == blk.table_pairs(agg.thread_tables)
