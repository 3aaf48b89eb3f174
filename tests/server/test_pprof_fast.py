"""The C fast path of pprof ingest gives exactly what the protobuf path gives.

Real profiles (our encoder's, and hand-built ones with inlining, count
columns, dynamic tags, sparse ids and mappings) are decoded both ways and
compared row by row, frames included; truncated inputs must fail or succeed
the same way; and the store must give a stack one id whichever path and
whatever location numbering it arrived with.
"""

from __future__ import annotations

import random
import time
from array import array
from collections import Counter

import pytest
from sqlalchemy import func, select

from profiler.formats import pprof
from profiler.formats.proto import profile_pb2
from profiler.ingest import pprof_columns as pc
from profiler.model import Frame, Profile, Sample
from profiler.store import Store, schema

from .helpers import profile

NOW = time.time_ns()


def decode(data: bytes, monkeypatch, fast: bool):
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(pc, "_pprofscan", None)
        groups = pc.pprof_groups(data, max_decompressed=64 << 20, max_samples=100_000,
                                 default_ts_ns=NOW)
    if fast:
        assert all(b.stack_keys is not None for _k, _t, b in groups), "fast path not taken"
    return groups


def rows(groups) -> dict:
    """Every row of every group, with its stack as frames: comparable across paths."""
    out = {}
    for kind, tags, b in groups:
        if b.stack_keys is not None:
            stack_of = [tuple(b.stack_frames(i)) for i in range(len(b.stack_keys))]
        else:
            stack_of = [tuple(b.frames[j] for j in st) for st in b.stacks]
        c, s = b.cols, b.cols.strings
        out[(kind, tags)] = Counter(
            (c.ts[k], stack_of[c.stack[k]], c.value[k], c.count[k], c.pid[k], c.tid[k],
             c.cpu[k], s[c.thread[k]], s[c.comm[k]], s[c.reason[k]], s[c.labels[k]])
            for k in range(len(c)))
    return out


def native_profile() -> bytes:
    libc = Frame("__libc_start_call_main", "native", module="/usr/lib/libc.so.6",
                 build_id="abcd", offset=0x29d90)
    main = Frame("main", "native", module="/usr/bin/app", build_id="beef", offset=0x1139,
                 file="app.c", line=12)
    spin = Frame("spin", "native", module="/usr/bin/app", build_id="beef", offset=0x1180)
    k = Frame("asm_sysvec_apic_timer_interrupt", "kernel")
    samples = [Sample("cpu", NOW - i * 10**6, 7, 8 + i % 3, i % 2, "app", f"t{i % 3}",
                      (libc, main, spin) + ((k,) if i % 4 == 0 else ()), 10**7)
               for i in range(40)]
    samples.append(Sample("offcpu", NOW, 7, 8, 1, "app", "t0", (libc, main), 5 * 10**6,
                          reason="sleep"))
    return pprof.encode(Profile(samples, NOW - 10**9, NOW, 100))


def odd_cpu_values() -> bytes:
    """CPU values whose sample counts round to 0, to halves, and past u32 (bulk counts
    clamp as `_count_of` does); no off-CPU sample, so that column is all zero."""
    frames = (Frame("main", "python"), Frame("work", "python"))
    values = [1, 4 * 10**6, 5 * 10**6, 15 * 10**6, 25 * 10**6, 10**7, 10**18]
    samples = [Sample("cpu", NOW, 7, 8, 0, "app", "t0", frames[:1 + i % 2], v)
               for i, v in enumerate(values)]
    return pprof.encode(Profile(samples, NOW - 10**9, NOW, 100), timestamps=False)


