"""Workloads whose answers are known, compiled or started by the tests."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent

FP_FLAGS = ("-O1", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer")

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_pytest() -> None:
    """`preexec_fn` for every process a test starts: the kernel kills it when
    pytest dies. A killed run (or CI's timeout) otherwise leaves workloads started
    in their own session spinning, and their load turns the next run red."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@contextmanager
def start_gated(exe: Path, *args: str) -> Iterator[subprocess.Popen]:
    """Starts `exe args` behind a shell that waits for a line on stdin, then
    becomes the workload (same pid): a pid filter set before the line covers
    all of its work and nothing else of the host. Write a line to start it.
    Killed on leaving the block if still running; its output stays readable."""
    proc = subprocess.Popen(["sh", "-c", 'read _ && exec "$0" "$@"', str(exe), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=die_with_pytest)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def record_until_exit(rec, proc: subprocess.Popen) -> list:
    """Polls and takes from a Recorder until `proc` exits, then the final take."""
    samples = []
    while proc.poll() is None:
        rec.poll(100)
        samples.extend(rec.take())
    time.sleep(0.2)
    rec.poll(100)
    samples.extend(rec.take(final=True))
    return samples


def compile_c(source: str, out_dir: Path, flags: tuple[str, ...] = FP_FLAGS,
              name: str | None = None, compiler: str = "gcc") -> Path:
    """Compiles `workloads/<source>` into `out_dir`; returns the binary's path."""
    if shutil.which(compiler) is None:
        raise RuntimeError(f"{compiler} is needed to build test workloads: apt-get install gcc")
    exe = out_dir / (name or Path(source).stem)
    subprocess.run([compiler, *flags, "-g", "-pthread", "-o", str(exe), str(HERE / source)],
                   check=True)
    return exe


class Workload:
    """A started workload process that prints "ready"; `stop()` kills it."""

    def __init__(self, exe: Path, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, text=True,
                                     env=env, preexec_fn=die_with_pytest)
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
