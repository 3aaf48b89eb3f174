"""Storage: blocks, compaction, downsampling, retention, migrations."""

from __future__ import annotations

import random
import time

from profiler.model import Frame, Sample
from profiler.query.engine import QueryEngine, Selection
from profiler.query.selector import parse_selector
from profiler.store import SeriesBatch, Store
from profiler.store import maintenance as m
from tests.server.helpers import BURN, MAIN, READ

HOUR = 3600 * 10**9


def _samples(t0: int, n: int, rng: random.Random) -> list[Sample]:
    extra = [Frame(f"fn{i}", "python", file="/x.py", line=i) for i in range(30)]
    stacks = [(MAIN, BURN), (MAIN, READ), *[(MAIN, f) for f in extra]]
    out = []
    for i in range(n):
        kind = "offcpu" if i % 7 == 0 else "cpu"
        out.append(Sample(kind, t0 + i * 997_000_000 + rng.randrange(10**6), 10, 11 + i % 3,
                          i % 2, "app", f"t{i % 3}", rng.choice(stacks), 10**7 + i,
                          reason="io" if kind == "offcpu" else ""))
    return out


def _brute(samples, lo, hi, kinds=("cpu", "offcpu"), tid=None):
    return sum(s.value_ns for s in samples if lo <= s.ts_ns - s.ts_ns % 1000 < hi
               and s.kind in kinds and (tid is None or s.tid == tid))


def test_blocks_compaction_downsampling_retention(db_url):
    rng = random.Random(1)
    now = time.time_ns()
    t0 = now - now % HOUR - 3 * HOUR
    samples = _samples(t0, 9000, rng)  # ~2.5 hours at ~1 Hz
    store = Store(db_url)
    try:
        for i in range(0, len(samples), 100):  # one block per 100 samples, as pushes
            chunk = samples[i:i + 100]
            store.write("t", [SeriesBatch("cpu", {"service_name": "a"},
                                          [s for s in chunk if s.kind == "cpu"]),
                              SeriesBatch("offcpu", {"service_name": "a"},
                                          [s for s in chunk if s.kind == "offcpu"])])
        eng = QueryEngine(store)
        sel = parse_selector('{service_name="a"}')
        ranges = [(t0, t0 + 4 * HOUR), (t0 + 1234 * 10**9, t0 + 5555 * 10**9),
                  (t0 + HOUR, t0 + 2 * HOUR)]

        def check():
            for lo, hi in ranges:
                got = sum(eng.stack_values(Selection("t", sel, lo, hi)).values())
                assert got == _brute(samples, lo, hi), (lo - t0, hi - t0)
                one = sum(eng.stack_values(Selection("t", sel, lo, hi, tid=12)).values())
                assert one == _brute(samples, lo, hi, tid=12)
                pts = eng.timeline(Selection("t", sel, lo - lo % (60 * 10**9), hi), 60 * 10**9)
                assert sum(v for _, v in pts) == _brute(samples, lo - lo % (60 * 10**9), hi)

        check()
        n_before = len(store.blocks([s.id for s in store.series("t")], 0, 2**62))
        cfg = m.MaintenanceConfig()
        assert m.compact(store, cfg, now_ns=now + HOUR) > 0
        blocks = store.blocks([s.id for s in store.series("t")], 0, 2**62)
        assert len(blocks) < n_before / 10 and {b.level for b in blocks} == {1}
        check()  # compaction changes nothing visible, edges included
        threads = eng.threads(Selection("t", sel, t0, t0 + 4 * HOUR))
        assert {t["tid"] for t in threads} == {11, 12, 13}
        # Downsampling keeps aggregates: whole-range totals stay exact.
        m.downsample(store, m.MaintenanceConfig(downsample_after_s=0), now_ns=now + HOUR)
        assert sum(eng.stack_values(Selection("t", sel, t0, t0 + 4 * HOUR)).values()) == \
            _brute(samples, t0, t0 + 4 * HOUR)
        assert store.raw([b.id for b in store.blocks([1, 2], 0, 2**62)]) == {}
        # Retention removes what is older than the window.
        m.expire(store, m.MaintenanceConfig(retention_s=1), now_ns=now + HOUR)
        assert store.blocks([s.id for s in store.series("t")], 0, 2**62) == []
    finally:
        store.close()


def test_migrations_are_idempotent_and_keep_data(db_url):
    store = Store(db_url)
    t = time.time_ns()
    store.write("t", [SeriesBatch("cpu", {"service_name": "keep"},
                                  [Sample("cpu", t, 1, 1, 0, "a", "", (MAIN,), 5)])])
    store.close()
    again = Store(db_url)  # runs the migrations again: a no-op
    try:
        assert [s.labels for s in again.series("t")] == [{"service_name": "keep"}]
        with again.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        again.close()


def test_frame_fields_round_trip(db_url):
    store = Store(db_url)
    try:
        f = Frame("libc.so.6+0x1a2b", "native", "/lib/libc.so.6", "ab" * 20, 2**64 - 5,
                  "", 0)
        t = time.time_ns()
        store.write("t", [SeriesBatch("cpu", {"service_name": "f"},
                                      [Sample("cpu", t, 2**40, 2**63 + 7, 0, "a", "", (f,), 5)])])
        eng = QueryEngine(store)
        got = eng.samples(Selection("t", parse_selector("{}"), t - 10**9, t + 10**9))
        assert got[0].stack == (f,)
        assert got[0].pid == 2**40
    finally:
        store.close()
