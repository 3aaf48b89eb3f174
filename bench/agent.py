"""The always-on agent's own cost on this host: CPU and memory.

Starts a server on loopback and `flamecam agent` (19 Hz, off-CPU on, the
defaults) against it, lets the agent warm up, then reads its CPU time and
RSS from /proc over a steady window. Prints CPU as a share of one core,
steady and peak RSS.

`--busy` adds a busy host, window by window: threads sleeping 1.2 ms in a
loop (each sleep one off-CPU interval above the 1 ms threshold), then the
same plus a ping-pong of short switches. Each window prints the agent's CPU
against the host's context switches a second (/proc/stat) and the
above-threshold intervals a second (counted by the sleepers themselves),
and how many of those the agent kept one by one (`--cpu-budget`: 1 in N).

    .venv/bin/python bench/agent.py [--seconds 30] [--warmup 15]
    .venv/bin/python bench/agent.py --busy [--cpu-budget 2] [--sleepers 13]
    .venv/bin/python bench/agent.py --busy --base main   # main's agent beside this tree's

With `--base REF` the agent of git REF runs beside this tree's, both through
the same windows: on a shared machine other work loads both alike, and each
agent's CPU is its own utime+stime from /proc. In the busy windows the agents
profile the workloads alone (`-p`; the workloads are started first, held
before their first instruction): other work on a shared machine then costs
them nothing either, and the rates are the workloads' (`--whole-host` to
profile everything).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import ROOT, build, wait_healthy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def host_switches() -> int:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("ctxt "):
                return int(line.split()[1])
    return 0


def agent_metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


class Agent:
    """One `flamecam agent` from a source tree, with its own spool and /metrics port."""

    def __init__(self, name: str, tree: Path, url: str, work: str,
                 cpu_budget: float | None, pids: list[int]) -> None:
        self.name, self.metrics_port = name, free_port()
        budget = [] if cpu_budget is None else ["--cpu-budget", str(cpu_budget)]
        only = [a for pid in pids for a in ("-p", str(pid))]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "profiler.cli", "agent", "--server", url, "--spool-dir",
             f"{work}/spool-{name}", "--metrics-port", str(self.metrics_port), *budget, *only],
            cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cpu(self) -> float:
        """The agent's own user + system CPU seconds (all its threads), from /proc."""
        return proc_cpu(self.proc.pid)

    def metric(self, name: str) -> float:
        return agent_metric(self.metrics_port, name)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def source_tree(ref: str, work: str) -> Path:
    """The tree of git `ref` (a commit, a branch) of this repository, unpacked under `work`."""
    out = Path(work) / f"tree-{ref.replace('/', '_')}"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


