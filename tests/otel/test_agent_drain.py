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
