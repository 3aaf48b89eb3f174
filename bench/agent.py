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


def busy_window(agent: subprocess.Popen, metrics_port: int, seconds: float,
                sleepers: list[str] | None, pingpong: list[str] | None) -> dict:
    """Runs the workloads for `seconds`; the agent's CPU and the rates they made."""
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
             for argv in (sleepers, pingpong) if argv]
    summed0 = agent_metric(metrics_port, "flamecam_agent_offcpu_summed_total")
    c0, s0, t0 = proc_cpu(agent.pid), host_switches(), time.monotonic()
    outs = [p.communicate()[0] for p in procs]
    dt = time.monotonic() - t0
    cpu, switches = (proc_cpu(agent.pid) - c0) / dt, (host_switches() - s0) / dt
    time.sleep(1.5)  # the agent takes once a second: let the window's counters reach it
    summed = agent_metric(metrics_port, "flamecam_agent_offcpu_summed_total") - summed0
    intervals = int(outs[0]) / seconds if sleepers else 0.0
    return {"cpu": cpu, "switches": switches, "intervals": intervals,
            "summed": summed / seconds,
            "keep_every": agent_metric(metrics_port, "flamecam_agent_offcpu_keep_every"),
            "rss": proc_mem(agent.pid)[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--busy", action="store_true", help="add the busy-host windows")
    ap.add_argument("--cpu-budget", type=float, default=None, metavar="PERCENT",
                    help="the agent's --cpu-budget (default: the agent's own default)")
    ap.add_argument("--sleepers", type=int, default=13,
                    help="threads sleeping 1.2 ms (13 make about 10,000 intervals/s)")
    ap.add_argument("--pingpong-rate", type=int, default=10_000,
                    help="ping-pong round trips a second in the last window")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="flamecam-bench-agent-")
    port = free_port()
    metrics_port = free_port()
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "profiler.cli"]
    server = subprocess.Popen(cli + ["server", "--port", str(port), "--db",
                                     f"sqlite:///{work}/flamecam.db"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = None
    try:
        wait_healthy(url)
        budget = [] if args.cpu_budget is None else ["--cpu-budget", str(args.cpu_budget)]
        agent = subprocess.Popen(cli + ["agent", "--server", url, "--spool-dir",
                                        f"{work}/spool", "--metrics-port", str(metrics_port),
                                        *budget], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(args.warmup)
        c0, t0 = proc_cpu(agent.pid), time.monotonic()
        rss_samples = []
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1)
            rss_samples.append(proc_mem(agent.pid)[0])
        cpu = (proc_cpu(agent.pid) - c0) / (time.monotonic() - t0)
        _, hwm = proc_mem(agent.pid)
        print(f"agent at 19 Hz with off-CPU, whole host, {args.seconds:.0f} s after "
              f"{args.warmup:.0f} s warm-up:")
        print(f"  CPU {100 * cpu:.2f}% of one core")
        print(f"  steady RSS {max(rss_samples) / 1024:.0f} MiB (max over the window), "
              f"peak RSS {hwm / 1024:.0f} MiB (start-up included)")
        if args.busy:
            secs = str(args.seconds)
            sleepers = [str(build("sleepers.c")), secs, str(args.sleepers), "1200"]
            pingpong = [str(build("pingpong.c")), secs, str(args.pingpong_rate)]
            print(f"busy host, {args.seconds:.0f} s windows (cpu budget "
                  f"{'default' if args.cpu_budget is None else args.cpu_budget}%):")
            print(f"  {'window':34} {'switches/s':>10} {'>thr int/s':>10} "
                  f"{'agent CPU':>9} {'keep 1 in':>9} {'summed/s':>9} {'RSS MiB':>7}")
            for name, sl, pp in (
                    ("idle", None, None),
                    (f"{args.sleepers} threads sleeping 1.2 ms", sleepers, None),
                    (f"  + ping-pong {args.pingpong_rate}/s round trips", sleepers, pingpong)):
                if sl is None:
                    sl_argv = ["sleep", secs]
                    w = busy_window(agent, metrics_port, args.seconds, None, sl_argv)
                else:
                    w = busy_window(agent, metrics_port, args.seconds, sl, pp)
                print(f"  {name:34} {w['switches']:10.0f} {w['intervals']:10.0f} "
                      f"{100 * w['cpu']:8.2f}% {w['keep_every']:9.0f} {w['summed']:9.0f} "
                      f"{w['rss'] / 1024:7.0f}", flush=True)
    finally:
        for p in (agent, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
