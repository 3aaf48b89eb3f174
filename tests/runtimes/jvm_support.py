"""A real JVM for the tests and benchmarks: compile Burner.java, run it."""

from __future__ import annotations

import bisect
import subprocess
from pathlib import Path

BURNER = r'''
public class Burner {
    static double burnCpu(double x) {
        for (int i = 0; i < 2000; i++) {
            x = Math.sqrt(x + i) * 1.0000001;
        }
        return x;
    }

    // JDK library code (HashMap, Integer, String, Arrays), compiled by the JIT,
    // and the JVM's own StubRoutines (array copies): what a real JVM runs.
    static void mix() {
        java.util.Random r = new java.util.Random(7);
        java.util.HashMap<Integer, String> m = new java.util.HashMap<>();
        long[] a = new long[4096];
        long[] b = new long[4096];
        long acc = 0;
        while (true) {
            for (int i = 0; i < 256; i++) {
                int k = r.nextInt(8192);
                m.put(k, Integer.toString(k));
                String s = m.get(r.nextInt(8192));
                if (s != null) {
                    acc += s.hashCode();
                }
            }
            a[(int) (acc & 4095)] = acc;
            for (int i = 0; i < 64; i++) {
                System.arraycopy(a, 0, b, 0, a.length);
                System.arraycopy(b, 0, a, 0, b.length);
            }
            java.util.Arrays.sort(b, 0, 512);
        }
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
        if (args.length > 0 && args[0].equals("mix")) {
            Thread m = new Thread(Burner::mix, "mixer");
            m.setDaemon(true);
            m.start();
        }
        System.out.println("ready " + ProcessHandle.current().pid());
        double x = 0;
        while (true) {
            x = burnCpu(x);
        }
    }
}
'''

# How long a test's JVM runs and compiles before anyone looks at it: a user
# records a JVM that is already busy, never one waited on until named.
BUSY_SECONDS = 3.0

# Keep burnCpu a frame of its own (C2 would inline it into main's OSR code).
NO_INLINE = ("-XX:CompileCommand=quiet", "-XX:CompileCommand=dontinline,Burner::burnCpu")


def compile_burner(workdir: Path) -> Path:
    (workdir / "Burner.java").write_text(BURNER)
    subprocess.run(["javac", "Burner.java"], cwd=workdir, check=True)
    return workdir


def java_cmd(classdir: Path, *jvm_flags: str, mix: bool = False) -> list[str]:
    """Burner's command line; `mix` adds a thread running JDK library code."""
    return ["java", "-Xmx64m", *NO_INLINE, *jvm_flags,
            "-cp", str(classdir), "Burner", *(["mix"] if mix else [])]


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
