"""A real JVM for the tests and benchmarks: compile Burner.java, run it."""

from __future__ import annotations

import bisect
import subprocess
import time
from pathlib import Path

from runtimes.jvm import java_method_name

BURNER = r'''
public class Burner {
    static double burnCpu(double x) {
        for (int i = 0; i < 2000; i++) {
            x = Math.sqrt(x + i) * 1.0000001;
        }
        return x;
    }

    public static void main(String[] args) throws Exception {
        Thread w = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "worker-1");
        w.setDaemon(true);
        w.start();
        System.out.println("ready " + ProcessHandle.current().pid());
        double x = 0;
        while (true) {
            x = burnCpu(x);
        }
    }
}
'''

# Keep burnCpu a frame of its own (C2 would inline it into main's OSR code).
NO_INLINE = ("-XX:CompileCommand=quiet", "-XX:CompileCommand=dontinline,Burner::burnCpu")


def compile_burner(workdir: Path) -> Path:
    (workdir / "Burner.java").write_text(BURNER)
    subprocess.run(["javac", "Burner.java"], cwd=workdir, check=True)
    return workdir


def java_cmd(classdir: Path, *jvm_flags: str) -> list[str]:
    return ["java", "-Xmx64m", *NO_INLINE, *jvm_flags,
            "-cp", str(classdir), "Burner"]


class PerfMapIndex:
    """Address -> raw name from a perf map (later lines win)."""

    def __init__(self, path: str) -> None:
        entries: dict[int, tuple[int, str]] = {}
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    entries[int(parts[0], 16)] = (int(parts[1], 16), parts[2])
        self.starts = sorted(entries)
        self.entries = entries

    def lookup(self, addr: int) -> str | None:
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0:
            return None
        start = self.starts[i]
        size, name = self.entries[start]
        return name if addr < start + size else None


def wait_until_compiled(jvms, pid: int, names: set[str], timeout: float = 30.0) -> None:
    """Refresh the perf map until it names `names` (JIT-compiled) or `timeout` passes.

    Interpreted frames have no names in the perf map, and a fixed wait for the
    JIT is too short on a loaded machine.
    """
    deadline = time.monotonic() + timeout
    while not names <= {java_method_name(line.split(" ", 2)[2].strip())
                        for line in open(jvms.perf_map_path(pid))} \
            and time.monotonic() < deadline:
        time.sleep(0.2)
        jvms.refresh_perf_map(pid)
