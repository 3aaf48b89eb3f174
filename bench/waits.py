"""Cost of recording why off-CPU intervals waited (issue 13), with and without it.

Three workloads, each alone, under `flamecam record --no-wait-info` and under
`flamecam record` (wait info on), in alternating rounds:

- ping-pong: two threads passing a byte through pipes (every wakeup runs
  sched_waking; waits are far below the threshold, so no stack is walked);
- small reads from /dev/zero (system-call heavy: the wait info adds no
  per-system-call program; its arguments come from saved registers);
- sleepers: threads sleeping 1.2 ms, so about 20,000+ kept intervals a
  second, each with its waker's stacks walked (timer interrupts).

Prints throughput relative to alone, the in-kernel cost per run of the
sched_switch and sched_waking programs (bpf_stats, per tracepoint via
`bpftool perf`), and kept intervals per second with losses.

    .venv/bin/python bench/waits.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time

from _common import build, flamecam_record, run_parallel


def tracepoint_stats() -> dict[str, tuple[int, int]]:
    """run_time_ns and run_cnt per tracepoint of Flamecam's programs (bpf_stats on).

    Program names are cut at 15 characters (every tracepoint program is
    "tracepoint__sch"), so programs are told apart by what `bpftool perf`
    says they are attached to.
    """
    if not shutil.which("bpftool"):
        return {}
    perf = json.loads(subprocess.run(["bpftool", "perf", "-j"], capture_output=True,
                                     text=True).stdout or "[]")
    progs = {p["id"]: p for p in json.loads(subprocess.run(
        ["bpftool", "prog", "show", "-j"], capture_output=True, text=True).stdout or "[]")}
    out: dict[str, tuple[int, int]] = {}
    for a in perf:
        tp = a.get("tracepoint")
        p = progs.get(a.get("prog_id"))
        if not tp or p is None or not p.get("name", "").startswith("tracepoint__"):
            continue
        t, c = out.get(tp, (0, 0))
        out[tp] = (t + p.get("run_time_ns", 0), c + p.get("run_cnt", 0))
    return out


def per_run(before: dict, after: dict) -> dict[str, float]:
    out = {}
    for tp, (t, c) in after.items():
        t0, c0 = before.get(tp, (0, 0))
        if c - c0 > 1000:
            out[tp] = (t - t0) / (c - c0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    record = ("-F", "99", "-o", "/dev/null", "--format", "folded")
    configs = {
        "alone": None,
        "no wait info": lambda: flamecam_record(*record, "--no-wait-info"),
        "wait info": lambda: flamecam_record(*record),
    }
    workloads = {
        "ping-pong round trips": ([str(build("pingpong.c")), str(args.seconds)], 1),
        "reads of /dev/zero": ([str(build("zeroreads.c")), str(args.seconds)], 2),
        "1.2 ms sleeps": ([str(build("sleepers.c")), str(args.seconds), "32", "1200"], 1),
    }
    for wname, (argv, copies) in workloads.items():
        rate = {c: [] for c in configs}
        cost = {c: {} for c in configs}
        kept = {c: [] for c in configs}
        lost = {c: 0 for c in configs}
        for _ in range(args.rounds):
            for cname, start in configs.items():
                prof = start() if start else None
                s0 = tracepoint_stats()
                t0 = time.monotonic()
                n = run_parallel(argv, copies)
                span = time.monotonic() - t0
                for tp, ns in per_run(s0, tracepoint_stats()).items():
                    cost[cname].setdefault(tp, []).append(ns)
                rate[cname].append(n / args.seconds)
                if prof:
                    log = prof.stop()
                    m = re.search(r"(\d+) off-CPU events, (\d+) lost", log)
                    if m:
                        kept[cname].append(int(m.group(1)) / span)
                        lost[cname] += int(m.group(2))
        base = statistics.median(rate["alone"])
        print(f"\n{wname}: alone {base / 1e3:.1f} k/s")
        for cname in configs:
            if cname == "alone":
                continue
            ratio = statistics.median(rate[cname]) / base
            line = f"  {cname:13} ratio {ratio:.4f}  loss {100 * (1 - ratio):+.2f}%"
            for tp in ("sched_switch", "sched_waking", "sched_wakeup"):
                if cost[cname].get(tp):
                    line += f"  {tp} {min(cost[cname][tp]):.0f} ns/run"
            if kept[cname]:
                line += (f"  kept intervals {statistics.median(kept[cname]):.0f}/s, "
                         f"lost {lost[cname]}")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
