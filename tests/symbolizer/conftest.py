"""Fixtures for the symbolizer tests: real binaries compiled here, real processes.

Workloads print their functions' run-time addresses on the first line of
stdout, which gives the tests ground truth without trusting the symbolizer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
NO_FP = ["-O2", "-fomit-frame-pointer"]
WITH_FP = ["-O2", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer"]


def compiler_for(source: Path) -> str:
    return {".cpp": "g++", ".rs": "rustc"}.get(source.suffix, "gcc")


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """build(source_name, flags, name=None, strip=False) -> path of the binary."""
    out_dir = tmp_path_factory.mktemp("bin")
    made: dict[tuple, Path] = {}

    def _build(source: str, flags: list[str], name: str | None = None,
               strip: bool = False) -> Path:
        key = (source, tuple(flags), name, strip)
        if key in made:
            return made[key]
        src = HERE / source
        cc = compiler_for(src)
        if shutil.which(cc) is None:
            pytest.skip(f"{cc} is not installed")
        out = out_dir / (name or f"{src.stem}-{len(made)}")
        cmd = [cc, *flags, "-g", "-o", str(out), str(src)]
        if src.suffix == ".cpp":
            cmd.insert(1, "-Wno-pmf-conversions")
        elif src.suffix == ".rs":
            cmd = [cc, *flags, "-o", str(out), str(src)]
        subprocess.run(cmd, check=True, capture_output=True)
        if strip:
            subprocess.run(["strip", "--strip-all", str(out)], check=True)
        made[key] = out
        return out

    return _build


@dataclass
class Running:
    proc: subprocess.Popen
    addrs: dict[str, int]

    @property
    def pid(self) -> int:
        return self.proc.pid


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of the whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_asleep(pid: int, timeout: float = 30) -> None:
    """Until the main thread sleeps in nanosleep or clock_nanosleep."""
    deadline = time.monotonic() + timeout
    while open(f"/proc/{pid}/syscall").read().split()[0] not in ("35", "230"):
        assert time.monotonic() < deadline, f"{pid} never slept"
        time.sleep(0.01)


@pytest.fixture
def spawn() -> Iterator[Callable[..., Running]]:
    """spawn(argv) -> Running, after the workload printed its addresses and,
    unless busy=False, burned 20 ms of CPU: it prints before its loop, so a
    capture right after the line can find it still in printf or starting a
    thread, not in the code the test looks for."""
    procs: list[subprocess.Popen] = []

    def _spawn(argv: list[str | os.PathLike], busy: bool = True) -> Running:
        proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()
        addrs = {}
        for item in line.split():
            name, _, value = item.partition("=")
            addrs[name] = int(value, 16)
        deadline = time.monotonic() + 30
        while busy and cpu_ticks(proc.pid) < 2:
            assert time.monotonic() < deadline, f"{argv[0]} used no CPU in 30 s"
            time.sleep(0.01)
        return Running(proc, addrs)

    yield _spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        if p.stdout:
            p.stdout.close()
