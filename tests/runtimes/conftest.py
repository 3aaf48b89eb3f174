"""Fixtures for runtime tests: real interpreters and JVMs, always killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.workloads import die_with_pytest

PYENV = Path("/root/.pyenv/versions")
PY_VERSIONS = {"3.11": "3.11.7", "3.12": "3.12.1", "3.13": "3.13.0"}


def python_bin(minor: str) -> Path:
    exe = PYENV / PY_VERSIONS[minor] / "bin" / f"python{minor}"
    if not exe.exists():
        pytest.skip(f"CPython {minor} not installed at {exe}")
    return exe


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start a process; every process started is killed at teardown."""
    procs: list[subprocess.Popen] = []

    def start(args: list[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen([str(a) for a in args],
                             start_new_session=True, preexec_fn=die_with_pytest, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait(timeout=10)
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()


def wait_for_line(p: subprocess.Popen, prefix: str, timeout: float = 20.0) -> str:
    """Block until the child prints a line starting with `prefix`."""
    deadline = time.monotonic() + timeout
    assert p.stdout is not None
    while time.monotonic() < deadline:
        # readline() blocks: read in a thread, so a silent child fails the
        # test at the deadline instead of hanging it (teardown kills the child).
        got: list[bytes] = []
        reader = threading.Thread(target=lambda got=got: got.append(p.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        if not got:
            break
        line = got[0].decode()
        if line.startswith(prefix):
            return line.strip()
        if not line and p.poll() is not None:
            err = p.stderr.read().decode() if p.stderr else ""
            raise AssertionError(f"child exited {p.returncode}: {err}")
    raise AssertionError(f"no {prefix!r} line within {timeout}s")


@pytest.fixture(scope="session")
def have_java() -> None:
    if not (shutil.which("javac") and shutil.which("java")):
        pytest.skip("no JDK")


def in_new_pid_namespace(args: list) -> list[str]:
    """`args` run as pid 1 of a fresh pid namespace, as in a container."""
    return ["unshare", "--pid", "--fork", "--mount-proc", *[str(a) for a in args]]


def namespaced_child(launcher_pid: int, timeout: float = 10.0) -> int:
    """The host pid of the process `unshare --fork` started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = open(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.02)
    raise AssertionError("unshare started no child")


def host_tids(pid: int, ns_tids: list[int]) -> list[int]:
    from profiler.procfs import namespace_tids

    table = namespace_tids(pid)
    return [table[t] for t in ns_tids]
