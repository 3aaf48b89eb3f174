"""Linked samples (issue 11 §5): on the known-answer app at ~100 requests/s,
the share of a slow request's wall time that is attributed to it.

Real parts as in tests/traces/test_known_answer.py: a server on SQLite,
`flamecam agent` (eBPF, root) on the app, tests/workloads/trace_app.py under a
pyenv CPython in the tests' venv (tests/otel/conftest.py). Requests are sent
open-loop at --rate per second, --slow-share of them /slow. For each slow
request: attributed = the total of its trace's wall flame graph
(/api/v1/render?query=wall{...}&trace_id=), wall = its root span's duration
plus the pool worker's time on it (the trace's thread intervals off the
request thread). Prints the share's min, median and mean (goal >= 95%).

    .venv/bin/python bench/trace_linking.py [--rate 100] [--seconds 20] [--slow-share 0.03]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.otel.conftest import app_venv  # noqa: E402
from tests.runtimes.conftest import wait_for_line  # noqa: E402
from tests.server.conftest import ServerProcess  # noqa: E402
from tests.traces.test_known_answer import (  # noqa: E402
    APP,
    MS,
    SERVICE,
    Agent,
    settled,
    wall_graph,
)


def drive(port: int, rate: float, seconds: float, slow_share: float) -> list[dict]:
    """Open loop: request i leaves at i/rate whatever the others do."""
    every = max(1, round(1 / slow_share))
    slow: list[dict] = []
    lock = threading.Lock()

    def one(path: str) -> None:
        body = requests.get(f"http://127.0.0.1:{port}{path}", timeout=30).json()
        if path == "/slow":
            with lock:
                slow.append(body)

    t0 = time.monotonic()
    with ThreadPoolExecutor(32) as ex:
        for i in range(int(rate * seconds)):
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            ex.submit(one, "/slow" if i % every == every // 2 else "/fast")
    print(f"sent {int(rate * seconds)} requests in {time.monotonic() - t0:.1f} s "
          f"({len(slow)} slow)")
    return slow


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--slow-share", type=float, default=0.03)
    ap.add_argument("--python", default="3.12", help="pyenv CPython of the app")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flamecam-bench-"))
    venv = app_venv(ROOT / ".pytest_cache" / "d" / "otel-venvs", args.python)
    srv = ServerProcess(f"sqlite:///{work / 'bench.db'}").start()
    app = subprocess.Popen([str(venv / "bin" / "python"), str(APP)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, env={
                               "PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": SERVICE,
                               "OTEL_EXPORTER_OTLP_ENDPOINT": srv.url,
                               "OTEL_BSP_SCHEDULE_DELAY": "500"})
    agent = None
    try:
        port = int(wait_for_line(app, "ready", timeout=60).split()[1])
        requests.get(f"http://127.0.0.1:{port}/fast", timeout=10)
        agent = Agent(srv.url, app.pid, work / "spool")
        agent.wait_started(180)  # the app's table exists: the agent registers it as it starts
        slow = drive(port, args.rate, args.seconds, args.slow_share)
        shares, covered = [], []
        for body in slow:
            view = settled(srv.url, body)
            if view is None:
                shares.append(0.0)
                continue
            root = max(view["spans"], key=lambda s: s["duration_ms"])
            pool = sum(end - start for t in view["threads"] if t["tid"] != body["tid"]
                       for start, end, _ in t["intervals"])
            served = sum(end - start for t in view["threads"] for start, end, _ in
                         t["intervals"])
            wall = root["duration_ms"] + pool
            shares.append(wall_graph(srv.url, body["trace_id"])["numTicks"] / MS / wall)
            covered.append(served / wall)
        print(f"slow requests: {len(shares)}; attributed share of wall time: "
              f"min {min(shares):.1%}, median {statistics.median(shares):.1%}, "
              f"mean {statistics.mean(shares):.1%} (goal >= 95%)")
        print(f"max {max(shares):.1%}; thread intervals cover: min {min(covered):.1%}, "
              f"median {statistics.median(covered):.1%} of it")
    finally:
        if agent:
            agent.stop()
        app.kill()
        app.wait()
        srv.stop()


if __name__ == "__main__":
    main()
