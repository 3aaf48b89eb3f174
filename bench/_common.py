"""What the benchmarks share: building workloads, running the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workloads import compile_c  # noqa: E402


def wait_healthy(url: str, timeout_s: float = 30) -> None:
    """Until the server at `url` answers /healthz (or `timeout_s` passes)."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)


def build(source: str, flags: tuple[str, ...] = ("-O2",)) -> Path:
    out = Path(tempfile.mkdtemp(prefix="flamecam-bench-"))
    return compile_c(source, out, flags=flags)


class Profiler:
    """A profiler running beside a workload: `flamecam record` or `perf record`."""

    def __init__(self, argv: list[str], ready_marker: str | None, cwd: Path = ROOT):
        self.out = tempfile.NamedTemporaryFile(prefix="flamecam-bench-", suffix=".log",
                                               delete=False)
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=self.out, text=True)
        self.started = time.monotonic()
        deadline = time.monotonic() + 60
        while ready_marker and ready_marker not in Path(self.out.name).read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start: "
                                   f"{Path(self.out.name).read_text()[-500:]}")
            time.sleep(0.05)
        if not ready_marker:
            time.sleep(1.0)

    def cpu_seconds(self) -> float:
        """User + system CPU the profiler process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=300)
        text = Path(self.out.name).read_text()
        os.unlink(self.out.name)
        return text


def flamecam_record(*args: str, tree: Path = ROOT) -> Profiler:
    """`flamecam record ARGS` of `tree` (another checkout: its code, side by side)."""
    argv = [sys.executable, "-m", "profiler.cli", "-v", "record", *args]
    return Profiler(argv, "samplers attached", cwd=tree)


def perf_record(hz: int) -> Profiler:
    data = tempfile.mktemp(prefix="flamecam-bench-", suffix=".perf.data")
    return Profiler(["perf", "record", "-F", str(hz), "-a", "-g", "-q", "-o", data], None)


def run_parallel(argv: list[str], copies: int) -> int:
    """Runs `copies` of a workload at once; returns the sum of what they print."""
    return run_parallel_cpu(argv, copies)[0]


def run_parallel_cpu(argv: list[str], copies: int) -> tuple[int, float]:
    """Like run_parallel, also returning the CPU seconds the copies used."""
    before = os.times()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    total = sum(int(p.communicate()[0].strip()) for p in procs)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system
                                                           - before.children_system)
    return total, cpu
