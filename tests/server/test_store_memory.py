"""The store's read caches are bounded by bytes (issue 15 item 12): reading
the frames of many deep distinct stacks keeps the caches within their bound,
and the answers stay right after evictions (real store, SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from profiler.model import Frame, Sample
from profiler.store import SeriesBatch, open_store


def test_frame_and_stack_caches_stay_within_their_bytes(db_url):
    store = open_store(db_url)
    try:
        store._stack_frames.max_bytes = 200_000
        store._frames.max_bytes = 200_000
        t0 = time.time_ns() - 10**9
        samples = [Sample("cpu", t0 + i * 1000, 1, 1, 0, "a", "a",
                          tuple(Frame(f"f{i}_{d}" + "x" * 100, "native") for d in range(40)),
                          10**6) for i in range(300)]
        store.write("t", [SeriesBatch("cpu", {"s": "deep"}, samples)])
        ids = list(store.stack_values([s.id for s in store.series("t")], 0, t0 + 10**10))
        assert len(ids) == 300
        for _ in range(2):  # a second pass reads through evicted entries again
            stacks = store.stack_frames(ids)
            names = store.frames({f for fs in stacks.values() for f in fs})
            leaves = sorted(names[fs[-1]].name[:-100] for fs in stacks.values())
            assert leaves == sorted(f"f{i}_39" for i in range(300))
            assert store._stack_frames.bytes <= 200_000
            assert store._frames.bytes <= 200_000
            assert len(store._frames) < 12_000  # the 12,000 frames did not all stay
    finally:
        store.close()