class Held:
    """A workload started now but held before its first instruction, so that
    its pid is known to the agents' kernel filter before it runs: a shell
    that reads a line, then becomes the workload (same pid)."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(["sh", "-c", 'read _ && exec "$0" "$@"', *argv],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()

    def output(self) -> str:
        out = self.proc.stdout.read()
        self.proc.wait()
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def busy_window(agents: list[Agent], seconds: float, sleepers: Held | None,
                pingpong: Held | None) -> dict:
    """Runs the workloads for `seconds`; each agent's CPU and the rates they made.

    The agents run side by side through the same window, so they see the
    same host: on a shared machine the load of other work moves both alike.
    """
    summed0 = [a.metric("flamecam_agent_offcpu_summed_total") for a in agents]
    c0, s0, t0 = [a.cpu() for a in agents], host_switches(), time.monotonic()
    held = [w for w in (sleepers, pingpong) if w is not None]
    for w in held:
        w.go()
    outs = [w.output() for w in held]
    if not held:
        time.sleep(seconds)
    dt = time.monotonic() - t0
    cpu = [(a.cpu() - c) / dt for a, c in zip(agents, c0, strict=True)]
    switches = (host_switches() - s0) / dt
    time.sleep(1.5)  # the agent takes once a second: let the window's counters reach it
    return {"switches": switches, "intervals": int(outs[0]) / seconds if sleepers else 0.0,
            "agents": [{"cpu": c,
                        "summed": (a.metric("flamecam_agent_offcpu_summed_total") - s) / seconds,
                        "keep_every": a.metric("flamecam_agent_offcpu_keep_every"),
                        "rss": proc_mem(a.proc.pid)[0]}
                       for a, c, s in zip(agents, cpu, summed0, strict=True)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--busy", action="store_true", help="add the busy-host windows")
    ap.add_argument("--cpu-budget", type=float, default=None, metavar="PERCENT",
                    help="the agent's --cpu-budget (default: the agent's own default)")
    ap.add_argument("--base", metavar="REF",
                    help="also run the agent of git REF (e.g. main) side by side, same windows")
    ap.add_argument("--sleepers", type=int, default=13,
                    help="threads sleeping 1.2 ms (13 make about 10,000 intervals/s)")
    ap.add_argument("--pingpong-rate", type=int, default=20_000,
                    help="ping-pong round trips a second in the last window (two switches each)")
    ap.add_argument("--whole-host", action="store_true",
                    help="with --busy: the agents profile the whole host, other work too "
                         "(default: only the workloads, -p, so that other work on a shared "
                         "machine costs them nothing)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="flamecam-bench-agent-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "profiler.cli", "server", "--port",
                               str(port), "--db", f"sqlite:///{work}/flamecam.db"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agents: list[Agent] = []
    windows: list[tuple[str, Held | None, Held | None]] = []
    try:
        wait_healthy(url)
        if args.busy:
            secs = str(args.seconds)
            sleepers = [str(build("sleepers.c")), secs, str(args.sleepers), "1200"]
            pingpong = [str(build("pingpong.c")), secs, str(args.pingpong_rate)]
            windows = [("idle", None, None),
                       (f"{args.sleepers} threads sleeping 1.2 ms", Held(sleepers), None),
                       (f"  + ping-pong {args.pingpong_rate}/s round trips", Held(sleepers),
                        Held(pingpong))]
        pids = [] if args.whole_host else [w.pid for _, *held in windows for w in held if w]
        trees = [("this tree", ROOT)]
        if args.base:
            trees.insert(0, (args.base, source_tree(args.base, work)))
        for name, tree in trees:
            agents.append(Agent(name, tree, url, work, args.cpu_budget, pids))
        time.sleep(args.warmup)
        c0, t0 = [a.cpu() for a in agents], time.monotonic()
        rss_samples: list[list[int]] = [[] for _ in agents]
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1)
            for a, r in zip(agents, rss_samples, strict=True):
                r.append(proc_mem(a.proc.pid)[0])
        dt = time.monotonic() - t0
        print(f"agent at 19 Hz with off-CPU, "
              f"{'the workloads only (-p)' if pids else 'whole host'}, {args.seconds:.0f} s "
              f"after {args.warmup:.0f} s warm-up; CPU is the agent's own utime+stime (/proc):")
        for a, c, r in zip(agents, c0, rss_samples, strict=True):
            print(f"  {a.name:>12}: CPU {100 * (a.cpu() - c) / dt:.2f}% of one core, "
                  f"steady RSS {max(r) / 1024:.0f} MiB (max over the window), "
                  f"peak RSS {proc_mem(a.proc.pid)[1] / 1024:.0f} MiB (start-up included)")
        if args.busy:
            print(f"busy host, {args.seconds:.0f} s windows (cpu budget "
                  f"{'default' if args.cpu_budget is None else args.cpu_budget}%), "
                  f"agents side by side:")
            print(f"  {'window':34} {'switches/s':>10} {'>thr int/s':>10}  " + "  ".join(
                f"{a.name[:12]:>12} {'CPU':>6} {'1 in':>5} {'summed/s':>8} {'MiB':>4}"
                for a in agents))
            for name, sl, pp in windows:
                w = busy_window(agents, args.seconds, sl, pp)
                print(f"  {name:34} {w['switches']:10.0f} {w['intervals']:10.0f}  " + "  ".join(
                    f"{'':>12} {100 * x['cpu']:5.2f}% {x['keep_every']:5.0f} "
                    f"{x['summed']:8.0f} {x['rss'] / 1024:4.0f}" for x in w["agents"]),
                      flush=True)
    finally:
        for _, *held in windows:
            for w in held:
                if w is not None:
                    w.kill()
        for a in agents:
            a.stop()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
