"""Fixtures for the sampler tests: a known workload, recorded once by the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workloads import compile_c

ROOT = Path(__file__).resolve().parents[2]


def flamecam(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs the real `flamecam` CLI of this checkout."""
    return subprocess.run([sys.executable, "-m", "profiler.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def threads_exe(tmp_path_factory) -> Path:
    return compile_c("threads.c", tmp_path_factory.mktemp("bin"))


class Workload:
    """A started workload process; stopped when the fixture ends."""

    def __init__(self, exe: Path, *args: str):
        self.proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.pid = self.proc.pid

    def tids(self) -> dict[str, int]:
        """Thread name -> tid, read from /proc."""
        out = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            with open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                out[f.read().strip()] = int(tid)
        return out

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="session")
def threads_workload(threads_exe):
    # Two spinners + the burner: three busy threads on this 2-CPU machine, so
    # run-queue delay is certain (more busy threads than CPUs).
    spinners = str(max(2, os.cpu_count() or 2))
    w = Workload(threads_exe, spinners)
    yield w
    w.stop()


@pytest.fixture(scope="session")
def bystander(threads_exe):
    """Another busy process that `-p` must keep out."""
    w = Workload(threads_exe, "0")
    yield w
    w.stop()
