"""The always-on agent's own cost on this host: CPU and memory.

Starts a server on loopback and `flamecam agent` (19 Hz, off-CPU on, the
defaults) against it, lets the agent warm up, then reads its CPU time and
RSS from /proc over a steady window. Prints CPU as a share of one core,
steady and peak RSS.

    .venv/bin/python bench/agent.py [--seconds 30] [--warmup 15]
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

from _common import ROOT


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=15)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="flamecam-bench-agent-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "profiler.cli"]
    server = subprocess.Popen(cli + ["server", "--port", str(port), "--db",
                                     f"sqlite:///{work}/flamecam.db"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = None
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        agent = subprocess.Popen(cli + ["agent", "--server", url, "--spool-dir",
                                        f"{work}/spool", "--metrics-port", "0"], cwd=ROOT,
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
