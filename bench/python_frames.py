"""Cost and accuracy of reading Python stacks from a running CPython.

Starts a CPython target (3.11, 3.12, 3.13 from pyenv) whose worker thread
splits its work 70/30 between alpha() and beta() and reports how many work
units it completes. Alternating windows measure the target's throughput with
nothing attached, with the user-space reader polling at 99 Hz
(/proc/PID/mem), and with the in-kernel walker (runtimes/python/python.h on a 99 Hz
cpu-clock perf event, names resolved in user space). Prints, per version and
mode: throughput loss, share of samples whose leaf is alpha/beta, the
alpha share, and the profiler's own CPU per profiled process.

    .venv/bin/python bench/python_frames.py [--seconds 2] [--rounds 3] [--versions 3.12]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpf  # noqa: E402
from runtimes.python import PythonProcess, bpf_maps  # noqa: E402
from runtimes.python.bpf_maps import read_py_stack, register  # noqa: E402

PYENV = Path("/root/.pyenv/versions")
FULL = {"3.11": "3.11.7", "3.12": "3.12.1", "3.13": "3.13.0"}
HZ = 99

TARGET = r'''
import random, sys, threading, time
done = 0
def alpha(n):
    x = 0
    for _ in range(n):
        x += 1
def beta(n):
    x = 0
    for _ in range(n):
        x += 1
def work():
    global done
    rnd = random.Random(7)
    while True:
        n = rnd.randint(20000, 80000)
        alpha(7 * n // 10)
        beta(3 * n // 10)
        done += n
t = threading.Thread(target=work, name="worker", daemon=True)
t.start()
clock = time.pthread_getcpuclockid(t.ident)
print("ready", t.native_id, flush=True)
while True:
    time.sleep(0.25)
    print("done", time.monotonic(), done, time.clock_gettime(clock), flush=True)
'''


class Target:
    """The workload process and a reader of its progress lines."""

    def __init__(self, minor: str, path: Path) -> None:
        exe = PYENV / FULL[minor] / "bin" / f"python{minor}"
        self.p = subprocess.Popen([str(exe), str(path)], stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        self.worker = int(line[1])
        self.points: list[tuple[float, int, float]] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        try:
            for line in self.p.stdout:
                _, ts, n, cpu = line.split()
                self.points.append((float(ts), int(n), float(cpu)))
        except (ValueError, OSError):
            return  # the target was killed mid-line

    def rate(self, t0: float, t1: float) -> float:
        """Work units per second of the worker's own CPU time.

        Per CPU second, not per wall second: on a shared machine other load
        changes how much CPU the target gets, which is not our overhead; what
        we add in the target's context (the BPF walk runs there) is counted.
        """
        pts = [p for p in self.points if t0 <= p[0] <= t1]
        if len(pts) < 2 or pts[-1][2] <= pts[0][2]:
            return 0.0
        return (pts[-1][1] - pts[0][1]) / (pts[-1][2] - pts[0][2])

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def window_idle(target: Target, seconds: float) -> tuple[float, Counter, float]:
    t0 = time.monotonic()
    time.sleep(seconds)
    return target.rate(t0, time.monotonic()), Counter(), 0.0


def window_userspace(target: Target, proc: PythonProcess, seconds: float):
    leaves: Counter = Counter()
    c0, t0 = cpu_seconds(), time.monotonic()
    rnd = random.Random(3)
    next_at = t0
    while time.monotonic() - t0 < seconds:
        try:
            st = proc.stack(target.worker)
            leaves[st.frames[0].name.rsplit(".", 1)[-1] if st.frames else "-"] += 1
        except OSError:
            leaves["-"] += 1
        next_at += (1.0 / HZ) * rnd.uniform(0.9, 1.1)
        time.sleep(max(0.0, next_at - time.monotonic()))
    t1 = time.monotonic()
    return target.rate(t0, t1), leaves, (cpu_seconds() - c0) / (t1 - t0)


BPF_PROG = r'''
#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf_perf_event.h>
__PYTHON_H__
struct bench_event { u32 tid; u32 pad; u64 py; };
BPF_RINGBUF_OUTPUT(bench_events, 64);
int bench_sample(struct bpf_perf_event_data *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    if (!py_procs.lookup(&tgid))
        return 0;
    struct bench_event e = {};
    e.tid = (u32)id;
    e.py = flamecam_py_stackid(tgid, (u32)id);
    bench_events.ringbuf_output(&e, sizeof(e), 0);
    return 0;
}
'''


class BenchEvent(ctypes.Structure):
    _fields_ = [("tid", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("py", ctypes.c_uint64)]


def window_bpf(target: Target, proc: PythonProcess, b, seconds: float):
    from bcc import PerfSWConfig, PerfType

    events = b.flamecam_events
    events.clear()
    register(b, proc)
    leaves: Counter = Counter()
    names: dict[int, str] = {}
    c0, t0 = cpu_seconds(), time.monotonic()
    b.attach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK,
                        fn_name=b"bench_sample", sample_freq=HZ, cpu=-1)
    while time.monotonic() - t0 < seconds:
        b.ring_buffer_poll(100)
        b.flamecam_walks += len(events)
        for tid, py in events:
            if tid != target.worker:
                continue
            if py not in names:
                raw = read_py_stack(b, py)
                st = proc.symbolize(raw) if raw else None
                names[py] = st.frames[0].name.rsplit(".", 1)[-1] if st and st.frames else "-"
            leaves[names[py]] += 1
        events.clear()
    b.detach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK)
    b.flamecam_cost.append(prog_cost(b.funcs[b"bench_sample"].fd))
    t1 = time.monotonic()
    del b[b"py_procs"][ctypes.c_uint32(proc.pid)]
    return target.rate(t0, t1), leaves, (cpu_seconds() - c0) / (t1 - t0)


def prog_cost(fd: int) -> tuple[int, int]:
    """(run_time_ns, run_cnt) of a loaded program (needs kernel.bpf_stats_enabled)."""
    vals = {}
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            key, _, value = line.partition(":")
            vals[key.strip()] = value.strip()
    return int(vals.get("run_time_ns", 0)), int(vals.get("run_cnt", 0))


STATS = "/proc/sys/kernel/bpf_stats_enabled"


def load_bpf():
    if os.geteuid() != 0:
        return None
    try:
        from bcc import BPF
    except ImportError:
        return None
    src = BPF_PROG.replace("__PYTHON_H__", bpf.source("pidns.h") + bpf_maps.HEADER.read_text())
    b = BPF(text=src.encode(), cflags=["-Wno-macro-redefined"])
    b.load_func("bench_sample", BPF.PERF_EVENT)
    b.flamecam_events = []
    b.flamecam_cost = []
    b.flamecam_walks = 0

    def on_event(ctx, data, size):
        e = ctypes.cast(data, ctypes.POINTER(BenchEvent)).contents
        b.flamecam_events.append((e.tid, e.py))

    b[b"bench_events"].open_ring_buffer(on_event)
    return b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--versions", nargs="*", default=["3.11", "3.12", "3.13"])
    args = ap.parse_args()
    b = load_bpf()
    stats_before = None
    if b is not None:
        try:  # per-program run time, only while this benchmark runs
            stats_before = open(STATS).read().strip()
            with open(STATS, "w") as f:
                f.write("1")
        except OSError:
            stats_before = None
    if b is None:
        print("(no root or bcc: the in-kernel walker is skipped)")
    script = Path(f"/tmp/flamecam-bench-target-{os.getpid()}.py")
    script.write_text(TARGET)
    print(f"{'version':8} {'mode':10} {'throughput loss':>16} {'leaf ok':>8} "
          f"{'alpha':>6} {'samples':>8} {'agent CPU':>10}")
    try:
        for minor in args.versions:
            if not (PYENV / FULL[minor]).exists():
                print(f"{minor}: not installed, skipped")
                continue
            target = Target(minor, script)
            try:
                time.sleep(0.5)
                proc = PythonProcess(target.p.pid)
                modes = ["userspace"] + (["bpf"] if b is not None else [])
                base: list[float] = []
                res: dict[str, list] = {m: [] for m in modes}
                for _ in range(args.rounds):
                    base.append(window_idle(target, args.seconds)[0])
                    for m in modes:
                        if m == "userspace":
                            res[m].append(window_userspace(target, proc, args.seconds))
                        else:
                            res[m].append(window_bpf(target, proc, b, args.seconds))
                    base.append(window_idle(target, args.seconds)[0])
                base_rate = statistics.median(base)
                for m in modes:
                    rate = statistics.median(r[0] for r in res[m])
                    leaves = sum((r[1] for r in res[m]), Counter())
                    total = sum(leaves.values()) or 1
                    ok = leaves["alpha"] + leaves["beta"]
                    cpu = statistics.median(r[2] for r in res[m])
                    loss = 100.0 * (1 - rate / base_rate) if base_rate else float("nan")
                    print(f"{minor:8} {m:10} {loss:15.1f}% {100.0 * ok / total:7.1f}% "
                          f"{100.0 * leaves['alpha'] / (ok or 1):5.1f}% {total:8d} "
                          f"{100.0 * cpu:9.2f}%")
                proc.close()
            finally:
                target.close()
    finally:
        script.unlink(missing_ok=True)
        if b is not None:
            cost = b.flamecam_cost
            b.cleanup()
            if stats_before is not None:
                with open(STATS, "w") as f:
                    f.write(stats_before)
            if cost and b.flamecam_walks:
                ns = cost[-1][0]  # cumulative over all windows
                per_walk = ns / b.flamecam_walks
                print(f"in-kernel walk (python.h + ring buffer): {per_walk / 1000:.1f} µs "
                      f"per Python sample ({b.flamecam_walks} samples; upper bound, includes "
                      f"the filter runs for other processes), i.e. "
                      f"{per_walk * HZ / 1e7:.3f}% of one CPU per sampled thread at {HZ} Hz")
    print("throughput loss: median work per CPU-second of the target thread while read, "
          "vs. idle windows (negative = noise); agent CPU: this process's CPU time / wall "
          "time while reading one process at 99 Hz")


if __name__ == "__main__":
    main()
