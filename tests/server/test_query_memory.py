"""A flame graph's memory is bounded however many deep distinct stacks its
range holds (issue 15 item 12: 160-280k of them took 4-6 GiB): stacks are
named a chunk at a time into byte-bounded keys, and an answer holds at most
`MAX_NODES` nodes, the rest merged into `other`. The answers are exact:
checked against trees built here from the written samples (real store,
SQLite and PostgreSQL)."""

from __future__ import annotations

import time
import tracemalloc
from bisect import bisect_right

import pytest

from profiler.model import Frame, Sample
from profiler.query import engine as engine_mod
from profiler.query import flamegraph as fg_mod
from profiler.query.engine import QueryEngine, Selection, StackNames
from profiler.query.selector import parse_selector
from profiler.store import SeriesBatch, open_store

DEPTH = 40
STACKS = 1500
FUNCS = 600


def _samples(t0: int, seed: int, weight: int) -> list[Sample]:
    """STACKS distinct stacks DEPTH deep over FUNCS shared functions, each its own
    sample: the issue's deep distinct stacks, scaled down."""
    frames = [Frame(f"mod{j % 7}.fn{j}", "python") for j in range(FUNCS)]
    out = []
    for i in range(STACKS):
        stack = tuple(frames[(i * 7 + d * (i % 13 + 1) * 31 + seed) % FUNCS] for d in range(DEPTH))
        out.append(Sample("cpu", t0 + i * 1000, 1, 1, 0, "app", "main", stack,
                          weight * (1 + i % 5)))
    return out


def _tree(samples: list[Sample]) -> dict[tuple[str, ...], list[int]]:
    """Path of names -> [total, self], from the samples themselves."""
    out: dict[tuple[str, ...], list[int]] = {(): [0, 0]}
    for s in samples:
        names = tuple(f.name for f in s.stack)
        for d in range(len(names) + 1):
            node = out.setdefault(names[:d], [0, 0])
            node[0] += s.value_ns
        out[names][1] += s.value_ns
    return out


def _paths(answer: dict, width: int = 4) -> dict[tuple[str, ...], list[int]]:
    """The answer's nodes as path -> [total, self] (the `other` merges named so)."""
    fb = answer["flamebearer"]
    names = fb["names"]
    out: dict[tuple[str, ...], list[int]] = {}
    starts: list[int] = []  # the level above: each node's x, and its path
    paths: list[tuple[str, ...]] = []
    for depth, lv in enumerate(fb["levels"]):
        x = 0
        here_x, here_p = [], []
        for i in range(0, len(lv), width):
            x += lv[i]
            total, self_, name = lv[i + 1], lv[i + 2], names[lv[i + width - 1]]
            path = (*paths[bisect_right(starts, x) - 1], name) if depth else ()
            assert path not in out
            out[path] = [total, self_]
            here_x.append(x)
            here_p.append(path)
            x += total
        starts, paths = here_x, here_p
    return out


@pytest.fixture
def deep(db_url):
    store = open_store(db_url)
    t0 = time.time_ns() - 10**9
    samples = _samples(t0, 0, 10**6)
    store.write("t", [SeriesBatch("cpu", {"s": "deep"}, samples)])
    yield store, samples, Selection("t", parse_selector("cpu{}"), t0 - 10**9, t0 + 10**10)
    store.close()


def test_deep_distinct_stacks_render_exactly_with_bounded_names(deep, monkeypatch):
    store, samples, sel = deep
    monkeypatch.setattr(engine_mod, "_NAME_CHUNK", 64)
    monkeypatch.setattr(StackNames, "MAX_KEY_BYTES", 40_000)
    eng = QueryEngine(store)
    want = _tree(samples)
    total = sum(s.value_ns for s in samples)
    for _ in range(2):  # the second reads through evicted keys again
        answer = eng.render(sel)
        assert answer["flamebearer"]["numTicks"] == total
        assert _paths(answer) == want
        assert eng._stack_names.keys.bytes <= 40_000
        assert len(eng._stack_names.keys) < STACKS  # not every key stayed
    # a names table past its bound is dropped once its request is done
    monkeypatch.setattr(StackNames, "MAX_NAME_BYTES", 1000)
    table = eng._stack_names
    assert eng.render(sel, 500)["flamebearer"]["numTicks"] == total
    assert eng._stack_names is not table and not eng._stack_names.names.bytes


