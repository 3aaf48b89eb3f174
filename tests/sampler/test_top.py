"""`flamecam top` driven through a pseudo-terminal, as a person at a terminal runs it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from tests.workloads import die_with_pytest

from .conftest import ROOT

pytestmark = pytest.mark.bpf


def _read(fd: int, seconds: float) -> str:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the other side closed
                break
    return out.decode(errors="replace")


def test_top_shows_the_hot_function_and_quits_on_q(threads_workload):
    main, child = pty.openpty()
    env = dict(os.environ, COLUMNS="120", LINES="30")
    p = subprocess.Popen([sys.executable, "-m", "profiler.cli", "top", "-p",
                          str(threads_workload.pid)], cwd=ROOT, stdin=child, stdout=child,
                         stderr=child, env=env, start_new_session=True, preexec_fn=die_with_pytest)
    os.close(child)
    try:
        screen = _read(main, 12)
        # Each redraw clears the screen; the last whole one is what a person sees.
        frames = [f for f in screen.split("\x1b[H\x1b[2J") if "%Own" in f]
        assert len(frames) >= 3, screen[-2000:]
        last = frames[-2]
        rows = re.findall(r"^\s*([\d.]+)%\s+([\d.]+)%\s+.*?\s(\S+)\s*$", last, re.M)
        assert rows, last
        # threads.c: two spinners and the burner share 2 CPUs (on-CPU or on the run
        # queue, both self time of the function that runs), the sleeper naps in
        # clock_nanosleep, the waiter waits in the lock: all of their wall time.
        own = {name: float(pct) for pct, _, name in rows}
        top4 = {name for _, _, name in rows[:4]}
        assert {"spinner", "burn_a"} <= top4, last
        assert any(n.startswith("clock_nanosleep") for n in top4), last
        assert own["burn_a"] > own.get("burn_b", 0), last
        assert "Off-CPU by reason:" in last and "lock" in last, last
        os.write(main, b"q")
        assert p.wait(timeout=15) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(main)
