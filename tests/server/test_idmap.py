"""The C id map a render names its stacks with answers exactly as the dict one.

`profiler.query._idmap.IdMap` (built by `make native`) and `DictIdMap` are
given the same ids, stacks and updates, including the ids an open-addressing
table treats apart (0 and 0xFFFFFFFF) and enough of them to grow the table
many times; then a real render of stored stacks is compared both ways.
"""

from __future__ import annotations

import random
from array import array

import pytest

from profiler.model import Frame, Sample
from profiler.query import engine as engine_mod
from profiler.query import flamegraph as fg
from profiler.query import idmap, processes
from profiler.query.engine import QueryEngine, Selection
from profiler.query.selector import parse_selector
from profiler.store import SeriesBatch, Store


def _stacks(rng: random.Random, ids: list[int], n: int) -> list[bytes]:
    return [array("I", rng.choices(ids, k=rng.randint(0, 40))).tobytes() for _ in range(n)]


def test_the_c_map_answers_as_the_dict_map():
    assert idmap.IdMap is not idmap.DictIdMap, "profiler/query/_idmap.so is not built"
    rng = random.Random(11)
    ids = [0, 0xFFFFFFFF, 1 << 31, *rng.sample(range(1, 1 << 32), 30_000)]
    maps = [idmap.IdMap(), idmap.DictIdMap()]
    want: dict[int, int] = {}
    for round_ in range(3):
        stacks = _stacks(rng, ids[:10_000 * (round_ + 1) + 3], 2_000)
        missing = [m.missing(stacks) for m in maps]
        assert len(missing[0]) == len(set(missing[0])), "each missing id once"
        assert set(missing[0]) == set(missing[1])
        values = [rng.randrange(1 << 32) for _ in missing[1]]
        for m in maps:
            m.update(missing[1], values)
            assert m.missing(stacks) == []
        assert len(maps[0]) == len(maps[1])
        keys = maps[0].keys(stacks)
        assert keys == maps[1].keys(stacks)
        want.update(zip(missing[1], values, strict=True))
        first = array("I", stacks[0]).tolist()
        assert keys[0] == b"".join(want[i].to_bytes(4, "big") for i in first)
    for m in maps:
        m.update([0, 0xFFFFFFFF], [7, 8])  # a new value replaces the old one
        assert m.keys([array("I", [0xFFFFFFFF, 0]).tobytes(), b""]) == [
            b"\0\0\0\x08\0\0\0\x07", b""]
        unknown = next(i for i in range(1, 1 << 32) if m.missing([array("I", [i]).tobytes()]))
        with pytest.raises(KeyError):
            m.keys([array("I", [0, unknown]).tobytes()])


def test_the_c_map_refuses_bad_input():
    m = idmap.IdMap()
    with pytest.raises(ValueError):
        m.missing([b"abc"])  # not whole uint32s
    with pytest.raises(ValueError):
        m.update([1, 2], [3])
    with pytest.raises(OverflowError):
        m.update([1 << 32], [0])
    with pytest.raises(TypeError):
        m.keys([1234])
    assert len(m) == 0


def all_python(monkeypatch) -> None:
    """A render's C helpers swapped for their Python forms (as when not built)."""
    monkeypatch.setattr(engine_mod, "IdMap", idmap.DictIdMap)
    monkeypatch.setattr(processes, "IdMap", idmap.DictIdMap)
    monkeypatch.setattr(processes, "all_positive", idmap.all_positive_py)
    monkeypatch.setattr(fg, "sorted_keys", idmap.sorted_keys_py)
    monkeypatch.setattr(fg, "sorted_sums", idmap.sorted_sums_py)
    monkeypatch.setattr(fg, "heaviest_nodes", fg.heaviest_nodes_py)


def test_a_render_is_the_same_with_either_map(db_url, monkeypatch):
    """Frames of one name in several places (call sites, kernel frames) merge
    alike however the frame ids were mapped: one node per path of names. And
    renders and diffs (processes sharing stacks, maxNodes) are the same with
    every C helper of profiler/query/_idmap.c as with their Python forms."""
    store = Store(db_url)
    try:
        rng = random.Random(3)
        funcs = [Frame(f"fn_{i}", "python", file="app.py", line=i) for i in range(60)]
        sites = [Frame(f"fn_{i}", "python", file="app.py", line=1000 + i) for i in range(60)]
        kernel = [Frame(f"sys_{i}", "kernel") for i in range(5)]
        samples = []
        for k in range(400):
            stack = tuple(rng.choice(funcs if rng.random() < 0.5 else sites)
                          for _ in range(rng.randint(1, 12))) + tuple(rng.sample(kernel, 2))
            samples.append(Sample("cpu", 10**12 + k * 10**7, 100 + k % 3, 100 + k % 7, 0,
                                  f"proc{k % 3}", "main", stack, 10**7))
        # stacks of every process, of other weights: split under each process
        shared = (Frame("clone3", "native"), Frame("start_thread", "native"))
        for k in range(90):
            samples.append(Sample("cpu", 10**12 + k * 10**7 + 5, 100 + k % 3, 100 + k % 7, 0,
                                  f"proc{k % 3}", "main", shared + tuple(funcs[:k % 4]),
                                  10**6 * (1 + k % 11)))
        store.write("anonymous", [SeriesBatch("cpu", {"service_name": "idmap"}, samples)])
        sel = Selection("anonymous", parse_selector('cpu{service_name="idmap"}'), 0, 10**13)
        halves = [Selection("anonymous", sel.selector, lo, hi)
                  for lo, hi in ((0, 10**12 + 2 * 10**9), (10**12 + 2 * 10**9, 10**13))]
        answers = []
        for mode in ("c", "dict map", "python"):
            with monkeypatch.context() as m:
                if mode == "dict map":
                    m.setattr(engine_mod, "IdMap", idmap.DictIdMap)
                elif mode == "python":
                    all_python(m)
                eng = QueryEngine(store)
                answers.append((eng.render(sel), eng.render(sel, max_nodes=50),
                                eng.diff(*halves, 40), eng.diff(*halves)))
        assert answers[0] == answers[1] == answers[2]
        assert "other" in answers[0][1]["flamebearer"]["names"]
        fb = answers[0][0]["flamebearer"]
        # every distinct path of names is one node (the root besides)
        rooted = "proc0" in fb["names"]
        paths = {(s.comm,) * rooted + tuple(f.folded_name() for f in s.stack)
                 for s in samples}
        assert sum(len(lv) for lv in fb["levels"]) // 4 == 1 + len(
            {p[:n] for p in paths for n in range(1, len(p) + 1)})
        assert fb["numTicks"] == sum(s.value_ns for s in samples) and "sys_0_[k]" in fb["names"]
    finally:
        store.close()
