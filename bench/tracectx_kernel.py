"""Cost of trace linking's kernel side on processes that do not use it.

Two syscall-heavy workloads, one copy per CPU, none of them with a
thread-context table:
  syscalls   write(2) to /dev/null + nanosleep(0), a tight loop
  pingpong   two threads passing a byte through pipes (a context switch each way)
in alternating rounds: alone; under the agent's programs (`flamecam record`
with the agent's rates, -F 19 --trace-hz 99, off-CPU on); and under the same
programs with trace links compiled out (--no-trace-links). Prints each
configuration's throughput relative to running alone (medians over rounds),
and, less noisy on a shared VM, the programs' run time per event (bpf_stats):
what trace links add per program run and as a share of the workloads' CPU.

    .venv/bin/python bench/tracectx_kernel.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time

from _common import build, flamecam_record, run_parallel_cpu
from overhead import bpf_prog_stats

AGENT_RATES = ("-F", "19", "--trace-hz", "99")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
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


def _bench(args, cpus: int) -> int:
    workloads = {"syscalls": build("syscalls.c"), "pingpong": build("pingpong.c")}
    out = tempfile.mkdtemp(prefix="flamecam-bench-")
    configs = {
        "alone": None,
        "agent, links": AGENT_RATES,
        "agent, no links": (*AGENT_RATES, "--no-trace-links"),
    }
    results = {(w, c): [] for w in workloads for c in configs}
    runs = {c: [0, 0, 0.0] for c in configs}  # BPF run time ns, run count, workload CPU-s
    per_prog: dict[str, dict[str, list[int]]] = {c: {} for c in configs}  # prog -> [ns, runs]
    for r in range(args.rounds):
        for name, extra in configs.items():
            prof = None
            if extra is not None:
                prof = flamecam_record(*extra, "-o", f"{out}/r{r}.json")
                time.sleep(2.0)  # past start-up: the always-on steady state
            before = bpf_prog_stats()
            for wname, exe in workloads.items():
                n, cpu = run_parallel_cpu([str(exe), str(args.seconds)], cpus)
                runs[name][2] += cpu
                results[(wname, name)].append(n / args.seconds)
                print(f"  round {r + 1} {wname:9} {name:16} {n / args.seconds:12,.0f} /s",
                      flush=True)
            after = bpf_prog_stats()
            for prog, (t, c) in after.items():
                t0, c0 = before.get(prog, (0, 0))
                runs[name][0] += t - t0
                runs[name][1] += c - c0
                acc = per_prog[name].setdefault(prog, [0, 0])
                acc[0] += t - t0
                acc[1] += c - c0
            if prof is not None:
                prof.stop()
    print(f"\nthroughput relative to alone (median of {args.rounds} rounds, {cpus} copies):")
    for wname in workloads:
        base = statistics.median(results[(wname, "alone")])
        for name in configs:
            med = statistics.median(results[(wname, name)])
            print(f"  {wname:9} {name:16} {med:12,.0f} /s  {med / base:7.2%}"
                  f"  (loss {1 - med / base:+.2%})")
        # Each round ran both configurations back to back: their ratio per
        # round cancels the drift of a shared machine better than medians do.
        paired = [a / b for a, b in zip(results[(wname, "agent, links")],
                                        results[(wname, "agent, no links")], strict=True)]
        print(f"  {wname:9} links / no links: median of rounds {statistics.median(paired):.2%}"
              f" (rounds: {', '.join(f'{p:.1%}' for p in paired)})")
    # Throughput on a shared 2-CPU VM is noisy; the programs' own run time
    # (bpf_stats) over the workload's CPU time is not.
    print("\nkernel side, from bpf_stats (all of Flamecam's programs, host-wide):")
    for name, (t, c, cpu) in runs.items():
        if c:
            print(f"  {name:16} {t / c:6.0f} ns per program run, {c:>10,} runs, "
                  f"{t / 1e9 / max(cpu, 1e-9):6.2%} of the workloads' CPU time")
    for prog in sorted(per_prog["agent, links"]):
        (t1, c1), (t0, c0) = per_prog["agent, links"][prog], per_prog["agent, no links"].get(
            prog, (0, 0))
        if c1 and c0:
            print(f"  {prog:32} {t1 / c1:7.1f} ns/run with links, {t0 / c0:7.1f} without: "
                  f"ratio {t1 / c1 / (t0 / c0):.3f}")
    (t1, c1, cpu1), (t0, c0, _) = runs["agent, links"], runs["agent, no links"]
    if c1 and c0:
        extra = t1 / c1 - t0 / c0
        print(f"  all programs: {t1 / c1:.1f} ns/run with links, {t0 / c0:.1f} without, ratio "
              f"{t1 / c1 / (t0 / c0):.3f}; trace links add {extra:.1f} ns per run: "
              f"{extra * c1 / 1e9 / max(cpu1, 1e-9):+.3%} of the workloads' CPU time "
              f"(goal: at most 1%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