def hand_built(seed: int, shuffle_ids: bool) -> bytes:
    """Inlined lines, a count column, tags, per-sample labels, sparse or shuffled ids."""
    rng = random.Random(seed)
    p = profile_pb2.Profile()
    strings = [""]

    def s(text: str) -> int:
        if text not in strings:
            strings.append(text)
        return strings.index(text)

    for t, u in (("samples", "count"), ("cpu", "nanoseconds"), ("off_cpu", "nanoseconds")):
        p.sample_type.add(type=s(t), unit=s(u))
    p.period = 10_000_000
    p.time_nanos = NOW
    names = [f"pkg.mod.fn{i}" for i in range(30)]
    fn_ids = list(range(1, 31))
    loc_ids = list(range(1, 41))
    if shuffle_ids:
        fn_ids = rng.sample(range(100, 10_000), 30)
        loc_ids = rng.sample(range(100, 10_000), 40)
    order = list(range(30))
    rng.shuffle(order) if shuffle_ids else None
    for i in order:
        p.function.add(id=fn_ids[i], name=s(names[i]), filename=s(f"/srv/mod{i % 4}.py"))
    m = p.mapping.add(id=5, memory_start=0x400000, memory_limit=0x500000, file_offset=0x1000,
                      filename=s("/usr/bin/python3.12"), build_id=s("cafe"))
    locs = list(range(40))
    rng.shuffle(locs) if shuffle_ids else None
    for i in locs:
        loc = p.location.add(id=loc_ids[i])
        if i >= 30:  # native, in the mapping, with an inlined callee
            loc.mapping_id = m.id
            loc.address = 0x400000 + 0x10 * i
            loc.line.add(function_id=fn_ids[i - 30], line=i)
            loc.line.add(function_id=fn_ids[i - 20], line=i + 1)
        else:
            loc.line.add(function_id=fn_ids[i], line=i * 3)
    rng2 = random.Random(99)  # the same samples whatever the numbering
    for _ in range(300):
        depth = rng2.randint(1, 12)
        sm = p.sample.add(location_id=[loc_ids[rng2.randrange(40)] for _ in range(depth)])
        kind = rng2.random()
        count = rng2.randint(0, 3)
        sm.value.extend([count, count * 10_000_000 if kind < 0.7 else 0,
                         rng2.randint(1, 10**8) if kind >= 0.6 else 0])
        if rng2.random() < 0.5:
            sm.label.add(key=s("thread_name"), str=s(f"worker-{rng2.randrange(3)}"))
            sm.label.add(key=s("thread_id"), num=rng2.randrange(1, 4))
        if rng2.random() < 0.3:
            sm.label.add(key=s("endpoint"), str=s(rng2.choice(["/a", "/b"])))
        if rng2.random() < 0.2:
            sm.label.add(key=s("span_id"), str=s(f"{rng2.getrandbits(64):016x}"))
        if kind >= 0.6:
            sm.label.add(key=s("reason"), str=s(rng2.choice(["io", "lock", ""])))
    p.string_table.extend(strings)
    return p.SerializeToString()


def test_extension_is_built():
    assert pc._pprofscan is not None, "run `make native` (make test builds it)"


@pytest.mark.parametrize("make", [
    lambda: pprof.encode(profile(50)),
    lambda: pprof.encode(profile(50), timestamps=False),
    native_profile,
    odd_cpu_values,
    lambda: hand_built(1, False),
    lambda: hand_built(1, True),
], ids=["encoder", "encoder-no-ts", "native", "odd-cpu-values", "hand-built",
        "hand-built-shuffled"])
def test_fast_path_equals_protobuf_path(make, monkeypatch):
    data = make()
    fast = rows(decode(data, monkeypatch, True))
    assert fast and sum(len(r) for r in fast.values()) > 0
    assert fast == rows(decode(data, monkeypatch, False))


def test_truncated_profiles_fail_or_succeed_alike(monkeypatch):
    data = hand_built(2, True)
    for cut in sorted(random.Random(3).sample(range(1, len(data)), 60)):
        outcomes = []
        for fast in (True, False):
            with monkeypatch.context() as m:
                if not fast:
                    m.setattr(pc, "_pprofscan", None)
                try:
                    groups = pc.pprof_groups(data[:cut], max_decompressed=1 << 20,
                                             max_samples=10_000, default_ts_ns=NOW)
                    outcomes.append(rows(groups))
                except pprof.PprofError as e:
                    outcomes.append(type(e))
        assert outcomes[0] == outcomes[1], f"cut at {cut}"


