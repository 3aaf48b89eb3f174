"""Workloads whose answers are known, compiled or started by the tests."""

from __future__ import annotations

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
