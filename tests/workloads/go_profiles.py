"""Go's own runtime/pprof profiles of a small workload (tests/workloads/goprofiles).

Heap, allocs, mutex, block, goroutine and CPU profiles, written by the Go
runtime itself, as a Go service's Pyroscope client sends them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent / "goprofiles" / "main.go"


def go_profiles(work: Path) -> dict[str, bytes]:
    """Build and run the workload in `work`: profile name -> gzipped pprof bytes."""
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI"):
            pytest.fail("golang-go is missing (make setup-test installs it)")
        pytest.skip("go is not installed: apt-get install golang-go")
    (work / "main.go").write_text(SOURCE.read_text())
    (work / "go.mod").write_text("module goprofiles\n\ngo 1.19\n")
    env = {**os.environ, "GOCACHE": str(work / "cache"), "GOFLAGS": "-mod=mod",
           "HOME": str(work), "CGO_ENABLED": "0"}
    subprocess.run([go, "build", "-o", "goprofiles", "."], cwd=work, env=env, check=True,
                   timeout=300, capture_output=True)
    out = work / "out"
    out.mkdir()
    subprocess.run([str(work / "goprofiles"), str(out)], check=True, timeout=60,
                   capture_output=True)
    return {p.name.split(".")[0]: p.read_bytes() for p in out.glob("*.pb.gz")}