def test_scan_rejects_garbage_without_crashing():
    rng = random.Random(4)
    good = hand_built(5, False)
    for _ in range(300):
        bad = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        pc._pprofscan.scan(bytes(bad), pc.INTERNER)  # None or a result, never a crash
    assert pc._pprofscan.scan(b"\xff" * 64, pc.INTERNER) is None


def test_one_stack_id_whatever_the_path_or_numbering(tmp_path, monkeypatch):
    store = Store(f"sqlite:///{tmp_path}/s.db")
    try:
        def write(data: bytes, fast: bool, into: Store = store) -> None:
            batches = []
            for _kind, tags, b in decode(data, monkeypatch, fast):
                b.labels = {"service_name": "svc", **dict(tags)}
                batches.append(b)
            into.write("", batches)

        def count(table) -> int:
            with store.engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(table)).scalar_one()

        write(hand_built(7, False), True)
        stacks, frames = count(schema.stacks), count(schema.frames)
        assert stacks > 50
        write(hand_built(7, True), True)      # same content, every id renumbered
        write(hand_built(7, True), False)     # and through the protobuf path
        fresh = Store(store.url)              # a second process: empty caches
        try:
            write(hand_built(7, True), True, fresh)
        finally:
            fresh.close()
        assert (count(schema.stacks), count(schema.frames)) == (stacks, frames)
        assert count(schema.blocks) >= 4
    finally:
        store.close()


def test_interner_ids_are_stable_and_never_reused():
    """Same content, same stack ids in any numbering; a cleared interner only gives new ids."""
    it = pc._pprofscan.Interner()
    first = pc._pprofscan.scan(hand_built(7, False), it)[2]
    assert pc._pprofscan.scan(hand_built(7, True), it)[2] == first  # every id renumbered
    assert it.stats()["stacks"] == len(first) // 8 and it.stats()["resets"] == 0

    other = pc._pprofscan.scan(pprof.encode(profile(50), compress=False), it)[2]
    ids = lambda raw: set(array("Q", raw))  # noqa: E731
    assert ids(other) - ids(first), "different stacks got no new ids"

    tiny = pc._pprofscan.Interner(max_bytes=1)  # cleared before every scan
    seen: set[int] = set()
    for _ in range(3):
        got = ids(pc._pprofscan.scan(hand_built(7, False), tiny)[2])
        assert not got & seen  # a cleared id never comes back, even for the same stack
        seen |= got
    assert tiny.stats()["resets"] == 2


def test_two_columns_of_one_kind(monkeypatch):
    """cpu and itimer both count as CPU: each sample keeps its own value and stack.

    (A client's `wall` column is its own type since issue 18: tests/server/test_profile_types.py.)
    """
    p = profile_pb2.Profile()
    p.string_table.extend(["", "cpu", "nanoseconds", "itimer", "a", "b", "/x.py"])
    p.sample_type.add(type=1, unit=2)
    p.sample_type.add(type=3, unit=2)
    p.function.add(id=1, name=4, filename=6)
    p.function.add(id=2, name=5, filename=6)
    p.location.add(id=1).line.add(function_id=1, line=1)
    p.location.add(id=2).line.add(function_id=2, line=2)
    p.sample.add(location_id=[1], value=[0, 100])
    p.sample.add(location_id=[2], value=[7, 0])
    data = p.SerializeToString()
    fast = rows(decode(data, monkeypatch, True))
    assert fast == rows(decode(data, monkeypatch, False))
    (only,) = fast.values()
    assert {(r[1][0].name, r[2]) for r in only} == {("a", 100), ("b", 7)}
