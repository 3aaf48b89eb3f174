"""Sampling overhead: a fixed CPU-bound workload alone and under a profiler.

Every CPU runs one copy of `spin` (so any CPU the profiler takes is lost to
the workload), in alternating rounds: alone, under `flamecam record` at 19 Hz
and 99 Hz, and under `perf record -F 99 -a -g`. Prints each configuration's
throughput relative to running alone. Then a context-switch-heavy workload
(two threads ping-ponging through pipes) with off-CPU on, with the off-CPU
events handled and lost per second; then start-up time and peak RSS of
`flamecam record`.

    .venv/bin/python bench/overhead.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from _common import ROOT, build, flamecam_record, perf_record, run_parallel, run_parallel_cpu


def bpf_prog_stats() -> dict[str, tuple[int, int]]:
    """run_time_ns and run_cnt of Flamecam's loaded programs (bpftool, bpf_stats on)."""
    if not shutil.which("bpftool"):
        return {}
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    stats: dict[str, tuple[int, int]] = {}
    for p in json.loads(out.stdout or "[]"):
        name = p.get("name", "")
        if name.startswith(("tracepoint__sch", "tracepoint__tas", "on_cpu_sample")):
            t, c = stats.get(name, (0, 0))
            stats[name] = (t + p.get("run_time_ns", 0), c + p.get("run_cnt", 0))
    return stats


WARMUP_S = 4.0


def bpf_seconds() -> float:
    return sum(t for t, _ in bpf_prog_stats().values()) / 1e9