def test_answers_past_max_nodes_merge_into_other_with_exact_totals(deep, monkeypatch):
    store, samples, sel = deep
    full_answer = QueryEngine(store).render(sel)
    full = _paths(full_answer)
    assert len(full) > 10_000  # the whole tree: most of the 60,000 frames are nodes
    monkeypatch.setattr(fg_mod, "MAX_NODES", 2000)
    for max_nodes in (0, 2000, 300):  # none given is MAX_NODES
        answer = QueryEngine(store).render(sel, max_nodes)
        got = _paths(answer)
        assert len(got) <= (max_nodes or 2000)
        assert answer["flamebearer"]["numTicks"] == full_answer["flamebearer"]["numTicks"]
        other = [p for p in got if p[-1:] == ("other",)]
        assert other
        for path, (tot, self_) in got.items():
            if path[-1:] != ("other",):  # each kept frame keeps its exact figures
                assert [tot, self_] == full[path], path
            assert tot >= self_ >= 0
        # children and self fill each parent exactly: nothing lost in the merge
        for path, (tot, self_) in got.items():
            kids = sum(v[0] for p, v in got.items() if len(p) == len(path) + 1
                       and p[:len(path)] == path)
            assert kids + self_ == tot, path


def test_a_capped_answer_does_not_hold_the_whole_tree(deep, monkeypatch):
    """Python's allocations while rendering (tracemalloc: exact, not timing):
    capped at 500 nodes, far less than the 50,000-node tree."""
    store, _samples_, sel = deep
    QueryEngine(store).render(sel)  # the store's caches are warm for both
    peaks = {}
    for cap in (10**6, 500):
        monkeypatch.setattr(fg_mod, "MAX_NODES", cap)
        eng = QueryEngine(store)
        tracemalloc.start()
        try:
            eng.render(sel)
            peaks[cap] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[500] * 3 < peaks[10**6], peaks


def test_diff_of_deep_distinct_stacks_keeps_both_totals(deep, monkeypatch):
    store, samples, sel = deep
    more = _samples(sel.lo + 2 * 10**9, 5, 3 * 10**6)
    store.write("t", [SeriesBatch("cpu", {"s": "deep2"}, more)])
    monkeypatch.setattr(fg_mod, "MAX_NODES", 1000)
    eng = QueryEngine(store)
    left = Selection("t", parse_selector('cpu{s="deep"}'), sel.lo, sel.hi)
    right = Selection("t", parse_selector('cpu{s="deep2"}'), sel.lo, sel.hi)
    answer = eng.diff(left, right)
    assert answer["leftTicks"] == sum(s.value_ns for s in samples)
    assert answer["rightTicks"] == sum(s.value_ns for s in more)
    assert sum(len(lv) for lv in answer["flamebearer"]["levels"]) // 7 <= 1000


def test_concurrent_reads_decode_each_block_once(deep, monkeypatch):
    """A page's first load asks for the flame graph and the timeline at once:
    the second read waits for the first's decode instead of decoding again."""
    import threading

    from profiler.store import blocks as blk

    store, _samples_, sel = deep
    decoded: list[int] = []
    real = blk.decode_agg

    def counted(blob, *args, **kw):
        decoded.append(1)
        time.sleep(1.0)  # the other reader arrives meanwhile
        return real(blob, *args, **kw)

    monkeypatch.setattr(blk, "decode_agg", counted)
    ids = [b.id for b in store.blocks([s.id for s in store.series("t")], sel.lo, sel.hi)]
    got: list[dict] = []
    readers = [threading.Thread(target=lambda: got.append(store.aggregates(ids)))
               for _ in range(2)]
    for r in readers:
        r.start()
    for r in readers:
        r.join(30)
    assert len(got) == 2 and set(got[0]) == set(got[1]) == set(ids)
    assert [list(got[0][i].stacks) for i in ids] == [list(got[1][i].stacks) for i in ids]
    assert len(decoded) == len(ids)
