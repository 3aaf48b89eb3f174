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


def test_write_caches_and_transactions_are_bounded(db_url):
    """Deep distinct stacks (the issue's 1.97 GiB workload, scaled down): the
    write-side caches stay within their bytes, and frames and stacks go in
    transactions of at most _INTERN_ROWS rows, however many one write has."""
    from sqlalchemy import event

    from profiler.store import store as store_mod

    store = open_store(db_url)
    inserted: list[int] = []  # rows per INSERT INTO stacks

    def count(_conn, _cursor, statement, params, _context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO STACKS"):
            inserted.append(len(params) if executemany else 1)

    event.listen(store.engine, "before_cursor_execute", count)
    old = store_mod._INTERN_ROWS
    store_mod._INTERN_ROWS = 1000
    try:
        for c in (store._frame_by_obj, store._frame_by_ident, store._stack_by_ids):
            c.max_bytes = 300_000
        t0 = time.time_ns() - 10**9
        # 3,000 distinct stacks 60 deep over 200 shared frames
        frames = [Frame(f"fn{j}", "native") for j in range(200)]
        samples = [Sample("cpu", t0 + i * 1000, 1, 1, 0, "a", "a",
                          (frames[i % 200], frames[i // 200])
                          + tuple(frames[(d * 13) % 200] for d in range(58)), 10**6)
                   for i in range(3000)]
        assert store.write("t", [SeriesBatch("cpu", {"s": "deep"}, samples)]) == 3000
        assert sum(inserted) == 3000 and max(inserted) <= 1000
        for c in (store._frame_by_obj, store._frame_by_ident, store._stack_by_ids):
            assert c.bytes <= 300_000
        assert len(store._stack_by_ids) < 3000  # not all stayed
        # the same stacks again: ids found, none inserted twice, answers right
        assert store.write("t", [SeriesBatch("cpu", {"s": "deep"}, samples)]) == 3000
        assert sum(inserted) == 3000
        values = store.stack_values([s.id for s in store.series("t")], 0, t0 + 10**10)
        assert len(values) == 3000 and set(values.values()) == {2 * 10**6}
    finally:
        store_mod._INTERN_ROWS = old
        store.close()