def throughput_rounds(spin, seconds: float, rounds: int, configs: dict):
    """Throughput per configuration, and the profiler's CPU cost per workload CPU.

    Throughput on a shared VM is noisy; the cost ratio (profiler process CPU +
    BPF programs' run time, over the workload's CPU) is not.
    """
    cpus = os.cpu_count() or 1
    results: dict[str, list[float]] = {name: [] for name in configs}
    costs: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(rounds):
        for name, start in configs.items():
            prof = start() if start else None
            if prof:
                # Steady state, as an always-on agent runs: the first pass over
                # the host's binaries (symbol tables, CFI) is a start-up cost.
                time.sleep(WARMUP_S)
            c0, b0 = (prof.cpu_seconds(), bpf_seconds()) if prof else (0.0, 0.0)
            n, work_cpu = run_parallel_cpu([str(spin), str(seconds)], cpus)
            if prof:
                cost = prof.cpu_seconds() - c0
                if name.startswith("flamecam"):
                    cost += bpf_seconds() - b0
                costs[name].append(cost / max(work_cpu, 1e-9))
                prof.stop()
            results[name].append(n / seconds)
            print(f"  round {r + 1} {name:16} {n / seconds / 1e6:9.1f} M iterations/s",
                  flush=True)
    return results, costs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    spin = build("spin.c")
    configs = {
        "alone": None,
        "flamecam 19 Hz": lambda: flamecam_record("-F", "19", "-o", "/dev/null", "--format",
                                                  "folded"),
        "flamecam 99 Hz": lambda: flamecam_record("-F", "99", "-o", "/dev/null", "--format",
                                                  "folded"),
    }
    if shutil.which("perf"):
        configs["perf 99 Hz -a -g"] = lambda: perf_record(99)
    print(f"CPU-bound: {os.cpu_count()} copies of spin, {args.seconds} s, {args.rounds} rounds")
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    res, costs = throughput_rounds(spin, args.seconds, args.rounds, configs)
    base = statistics.median(res["alone"])
    print("\nthroughput relative to alone (median of rounds; loss = 1 - ratio), and the "
          "profiler's CPU per workload CPU (user-space process + BPF run time; perf: its "
          "process only)")
    for name, vals in res.items():
        ratio = statistics.median(vals) / base
        cost = f"  cost {100 * statistics.median(costs[name]):.2f}%" if costs[name] else ""
        print(f"  {name:16} ratio {ratio:.4f}  loss {100 * (1 - ratio):+.2f}%{cost}")

    # Context switches: off-CPU on.
    pp = build("pingpong.c")
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    alone, under, events, lost, per_switch = [], [], [], [], []
    lost_why: list[str] = []
    for _ in range(args.rounds):
        alone.append(run_parallel([str(pp), str(args.seconds)], 1) / args.seconds)
        prof = flamecam_record("-F", "99", "-o", "/dev/null", "--format", "folded")
        t0 = time.monotonic()
        s0 = bpf_prog_stats()
        under.append(run_parallel([str(pp), str(args.seconds)], 1) / args.seconds)
        s1 = bpf_prog_stats()
        for name, (t, c) in s1.items():
            if name.startswith("tracepoint__sch") and c > s0.get(name, (0, 0))[1] + 1000:
                dt, dc = t - s0.get(name, (0, 0))[0], c - s0.get(name, (0, 0))[1]
                per_switch.append(dt / dc)
        log = prof.stop()
        span = time.monotonic() - t0
        m = re.search(r"off-CPU samples over [\d.]+ s, (\d+) off-CPU events, (\d+) lost", log)
        if not m:
            print(f"\nbench/overhead.py: could not measure off-CPU events: the recording "
                  f"did not report them:\n{log[-2000:]}", file=sys.stderr)
            return 1
        events.append(int(m.group(1)) / span)
        lost.append(int(m.group(2)))
        why = re.search(r"events were lost \(([^)]*)\)", log)
        if why:
            lost_why.append(why.group(1))
    ratio = statistics.median(under) / statistics.median(alone)
    print(f"\ncontext switches: ping-pong {statistics.median(alone) / 1e3:.1f} k round trips/s "
          f"alone, ratio under flamecam (off-CPU on) {ratio:.4f}, loss {100 * (1 - ratio):+.2f}%")
    print(f"  off-CPU events >= threshold emitted: {statistics.median(events):.0f}/s; "
          f"lost events: {max(lost)}" + (f" ({'; '.join(lost_why)})" if lost_why else ""))
    if per_switch:
        print(f"  in-kernel cost of the sched_switch program: {min(per_switch):.0f} ns per "
              f"switch (bpf_stats; robust to noise unlike throughput)")

    # Bytes per on-CPU sample leaving the kernel: frame-pointer stacks vs stack copies.
    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    fp_exe = build("spin.c", ("-O2", "-fno-omit-frame-pointer"))
    for label, exe, mode in (("frame pointers", fp_exe, "fp"), ("stack copies", spin, "dwarf")):
        proc = subprocess.Popen([str(exe), "4"], stdout=subprocess.DEVNULL)
        with Recorder(SamplerOptions(pids=[proc.pid], hz=99, off_cpu=False, unwind=mode)) as rec:
            end = time.monotonic() + 3
            while time.monotonic() < end:
                rec.poll(100)
            n = len(rec.take())
            per = rec._on.bytes_received / max(n, 1)
        proc.wait()
        print(f"bytes per on-CPU sample shipped by the sampler ({label}): {per:.0f}")

    # Start-up and peak RSS, with a busy process to sample: the profiler never
    # samples itself, so an idle host gives no first sample to time.
    busy = subprocess.Popen([str(spin), "6"], stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m",
                        "profiler.cli", "-v", "record", "-d", "2", "-o", "/dev/null",
                        "--format", "folded"], cwd=ROOT, capture_output=True, text=True)
    total = time.monotonic() - t0
    busy.kill()
    busy.wait()
    first = re.search(r"first sample ([\d.]+) s after start", r.stderr)
    rss = re.search(r"maxrss_kb=(\d+)", r.stderr)
    if r.returncode != 0 or not first or not rss:
        print(f"\nbench/overhead.py: could not measure start-up (record exit {r.returncode}, "
              f"first sample {'found' if first else 'missing'}, RSS "
              f"{'found' if rss else 'missing'}):\n{r.stderr[-2000:]}", file=sys.stderr)
        return 1
    print(f"\nstart-up to first sample: {first.group(1)} s; "
          f"peak RSS of record: {int(rss.group(1)) / 1024:.0f} MiB; "
          f"2 s recording took {total:.1f} s end to end")
    if max(lost):
        # A quiet machine loses nothing (issue 14 item 9): a loss is a bug to find.
        print(f"bench/overhead.py: {max(lost)} off-CPU events lost on a ping-pong run",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
