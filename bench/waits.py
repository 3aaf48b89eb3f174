"""Cost of recording why off-CPU intervals waited (issue 13), with and without it.

Three workloads, each alone, under `flamecam record --no-wait-info` and under
`flamecam record` (wait info on), in alternating rounds:

- ping-pong: two threads on one CPU passing a byte through pipes (every
  wakeup runs sched_waking; waits are far below the threshold, so no stack
  is walked);
- small reads from /dev/zero (system-call heavy: the wait info adds no
  per-system-call program; its arguments come from saved registers);
- sleepers: threads sleeping 1.2 ms, so about 20,000+ kept intervals a
  second, each with its waker's stacks walked (timer interrupts).

Prints, off and on side by side: the loss against the workload alone in
wall-clock throughput and in work per CPU-second of the workload (its
utime+stime, which holds the BPF programs' time: what load on a shared
machine moves least), each round's against the alone run of the same round,
the median over rounds; the in-kernel cost (bpf_stats, per tracepoint via
`bpftool perf`) per wakeup (sched_waking), per system call (every Flamecam
program's time over the reads done, /dev/zero only) and per context switch;
and kept intervals per second with losses. Rounds run the configurations in
alternating order; --runs runs the workload several times per profiler start
(medians); --base TREE adds another checkout's `flamecam record` (wait info
on) as "base", side by side in the same rounds.

    .venv/bin/python bench/waits.py [--seconds 5] [--rounds 3] [--runs 1]
        [--only NAME] [--configs alone,off,on] [--base /path/to/main]
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
from pathlib import Path

from _common import build, flamecam_record, run_parallel_cpu

# An agent's first seconds scan every process and symbolize every binary it
# meets (a fifth of a CPU); an always-on agent is past them.
WARMUP_S = 2.0


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


def delta(before: dict, after: dict) -> dict[str, tuple[int, int]]:
    """(run_time_ns, run_cnt) each tracepoint's programs added between two reads."""
    out = {}
    for tp, (t, c) in after.items():
        t0, c0 = before.get(tp, (0, 0))
        out[tp] = (t - t0, c - c0)
    return out


def costs(d: dict[str, tuple[int, int]], ops: int, op_is_syscall: bool) -> dict[str, float]:
    """In-kernel ns per wakeup, per context switch and per operation of the workload.

    A wakeup runs sched_waking (sched_wakeup_new for a new task); "per
    syscall" charges every program Flamecam runs (perf event included) to
    the workload's system calls: the whole in-kernel price of one call.
    """
    out: dict[str, float] = {}
    wt = sum(d.get(tp, (0, 0))[0] for tp in ("sched_waking", "sched_wakeup_new"))
    wc = sum(d.get(tp, (0, 0))[1] for tp in ("sched_waking", "sched_wakeup_new"))
    if wc > 1000:
        out["wakeup"] = wt / wc
    st, sc = d.get("sched_switch", (0, 0))
    if sc > 1000:
        out["switch"] = st / sc
    if op_is_syscall and ops:
        out["syscall"] = sum(t for t, _ in d.values()) / ops
    return out


def _median(values: list[float] | None) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


