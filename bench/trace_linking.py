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
        [--explain N] [--base TREE]

--base TREE: the same shares also from a server of another tree (e.g.
/work/main) on the same database, side by side: one run, one set of requests.

--explain N: for the N requests with the smallest share, where their time
went, per thread of the trace: the time its thread intervals cover, the exact
CPU time (the trace view's), the linked on-CPU samples (count x period) and
off-CPU intervals inside the intervals, and the same thread's events inside
them that are *not* linked to the trace (from the profile, no trace filter).
"""

from __future__ import annotations

import argparse
import os
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
from tests.server.conftest import ServerProcess, free_port  # noqa: E402
from tests.traces.test_known_answer import (  # noqa: E402
    APP,
    MS,
    SERVICE,
    TRACE_HZ,
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


def _events(srv: str, tid: int, lo_ms: float, hi_ms: float, trace_id: str = "") -> list:
    """(t_ms, on-CPU?, dur_ms, reason, span) of a thread's events in [lo, hi)."""
    params = {"query": f'wall{{service_name="{SERVICE}"}}', "tids": str(tid),
              "from": int(lo_ms), "until": int(hi_ms) + 1}
    if trace_id:
        params["trace_id"] = trace_id
    ans = requests.get(srv + "/api/v1/thread-events", params=params, timeout=30).json()
    ev = ans["events"]
    return [(ans["t0_ms"] + t / 1000, bool(c), d / MS, ans["reasons"][r], ans["spans"][sp])
            for c, t, d, r, sp in zip(ev["cpu"], ev["t_us"], ev["dur_ns"], ev["reason"],
                                      ev["span"], strict=True)]


def explain(srv: str, body: dict, share: float, period_ms: float) -> str:
    """Where one slow request's wall time went, thread by thread (--explain)."""
    view = requests.get(f"{srv}/api/v1/trace/{body['trace_id']}", timeout=10).json()
    out = [f"trace {body['trace_id']}: share {share:.1%}; breakdown "
           f"{ {k: round(v / MS, 1) for k, v in view['breakdown'].items()} }"]
    for t in view["threads"]:
        ivs = [(a, b) for a, b, _ in t["intervals"]]
        if not ivs:
            continue
        lo, hi = min(a for a, _ in ivs), max(b for _, b in ivs)
        linked = _events(srv, t["tid"], lo - 50, hi + 50, body["trace_id"])
        every = _events(srv, t["tid"], lo - 50, hi + 50)
        lcpu = [e for e in linked if e[1]]
        loff = [e for e in linked if not e[1]]
        # The profile's events carry no span: an event is linked when the trace has it too.
        have = {(round(e[0], 3), e[1]) for e in linked}
        every = [(*e[:4], "" if (round(e[0], 3), e[1]) not in have else "y") for e in every]
        ucpu = [e for e in every if e[1] and not e[4] and any(a <= e[0] < b for a, b in ivs)]
        uoff = [e for e in every if not e[1] and not e[4] and
                any(e[0] < b and e[0] + e[2] > a for a, b in ivs)]
        out.append(
            f"  tid {t['tid']} {t['thread_name']}: served {sum(b - a for a, b in ivs):.1f} ms in "
            f"{len(ivs)} interval(s); exact cpu {t['cpu_ns'] / MS:.1f} ms; linked: "
            f"{len(lcpu)} on-CPU samples = {len(lcpu) * period_ms:.1f} ms, off-CPU "
            f"{sum(e[2] for e in loff):.1f} ms in {len(loff)}; unlinked inside: {len(ucpu)} "
            f"on-CPU samples, off-CPU "
            f"{[(round(e[0] - lo, 2), round(e[2], 2), e[3]) for e in uoff]}")
        out.append(f"    intervals (ms from {lo:.1f}): "
                   f"{[(round(a - lo, 2), round(b - lo, 2)) for a, b in ivs]}")
        out.append("    events: " + " ".join(
            f"{e[0] - lo:+.1f}{'C' if e[1] else f'/{e[2]:.1f}{e[3][:4]}'}"
            f"{'' if e[4] else '!'}" for e in every if lo - 15 <= e[0] <= hi + 15))
    return "\n".join(out)


def base_server(tree: Path, db_url: str) -> subprocess.Popen:
    """A server of another tree on the same database (--base), on a free port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "profiler.server", "--port", str(port),
                             "--db", db_url], cwd=tree, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(tree)})
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    for _ in range(150):
        try:
            if requests.get(proc.url + "/healthz", timeout=1).ok:  # type: ignore[attr-defined]
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server of {tree} did not start")


def summary(name: str, shares: list[float]) -> str:
    return (f"{name}: attributed share of wall time: min {min(shares):.1%}, median "
            f"{statistics.median(shares):.1%}, mean {statistics.mean(shares):.1%}, "
            f"max {max(shares):.1%} (goal >= 95%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--slow-share", type=float, default=0.03)
    ap.add_argument("--python", default="3.12", help="pyenv CPython of the app")
    ap.add_argument("--base", type=Path, help="also ask a server of this tree (side by side)")
    ap.add_argument("--explain", type=int, default=0, metavar="N",
                    help="show where the time of the N least attributed requests went")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flamecam-bench-"))
    cache = ROOT / ".pytest_cache" / "d" / "otel-venvs"
    cache.mkdir(parents=True, exist_ok=True)  # a fresh tree has no pytest cache yet
    venv = app_venv(cache, args.python)
    srv = ServerProcess(f"sqlite:///{work / 'bench.db'}").start()
    app = subprocess.Popen([str(venv / "bin" / "python"), str(APP)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, env={
                               "PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": SERVICE,
                               "OTEL_EXPORTER_OTLP_ENDPOINT": srv.url,
                               "OTEL_BSP_SCHEDULE_DELAY": "500"})
    agent = base = None
    try:
        port = int(wait_for_line(app, "ready", timeout=60).split()[1])
        requests.get(f"http://127.0.0.1:{port}/fast", timeout=10)
        agent = Agent(srv.url, app.pid, work / "spool")
        agent.wait_started(180)  # the app's table exists: the agent registers it as it starts
        slow = drive(port, args.rate, args.seconds, args.slow_share)
        shares, covered, by_share, base_shares = [], [], [], []
        if args.base:
            base = base_server(args.base, srv.db_url)
        for body in slow:
            view = settled(srv.url, body)
            if view is None:
                shares.append(0.0)
                by_share.append((0.0, body))
                continue
            root = max(view["spans"], key=lambda s: s["duration_ms"])
            pool = sum(end - start for t in view["threads"] if t["tid"] != body["tid"]
                       for start, end, _ in t["intervals"])
            served = sum(end - start for t in view["threads"] for start, end, _ in
                         t["intervals"])
            wall = root["duration_ms"] + pool
            shares.append(wall_graph(srv.url, body["trace_id"])["numTicks"] / MS / wall)
            if base:
                base_shares.append(wall_graph(base.url, body["trace_id"])["numTicks"] / MS / wall)
            by_share.append((shares[-1], body))
            covered.append(served / wall)
        print(f"slow requests: {len(shares)}")
        if base_shares:
            print(summary(f"base {args.base}", base_shares))
        print(summary(f"this tree {ROOT}", shares))
        print(f"thread intervals cover: min {min(covered):.1%}, "
              f"median {statistics.median(covered):.1%} of it")
        by_share.sort(key=lambda x: x[0])
        for share, body in by_share[:args.explain]:
            print(explain(srv.url, body, share, 1000 / TRACE_HZ))
    finally:
        if base:
            base.kill()
            base.wait()
        if agent:
            agent.stop()
        app.kill()
        app.wait()
        srv.stop()


if __name__ == "__main__":
    main()
