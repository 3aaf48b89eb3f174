"""Fixtures for the sampler tests: a known workload, recorded once by the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workloads import Workload, compile_c

ROOT = Path(__file__).resolve().parents[2]


def flamecam(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs the real `flamecam` CLI of this checkout."""
    return subprocess.run([sys.executable, "-m", "profiler.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def threads_exe(tmp_path_factory) -> Path:
    return compile_c("threads.c", tmp_path_factory.mktemp("bin"))


# The busy workloads live as long as the sampler tests (package scope), not
# the session: session-scoped, their three busy threads kept both CPUs loaded
# through every later test of the run (server, symbolizer, traces, web UI).
@pytest.fixture(scope="package")
def threads_workload(threads_exe):
    # Two spinners + the burner: three busy threads on this 2-CPU machine, so
    # run-queue delay is certain (more busy threads than CPUs).
    spinners = str(max(2, os.cpu_count() or 2))
    w = Workload(threads_exe, spinners)
    yield w
    w.stop()


@pytest.fixture(scope="package")
def bystander(threads_exe):
    """Another busy process that `-p` must keep out."""
    w = Workload(threads_exe, "0")
    yield w
    w.stop()


@pytest.fixture(scope="session")
def launched_exe(tmp_path_factory) -> Path:
    """tests/workloads/launched.c: 70/30 burn_a/burn_b, a child, a chosen exit status."""
    return compile_c("launched.c", tmp_path_factory.mktemp("bin"))
