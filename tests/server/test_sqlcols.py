"""The C column reader a trace's tracks are read with answers exactly as the driver.

`profiler.store._sqlcols` (built by `make native`) steps a SQLite query's rows
itself; `read_columns(..., native=False)` shapes the driver's rows the same
way. Real linked samples through the real `TraceStore` on a SQLite file
(names and labels past ASCII, empty texts, int64 bounds, kernel sums), read
both ways: the raw columns, then a trace's track columns with the limit cut
and with more span ids than SQL takes.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, literal, select

from profiler.model import OFFCPU_REASONS, Frame, Sample
from profiler.store import Store, TraceStore, sqlcols
from profiler.store.trace_tables import trace_samples

TRACE = "c" * 32
SPANS = [f"{i + 1:016x}" for i in range(5)]
T0 = 1_700_000_000 * 10**9


@pytest.fixture
def stored(tmp_path):
    """2,000 linked samples of one trace (and 50 of another) on a SQLite file."""
    store = Store(f"sqlite:///{tmp_path / 'flamecam.db'}")
    traces = TraceStore(store)
    rng = random.Random(5)
    stacks = [tuple(Frame(f"fn_{rng.randrange(50)}", "python") for _ in range(rng.randrange(1, 9)))
              for _ in range(40)]
    names = ["worker", "wörker-ü", "线程-7", "", "emoji-\U0001f525"]
    samples = []
    for k in range(2050):
        trace = TRACE if k < 2000 else "d" * 32
        tid = 100 + k % 5
        labels = {}
        if k % 7 == 0:
            labels = {"syscall": "read", "target": f"file:/tmp/ä{k % 3}",
                      "waker_kind": "thread", "waker_comm": "app", "waker_tid": str(tid + 1)}
        if k % 3:
            samples.append(Sample("cpu", T0 + k * 10**6, 40, tid, 0, "app", names[tid % 5],
                                  rng.choice(stacks), 10**6 - k, trace_id=trace,
                                  span_id=SPANS[k % 5]))
        else:
            samples.append(Sample("offcpu", T0 + k * 10**6, 40, tid, 0, "app", names[tid % 5],
                                  rng.choice(stacks), 2**62 + k if k == 3 else 5 * 10**5,
                                  count=3 if k % 11 == 0 else 1,
                                  reason=rng.choice(OFFCPU_REASONS), labels=labels,
                                  trace_id=trace, span_id=SPANS[k % 5]))
    traces.write_linked_samples("anonymous", samples)
    yield store, traces
    store.close()


def test_the_c_reader_is_built():
    assert sqlcols._sqlcols is not None, "profiler/store/_sqlcols.so is not built (make native)"


def test_the_c_reader_answers_as_the_driver(stored):
    store, _ = stored
    c = trace_samples.c
    cols = (c.kind, c.ts_ns, c.pid, c.tid, c.stack_id, c.value_ns, c.count, c.reason, c.span_id,
            c.labels, c.thread_name, c.comm,
            # NULLs, integers and texts among a coded column's values; int64's bounds
            func.nullif(c.reason, "lock"), c.tid, literal(-(2**63)), literal(2**63 - 1))
    kinds = "iiiiiiiddddddd" + "ii"
    for q in (select(*cols).order_by(c.tid, c.ts_ns),
              select(*cols).where(c.trace_id == bytes.fromhex(TRACE), c.tid.in_([101, 103]))
              .order_by(c.ts_ns).limit(333),
              select(*cols).where(c.tid == -1)):  # no rows
        with store.engine.connect() as conn:
            native = sqlcols.read_columns(conn, q, kinds)
            driver = sqlcols.read_columns(conn, q, kinds, native=False)
        assert len(native) == len(driver) == len(kinds)
        for kind, a, b in zip(kinds, native, driver, strict=True):
            if kind == "i":
                assert a.typecode == b.typecode == "q" and a == b
            else:  # the same distinct values in the same (first-seen) order
                assert a.values == b.values and a.codes == b.codes
                assert a.decoded() == b.decoded()
    assert len(native[0]) == 0
    with store.engine.connect() as conn:
        rows = sqlcols.read_columns(conn, select(*cols).order_by(c.id), kinds)
    assert len(rows[0]) == 2050 and max(rows[5]) == 2**62 + 3
    assert {"wörker-ü", "线程-7", "", "emoji-\U0001f525"} <= set(rows[10].values)
    assert set(rows[12].values) >= {None} and set(rows[13].values) == {100, 101, 102, 103, 104}
    assert set(rows[14]) == {-(2**63)} and set(rows[15]) == {2**63 - 1}


def test_a_column_of_another_type_than_asked_is_refused(stored):
    store, _ = stored
    c = trace_samples.c
    with store.engine.connect() as conn:
        with pytest.raises(TypeError):
            sqlcols.read_columns(conn, select(c.reason), "i")
        with pytest.raises(ValueError):
            sqlcols.read_columns(conn, select(c.reason, c.tid), "d")


@pytest.mark.parametrize("args", [
    {},
    {"limit": 777},  # cut: read again by time
    {"span_ids": [*SPANS[:2], *(f"{i:016x}" for i in range(10**6, 10**6 + 5001))]},  # rest
    {"span_ids": SPANS[1:3], "limit": 100, "tids": [101, 102, 104], "kinds": ["offcpu"]},
    {"lo": T0 + 500 * 10**6, "hi": T0 + 900 * 10**6, "pid": 40},
])
def test_a_trace_s_track_columns_read_natively_as_through_the_driver(stored, args):
    _, traces = stored
    native = traces.columns_of("anonymous", TRACE, **args)
    traces.native_reads = False
    driver = traces.columns_of("anonymous", TRACE, **args)
    assert native == driver
    cols, more = native
    assert more == ("limit" in args)
    if "limit" in args:
        assert len(cols.ts_ns) == args["limit"]
    assert cols.names[(40, 101)] == ("wörker-ü", "app")
    if "span_ids" in args:
        assert set(cols.span_id) <= set(args["span_ids"])
