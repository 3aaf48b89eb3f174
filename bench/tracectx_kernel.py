"""Cost of trace linking's kernel side on processes that do not use it.

Syscall-heavy workloads, one copy per CPU, none of them with a
thread-context table:
  syscalls      write(2) to /dev/null + nanosleep(0), a tight loop
  unix sockets  connect + send + accept + recv + answer + close on an abstract
                Unix stream socket of its own, a tight loop: the system calls
                of the table announcement (docs/TRACE_CONTEXT.md), made by a
                process that talks to no agent
  renames same  prctl(PR_SET_NAME) to the thread's own name, a tight loop: how
                tables were announced before (a program on task:task_rename;
                --base with an older checkout shows what that cost)
  renames swap  prctl(PR_SET_NAME) between two names
  pingpong      two threads passing a byte through pipes (a context switch each way)
in alternating rounds (alone, links, no links, then the other way round);
the agent's programs are `flamecam record` with the agent's rates (-F 19
--trace-hz 99, off-CPU on), with trace links and with them compiled out
(--no-trace-links). Prints, per workload, the work done per CPU-second of
the workload (utime + stime of the copies: what the kernel side costs them,
which the load of a shared machine hardly moves) and per wall-clock second
(which also counts the agent's own CPU competing for the cores), as the
median of each round's ratio to the round's alone run, and links / no links;
then the programs' run time per event (bpf_stats).

    .venv/bin/python bench/tracectx_kernel.py [--seconds 2] [--rounds 6] [--base ../main]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import ROOT, build, flamecam_record, run_parallel_cpu
from overhead import bpf_prog_stats

AGENT_RATES = ("-F", "19", "--trace-hz", "99")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--only", default="", help="run the workloads whose name contains this")
    ap.add_argument("--base", type=Path, help="also the agent of this checkout, with links "
                    "(before/after in one run)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (loads eBPF programs)")
        return 1
    cpus = os.cpu_count() or 1
    stats_was = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    try:
        return _bench(args, cpus)
    finally:
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={stats_was}"], check=False)


def _ratios(results: dict, wname: str, a: str, b: str, i: int) -> list[float]:
    """Round by round, config a's figure `i` (0 per CPU-second, 1 per second) over b's."""
    return [x[i] / y[i] for x, y in zip(results[(wname, a)], results[(wname, b)], strict=True)
            if y[i]]


def _bench(args, cpus: int) -> int:
    renames = str(build("renames.c"))
    workloads = {
        "syscalls": [str(build("syscalls.c")), str(args.seconds)],
        "unix sockets": [str(build("unixsock.c")), str(args.seconds)],
        "renames same": [renames, str(args.seconds), "same"],
        "renames swap": [renames, str(args.seconds), "swap"],
        "pingpong": [str(build("pingpong.c")), str(args.seconds)],
    }
    workloads = {k: v for k, v in workloads.items() if args.only in k}
    out = tempfile.mkdtemp(prefix="flamecam-bench-")
    configs = {
        "alone": None,
        "agent, links": (AGENT_RATES, ROOT),
        "agent, no links": ((*AGENT_RATES, "--no-trace-links"), ROOT),
    }
    if args.base:
        configs["base agent, links"] = (AGENT_RATES, args.base.resolve())
    # (work per CPU-second, work per second) of each run
    results: dict[tuple[str, str], list[tuple[float, float]]] = {
        (w, c): [] for w in workloads for c in configs}
    runs = {c: [0, 0, 0.0] for c in configs}  # BPF run time ns, run count, workload CPU-s
    per_prog: dict[str, dict[str, list[int]]] = {c: {} for c in configs}  # prog -> [ns, runs]
    agent_cpu: dict[str, list[float]] = {c: [] for c in configs}  # agent CPU-s per second
    for r in range(args.rounds):
        # Alternating order: a drift of the machine's load over the rounds
        # weighs on every configuration alike.
        for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
            prof = None
            if configs[name] is not None:
                extra, tree = configs[name]
                prof = flamecam_record(*extra, "-o", f"{out}/r{r}.json", tree=tree)
                time.sleep(2.0)  # past start-up: the always-on steady state
            before = bpf_prog_stats()
            cpu0, t0 = prof.cpu_seconds() if prof else 0.0, time.monotonic()
            for wname, argv in workloads.items():
                n, cpu = run_parallel_cpu(argv, cpus)
                runs[name][2] += cpu
                results[(wname, name)].append((n / max(cpu, 1e-9), n / args.seconds))
                print(f"  round {r + 1} {wname:12} {name:16} {n / max(cpu, 1e-9):12,.0f} /CPU-s"
                      f" {n / args.seconds:12,.0f} /s", flush=True)
            after = bpf_prog_stats()
            if prof is not None:
                agent_cpu[name].append((prof.cpu_seconds() - cpu0) / (time.monotonic() - t0))
            for prog, (t, c) in after.items():
                t0_, c0 = before.get(prog, (0, 0))
                runs[name][0] += t - t0_
                runs[name][1] += c - c0
                acc = per_prog[name].setdefault(prog, [0, 0])
                acc[0] += t - t0_
                acc[1] += c - c0
            if prof is not None:
                prof.stop()
    print(f"\nwork relative to alone, median of {args.rounds} rounds' ratios ({cpus} copies);"
          " per CPU-second of the workload, and per second:")
    for wname in workloads:
        base = statistics.median(x[0] for x in results[(wname, "alone")])
        print(f"  {wname:12} alone {base:12,.0f} /CPU-s")
        for name in list(configs)[1:]:
            cpu_r = statistics.median(_ratios(results, wname, name, "alone", 0))
            wall_r = statistics.median(_ratios(results, wname, name, "alone", 1))
            print(f"  {wname:12} {name:16} loss {1 - cpu_r:+.2%} per CPU-s, {1 - wall_r:+.2%}"
                  " per second")
        per_cpu = _ratios(results, wname, "agent, links", "agent, no links", 0)
        wall = _ratios(results, wname, "agent, links", "agent, no links", 1)
        print(f"  {wname:12} links / no links: {statistics.median(per_cpu):.2%} per CPU-s "
              f"(rounds: {', '.join(f'{p:.1%}' for p in per_cpu)}), "
              f"{statistics.median(wall):.2%} per second (goal: loss at most 1%)")
    for name, cpu_s in agent_cpu.items():
        if cpu_s:
            print(f"  the agent ({name}) used {statistics.median(cpu_s):.1%} of a CPU")
    # The programs' own run time (bpf_stats) over the workload's CPU time.
    print("\nkernel side, from bpf_stats (all of Flamecam's programs, host-wide):")
    for name, (t, c, cpu) in runs.items():
        if c:
            print(f"  {name:16} {t / c:6.0f} ns per program run, {c:>10,} runs, "
                  f"{t / 1e9 / max(cpu, 1e-9):6.2%} of the workloads' CPU time")
    for prog in sorted(per_prog["agent, links"]):
        (t1, c1), (t0, c0) = per_prog["agent, links"][prog], per_prog["agent, no links"].get(
            prog, (0, 0))
        if c1:
            without = f"{t0 / c0:7.1f} without" if c0 else "not loaded without"
            print(f"  {prog:32} {t1 / c1:7.1f} ns/run with links, {without}, {c1:,} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
