"""Workloads whose answers are known, compiled or started by the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent

FP_FLAGS = ("-O1", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer")


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
                                     env=env)
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
