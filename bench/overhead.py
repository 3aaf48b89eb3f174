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
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from _common import ROOT, build, flamecam_record, perf_record, run_parallel


def throughput_rounds(spin, seconds: float, rounds: int, configs: dict) -> dict[str, list[float]]:
    cpus = os.cpu_count() or 1
    results: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(rounds):
        for name, start in configs.items():
            prof = start() if start else None
            n = run_parallel([str(spin), str(seconds)], cpus)
            if prof:
                prof.stop()
            results[name].append(n / seconds)
            print(f"  round {r + 1} {name:16} {n / seconds / 1e6:9.1f} M iterations/s",
                  flush=True)
    return results


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
    res = throughput_rounds(spin, args.seconds, args.rounds, configs)
    base = statistics.median(res["alone"])
    print("\nthroughput relative to alone (median of rounds; loss = 1 - ratio)")
    for name, vals in res.items():
        ratio = statistics.median(vals) / base
        print(f"  {name:16} ratio {ratio:.4f}  loss {100 * (1 - ratio):+.2f}%")

    # Context switches: off-CPU on.
    pp = build("pingpong.c")
    alone, under, events, lost = [], [], [], []
    for _ in range(args.rounds):
        alone.append(run_parallel([str(pp), str(args.seconds)], 1) / args.seconds)
        prof = flamecam_record("-F", "99", "-o", "/dev/null", "--format", "folded")
        t0 = time.monotonic()
        under.append(run_parallel([str(pp), str(args.seconds)], 1) / args.seconds)
        log = prof.stop()
        span = time.monotonic() - t0
        m = re.search(r"off-CPU samples over [\d.]+ s, (\d+) off-CPU events, (\d+) lost", log)
        if m:
            events.append(int(m.group(1)) / span)
            lost.append(int(m.group(2)))
    ratio = statistics.median(under) / statistics.median(alone)
    print(f"\ncontext switches: ping-pong {statistics.median(alone) / 1e3:.1f} k round trips/s "
          f"alone, ratio under flamecam (off-CPU on) {ratio:.4f}, loss {100 * (1 - ratio):+.2f}%")
    if events:
        print(f"  off-CPU events >= threshold emitted: {statistics.median(events):.0f}/s; "
              f"lost events: {max(lost)}")

    # Start-up and peak RSS.
    t0 = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m",
                        "profiler.cli", "-v", "record", "-d", "2", "-o", "/dev/null",
                        "--format", "folded"], cwd=ROOT, capture_output=True, text=True)
    total = time.monotonic() - t0
    first = re.search(r"first sample ([\d.]+) s after start", r.stderr)
    rss = re.search(r"maxrss_kb=(\d+)", r.stderr)
    print(f"\nstart-up to first sample: {first.group(1) if first else '?'} s; "
          f"peak RSS of record: {int(rss.group(1)) / 1024 if rss else float('nan'):.0f} MiB; "
          f"2 s recording took {total:.1f} s end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