def _median_pct(losses: list[float], width: int) -> str:
    if not losses:
        return f"{'-':>{width}}"
    return f"{100 * statistics.median(losses):+{width - 1}.2f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=1,
                    help="workload runs per round and configuration (one profiler start)")
    ap.add_argument("--only", default="", help="run the workloads whose name contains this")
    ap.add_argument("--configs", default="alone,off,on", help="which of alone,off,on to run")
    ap.add_argument("--base", type=Path,
                    help="also run this tree's `flamecam record` (wait info on) as 'base'")
    args = ap.parse_args()
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    record = ("-F", "99", "-o", "/dev/null", "--format", "folded")
    configs = {
        "alone": None,
        "off": lambda: flamecam_record(*record, "--no-wait-info"),
        "on": lambda: flamecam_record(*record),
    }
    configs = {k: v for k, v in configs.items() if k in args.configs.split(",")}
    if args.base:
        configs["base"] = lambda: flamecam_record(*record, tree=args.base.resolve())
    # name: (argv, copies, system calls per unit the workload prints)
    workloads = {
        # Both threads on one CPU: every round trip is two switches there, no
        # cross-CPU wakeup or idle exit, whose cost varies with where the
        # scheduler happened to put the threads (unpinned rounds swung 2x).
        "ping-pong round trips": (["taskset", "-c", "0", str(build("pingpong.c")),
                                   str(args.seconds)], 1, 0),
        "reads of /dev/zero": ([str(build("zeroreads.c")), str(args.seconds)], 2, 1),
        "1.2 ms sleeps": ([str(build("sleepers.c")), str(args.seconds), "32", "1200"], 1, 0),
    }
    workloads = {k: v for k, v in workloads.items() if args.only in k}
    print("wait info off (--no-wait-info) vs on; ns are in-kernel (bpf_stats), medians;"
          " loss: wall-clock throughput, and work per CPU-second of the workload (its"
          " utime+stime, BPF programs' time included)")
    for wname, (argv, copies, per_unit) in workloads.items():
        # Per round, config: the median over its runs of units per wall second
        # and per CPU-second of the workload.
        rate = {c: [] for c in configs}
        cpu_rate = {c: [] for c in configs}
        cost = {c: {} for c in configs}
        kept = {c: [] for c in configs}
        lost = {c: 0 for c in configs}
        order = list(configs)
        for r in range(args.rounds):
            # Alternating order (alone, off, on, on, off, alone, ...): a drift
            # in the shared machine's load weighs on every configuration alike.
            for cname in (order if r % 2 == 0 else order[::-1]):
                start = configs[cname]
                prof = start() if start else None
                if prof:
                    time.sleep(WARMUP_S)  # past start-up: the always-on steady state
                walls, cpus = [], []
                t0 = time.monotonic()
                for _ in range(args.runs):
                    s0 = tracepoint_stats()
                    n, cpu = run_parallel_cpu(argv, copies)
                    for what, ns in costs(delta(s0, tracepoint_stats()), n * per_unit,
                                          bool(per_unit)).items():
                        cost[cname].setdefault(what, []).append(ns)
                    walls.append(n / args.seconds)
                    cpus.append(n / cpu if cpu else 0.0)
                span = time.monotonic() - t0
                rate[cname].append(statistics.median(walls))
                cpu_rate[cname].append(statistics.median(cpus))
                if prof:
                    log = prof.stop()
                    m = re.search(r"(\d+) off-CPU events, (\d+) lost", log)
                    if m:
                        kept[cname].append(int(m.group(1)) / span)
                        lost[cname] += int(m.group(2))
        alone, alone_cpu = rate.get("alone", []), cpu_rate.get("alone", [])
        base = statistics.median(alone) if alone else 0
        base_cpu = statistics.median(alone_cpu) if alone_cpu else 0
        print(f"\n{wname}: alone {base / 1e3:.1f} k/s, {base_cpu / 1e3:.1f} k per CPU-s"
              f" (rounds: {', '.join(f'{r / 1e3:.0f}' for r in alone)} k/s;"
              f" {', '.join(f'{r / 1e3:.0f}' for r in alone_cpu)} k/CPU-s)")
        print(f"  {'':5} {'loss':>7} {'loss/CPU':>8} {'ns/wakeup':>10} {'ns/syscall':>11}"
              f" {'ns/switch':>10} {'kept/s':>8} {'lost':>5}  loss per CPU-s per round")
        for cname in [c for c in configs if c != "alone"]:
            # Each round's loss against the "alone" run of the same round: a
            # shared machine's throughput swings several-fold between minutes,
            # far less between neighbouring runs; the median drops the outliers.
            losses = [1 - x / a for x, a in zip(rate[cname], alone, strict=False) if a]
            cpu_losses = [1 - x / a for x, a in zip(cpu_rate[cname], alone_cpu, strict=False)
                          if a]
            ns = {w: _median(cost[cname].get(w)) for w in ("wakeup", "syscall", "switch")}
            print(f"  {cname:5} {_median_pct(losses, 7)} {_median_pct(cpu_losses, 8)}"
                  f" {ns['wakeup']:>10} {ns['syscall']:>11} {ns['switch']:>10}"
                  f" {_median(kept[cname]):>8} {lost[cname]:>5}  "
                  + " ".join(f"{100 * x:+.1f}%" for x in cpu_losses), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
