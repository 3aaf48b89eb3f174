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

from profiler.sampler.tracectx import ANNOUNCE_LOOK_GAP_S, TraceContexts
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


def start_writer(script: str, **popen) -> subprocess.Popen:
    """A process running `script` with the add-on importable (its path is
    argv[1]); the agent reads its memory, which needs root here."""
    if os.geteuid() != 0:
        pytest.skip("reading another process's memory needs root (or ptrace_scope 0)")
    return subprocess.Popen([sys.executable, "-c", script, str(ADDON / "src")],
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


LATE = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from flamecam_otel._table import TraceTable
    print("ready", flush=True)
    sys.stdin.readline()
    t = TraceTable(8, 16)  # made and announced now
    print("made", flush=True)
    time.sleep(60)
""")


def test_an_announced_table_is_looked_for_at_once_and_a_loop_of_announcements_is_paced():
    late = start_writer(LATE, stdin=subprocess.PIPE)
    idle = subprocess.Popen(["sleep", "60"])
    try:
        wait_for_line(late, "ready")
        ctx = TraceContexts(None, only=[late.pid, idle.pid])
        ctx.scan(now=1000.0)  # the first full pass: no table yet
        assert ctx.pids == []
        late.stdin.write(b"go\n")
        late.stdin.flush()
        wait_for_line(late, "made")
        ctx.scan(now=1001.0)  # the next full pass is 5 s away
        assert ctx.pids == []
        # What bpf/procs.c reports when a thread renames itself to its own name.
        ctx.announced(late.pid)
        assert ctx.waiting()
        ctx.scan(now=1001.0)
        assert ctx.pids == [late.pid] and not ctx.waiting()
        # A process without a table that announces in a loop: looked at once,
        # then no sooner than ANNOUNCE_LOOK_GAP_S later (deferred, not dropped).
        ctx.announced(idle.pid)
        ctx.scan(now=1001.0)
        assert not ctx.waiting()
        ctx.announced(idle.pid)
        ctx.scan(now=1001.0 + ANNOUNCE_LOOK_GAP_S / 2)
        assert ctx.waiting()
        ctx.scan(now=1001.0 + ANNOUNCE_LOOK_GAP_S)
        assert not ctx.waiting() and ctx.pids == [late.pid]
        ctx.close()
    finally:
        for p in (late, idle):
            p.kill()
            p.wait()
        late.stdin.close()
        late.stdout.close()
