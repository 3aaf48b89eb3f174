"""Cost of recording why off-CPU intervals waited (issue 13), with and without it.

Three workloads, each alone, under `flamecam record --no-wait-info` and under
`flamecam record` (wait info on), in alternating rounds:

- ping-pong: two threads passing a byte through pipes (every wakeup runs
  sched_waking; waits are far below the threshold, so no stack is walked);
- small reads from /dev/zero (system-call heavy: the wait info adds no
  per-system-call program; its arguments come from saved registers);
- sleepers: threads sleeping 1.2 ms, so about 20,000+ kept intervals a
  second, each with its waker's stacks walked (timer interrupts).

Prints, off and on side by side: throughput loss against the workload
alone (each round's on and off runs against the round's alone run, the
median over rounds, and each round's; rounds alternate their order), per
second of wall clock and per CPU-second of the workload (which the agent's
own CPU and the machine's load hardly move; --base DIR adds that checkout's
agent, wait info on), the in-kernel cost (bpf_stats, per
tracepoint via `bpftool perf`) per wakeup (sched_waking), per system call
(every Flamecam program's time over the reads done, /dev/zero only) and per
context switch, and kept intervals per second with losses.

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="run the workloads whose name contains this")
    ap.add_argument("--configs", default="alone,off,on", help="which of alone,off,on to run")
    ap.add_argument("--base", type=Path, help="also this checkout's agent, wait info on "
                    "(before/after in one run)")
    args = ap.parse_args()
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    record = ("-F", "99", "-o", "/dev/null", "--format", "folded")
    configs = {
        "alone": None,
        "off": lambda: flamecam_record(*record, "--no-wait-info"),
        "on": lambda: flamecam_record(*record),
    }
    if args.base:
        configs["base on"] = lambda: flamecam_record(*record, tree=args.base.resolve())
    # name: (argv, copies, system calls per unit the workload prints)
    workloads = {
        "ping-pong round trips": ([str(build("pingpong.c")), str(args.seconds)], 1, 0),
        "reads of /dev/zero": ([str(build("zeroreads.c")), str(args.seconds)], 2, 1),
        "1.2 ms sleeps": ([str(build("sleepers.c")), str(args.seconds), "32", "1200"], 1, 0),
    }
    workloads = {k: v for k, v in workloads.items() if args.only in k}
    configs = {k: v for k, v in configs.items()
               if k in args.configs.split(",") or k.startswith("base")}
    print("wait info off (--no-wait-info) vs on; ns are in-kernel (bpf_stats), medians")
    for wname, (argv, copies, per_unit) in workloads.items():
        rate = {c: [] for c in configs}
        per_cpu = {c: [] for c in configs}  # work per CPU-second of the workload
        cost = {c: {} for c in configs}
        kept = {c: [] for c in configs}
        lost = {c: 0 for c in configs}
        for r in range(args.rounds):
            # Alternating order: a drift of the machine's load weighs on all alike.
            for cname in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
                start = configs[cname]
                prof = start() if start else None
                if prof:
                    time.sleep(WARMUP_S)  # past start-up: the always-on steady state
                s0 = tracepoint_stats()
                t0 = time.monotonic()
                n, cpu_s = run_parallel_cpu(argv, copies)
                per_cpu[cname].append(n / max(cpu_s, 1e-9))
                span = time.monotonic() - t0
                for what, ns in costs(delta(s0, tracepoint_stats()), n * per_unit,
                                      bool(per_unit)).items():
                    cost[cname].setdefault(what, []).append(ns)
                rate[cname].append(n / args.seconds)
                if prof:
                    log = prof.stop()
                    m = re.search(r"(\d+) off-CPU events, (\d+) lost", log)
                    if m:
                        kept[cname].append(int(m.group(1)) / span)
                        lost[cname] += int(m.group(2))
        alone = rate.get("alone", [])
        base = statistics.median(alone) if alone else 0
        print(f"\n{wname}: alone {base / 1e3:.1f} k/s (rounds: "
              f"{', '.join(f'{r / 1e3:.0f}' for r in alone)})")
        print(f"  {'':7} {'loss':>7} {'ns/wakeup':>10} {'ns/syscall':>11} {'ns/switch':>10}"
              f" {'kept/s':>8} {'lost':>5}  loss per round (per second of wall clock)")
        for cname in [c for c in ("off", "on", "base on") if c in configs]:
            # Each round's loss against the "alone" run just before it: a
            # shared machine's throughput swings several-fold between minutes,
            # far less between neighbouring runs; the median drops the outliers.
            losses = [1 - r / a for r, a in zip(rate[cname], alone, strict=False) if a]
            loss = statistics.median(losses) if losses else 0.0
            ns = {w: _median(cost[cname].get(w)) for w in ("wakeup", "syscall", "switch")}
            print(f"  {cname:7} {100 * loss:+6.2f}% {ns['wakeup']:>10} {ns['syscall']:>11}"
                  f" {ns['switch']:>10} {_median(kept[cname]):>8} {lost[cname]:>5}  "
                  + " ".join(f"{100 * x:+.1f}%" for x in losses), flush=True)
            # Per CPU-second of the workload: what the kernel side costs it, which
            # the agent's own CPU and the machine's load hardly move.
            cpu_losses = [1 - r / a for r, a in zip(per_cpu[cname], per_cpu.get("alone", []),
                                                      strict=False) if a]
            if cpu_losses:
                print(f"  {'':7} {100 * statistics.median(cpu_losses):+6.2f}% per CPU-second "
                      "of the workload: " + " ".join(f"{100 * x:+.1f}%" for x in cpu_losses),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
