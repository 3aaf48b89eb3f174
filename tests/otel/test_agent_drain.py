"""The agent's ring drain (profiler/sampler/tracectx.py) on a table the real
writer made in another process: it takes committed records only, and stops at
one whose commit field does not match its number yet (docs/TRACE_CONTEXT.md,
"Reading the ring": a writer may publish ring_head before the record's commit)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from profiler.sampler.tracectx import TraceContexts
from tests.otel.conftest import ADDON
from tests.runtimes.conftest import wait_for_line

CHILD = textwrap.dedent("""
    import sys, threading, time
    sys.path.insert(0, sys.argv[1])
    from flamecam_otel._layout import COMMIT_MASK, HEADER_SIZE, RECORD_SIZE, SLOT_SIZE, U32
    from flamecam_otel._table import TraceTable
    t = TraceTable(8, 16)
    tid = threading.get_native_id()
    for n in range(3):
        t.append(tid, bytes([n + 1]) * 16, bytes([n + 1]) * 8, 100 * n, 100 * n + 50, n % 2)
    # Record 2 as a writer that has published head but not yet the commit sees it.
    U32.pack_into(t.mm, HEADER_SIZE + 8 * SLOT_SIZE + 2 * RECORD_SIZE + 4, 7 & COMMIT_MASK)
    print("ready", tid, flush=True)
    time.sleep(60)
""")


def start_writer(script: str, args: list[str] | None = None, **popen) -> subprocess.Popen:
    """A process running `script` with the add-on importable (its path is
    argv[1], then `args`); the agent reads its memory, which needs root here."""
    if os.geteuid() != 0:
        pytest.skip("reading another process's memory needs root (or ptrace_scope 0)")
    return subprocess.Popen([sys.executable, "-c", script, str(ADDON / "src"), *(args or [])],
                            stdout=subprocess.PIPE, **popen)


def test_drain_stops_at_an_uncommitted_record():
    child = start_writer(CHILD, stderr=subprocess.PIPE)
    try:
        tid = int(wait_for_line(child, "ready").split()[1])
        ctx = TraceContexts(None, only=[child.pid])
        ctx.scan()
        assert ctx.pids == [child.pid]
        got = ctx.drain()
        # Record 1 was flagged approximate by the writer (commit bit 31).
        assert [(r.tid, r.trace_id[0], r.start_mono, r.end_mono, r.approximate)
                for r in got] == [(tid, 1, 0, 50, False), (tid, 2, 100, 150, True)]
        assert ctx.drain() == []  # record 2 is still not committed: waited for, not dropped
        assert (ctx.lost_records, ctx.bad_records) == (0, 0)
        ctx.close()
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            stream.close()


WRITER = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, sys.argv[1])
    from flamecam_otel._table import TraceTable
    t = TraceTable(8, 16)
    tid = threading.get_native_id()
    n = 0
    print("ready", flush=True)
    for line in sys.stdin:  # "append K": K more records, numbered on
        for _ in range(int(line.split()[1])):
            t.append(tid, bytes([1]) * 16, bytes([2]) * 8, n, n + 1, False)
            n += 1
        print("done", n, flush=True)
""")


@pytest.mark.parametrize("during", [15, 16, 17, 40])
def test_a_drain_overtaken_by_the_writer_counts_every_record_read_or_lost(during, monkeypatch):
    """A reader preempted between reading ring_head and copying the ring (a
    loaded host) while the writer appends `during` records to its ring of 16:
    each record the writer made is read once or counted as lost, none vanishes
    unsaid. (With 16 or more, a ring's worth, the copy was all stale and the
    drain skipped past the head it had read: the records after that head went
    uncounted: test_tracectx's flood of 192 records can do that on a busy host.)"""
    from profiler.sampler import tracectx

    child = start_writer(WRITER, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    written = 0

    def append(k: int) -> None:
        nonlocal written
        child.stdin.write(f"append {k}\n".encode())
        child.stdin.flush()
        written = int(wait_for_line(child, "done").split()[1])

    pause = {"at": None}

    class Preempted(tracectx.ProcessMemory):
        """/proc/PID/mem, read for real; the writer runs before the ring's copy."""

        def read(self, addr: int, size: int) -> bytes:
            if pause["at"] is not None and size > 8:  # the ring, not ring_head
                k, pause["at"] = pause["at"], None
                append(k)
            return super().read(addr, size)

    monkeypatch.setattr(tracectx, "ProcessMemory", Preempted)
    try:
        wait_for_line(child, "ready")
        ctx = TraceContexts(None, only=[child.pid])
        ctx.scan()
        assert ctx.pids == [child.pid]
        append(10)
        got = ctx.drain()
        pause["at"] = during
        append(5)
        got += ctx.drain()  # head read, then `during` more records, then the copy
        got += ctx.drain()
        append(3)
        got += ctx.drain()
        numbers = [r.start_mono for r in got]
        assert len(set(numbers)) == len(numbers) and all(r.end_mono == r.start_mono + 1
                                                         for r in got), numbers
        assert len(got) + ctx.lost_records == written == 18 + during, (
            len(got), ctx.lost_records, written)
        assert numbers[-3:] == [written - 3, written - 2, written - 1]  # read on, in order
        assert ctx.bad_records == 0
        ctx.close()
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()
