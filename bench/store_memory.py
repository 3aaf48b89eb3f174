"""The server's memory on deep distinct stacks (issue 15 item 12).

Starts `python -m profiler.server` (one process, SQLite) from a source tree,
then pushes Pyroscope pprofs of deep distinct stacks: each push holds
`--stacks` samples, each its own stack `--depth` frames deep over a pool of
functions. Prints the server's RSS after each push, its peak, and how long
each push took (a push holds SQLite's write lock while its transactions run).
Run it against two trees to compare them:

    .venv/bin/python bench/store_memory.py [--tree /work/main] [--pushes 12]

With `--query-trees A B ..`, the flame graphs of all of it (`--max-nodes`,
0 for none) are then drawn once per tree, each in a fresh process of that
tree over the same database (maintenance off, so all read the same blocks):
its peak RSS against its RSS before the query, the time, and the answer's
total and node count, which must agree. `--keep FILE` keeps the database and
reuses it (no pushes) when it exists.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import ROOT, wait_healthy
from agent import free_port, proc_mem

from profiler.formats.proto import profile_pb2, push_pb2


def push_body(seed: int, stacks: int, depth: int, funcs: int) -> bytes:
    rng = random.Random(seed)
    p = profile_pb2.Profile()
    p.string_table.extend(["", "cpu", "nanoseconds"])
    p.sample_type.add(type=1, unit=2)
    for i in range(1, funcs + 1):
        p.string_table.append(f"app.module{i % 97}.function_number_{i}")
        p.function.add(id=i, name=len(p.string_table) - 1)
        p.location.add(id=i).line.add(function_id=i)
    for _ in range(stacks):
        s = p.sample.add(value=[10**7])
        s.location_id.extend(rng.randrange(1, funcs + 1) for _ in range(depth))
    p.time_nanos = time.time_ns() - 10**9
    req = push_pb2.PushRequest()
    series = req.series.add()
    series.labels.add(name="service_name", value="deep")
    series.samples.add(raw_profile=gzip.compress(p.SerializeToString(), 1))
    return req.SerializeToString()


# Run in a fresh process of the tree under test: one render through the HTTP
# API (JSON included), its time, the peak RSS it reached and its answer.
QUERY = """
import json, sys, time
def mem():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line[:5]] = int(line.split()[1]) // 1024
    return out
from profiler.server.app import ServerConfig, create_app, shutdown
app = create_app(ServerConfig(db_url=sys.argv[1], maintenance=False))
client = app.test_client()
client.get("/api/v1/labels?from=now-7d&until=now")  # imports and connections warm
before = mem()
t = time.perf_counter()
r = client.get(f"/api/v1/render?query=cpu{{}}&from=now-7d&until=now&maxNodes={sys.argv[2]}")
dt = time.perf_counter() - t
fb = r.get_json()["flamebearer"]
after = mem()
print(json.dumps({"status": r.status_code, "ms": dt * 1000, "rss_before": before["VmRSS"],
                  "peak": after["VmHWM"], "rss_after": after["VmRSS"], "bytes": len(r.data),
                  "ticks": fb["numTicks"], "nodes": sum(map(len, fb["levels"])) // 4}))
shutdown(app)
"""


def query_side(db_url: str, trees: list[str], max_nodes: list[int]) -> None:
    """The flame graph once per tree, each in its own fresh process: peak RSS and answer."""
    print("query side: one render per fresh process (peak RSS over the RSS before it)")
    print(f"  {'tree':40s} {'maxNodes':>9s} {'time':>8s} {'RSS before':>10s} {'peak':>9s} "
          f"{'query':>9s} {'JSON':>8s} {'nodes':>10s} numTicks")
    for mn in max_nodes:
        answers = set()
        for tree in trees:
            out = subprocess.run([sys.executable, "-c", QUERY, db_url, str(mn)], cwd=tree,
                                 env={"PATH": "/usr/bin:/bin", "PYTHONPATH": tree},
                                 capture_output=True, text=True, timeout=1800)
            if out.returncode:
                print(f"  {tree:40s} {mn or 'none':>9} failed: {out.stderr.strip()[-300:]}")
                continue
            a = json.loads(out.stdout.strip().splitlines()[-1])
            answers.add(a["ticks"])
            print(f"  {tree:40s} {mn or 'none':>9} {a['ms']:6.0f} ms {a['rss_before']:6d} MiB "
                  f"{a['peak']:5d} MiB {a['peak'] - a['rss_before']:5d} MiB "
                  f"{a['bytes'] / 2**20:5.1f} MB {a['nodes']:10,d} {a['ticks']}", flush=True)
        if len(answers) > 1:
            print("  TOTALS DIFFER between trees")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", default=str(ROOT), help="source tree the server runs from")
    ap.add_argument("--pushes", type=int, default=12)
    ap.add_argument("--stacks", type=int, default=20_000)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--funcs", type=int, default=20_000)
    ap.add_argument("--query-trees", nargs="*", default=[], metavar="TREE",
                    help="draw the flame graph once per tree, each in a fresh process")
    ap.add_argument("--max-nodes", type=int, nargs="*", default=[20000, 0],
                    help="maxNodes of the query-side renders (0: none given)")
    ap.add_argument("--keep", default=None, metavar="FILE",
                    help="SQLite file to keep the pushes in; reused (no pushes) if present")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="flamecam-bench-mem-")
    db = args.keep or f"{work}/flamecam.db"
    try:
        if not (args.keep and Path(args.keep).exists()):
            pushes(args, db)
        if args.query_trees:
            query_side(f"sqlite:///{db}", args.query_trees, args.max_nodes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def pushes(args: argparse.Namespace, db: str) -> None:
    """The pushes, into a server from `args.tree`, and its flame graph of all of it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "profiler.server", "--port", str(port), "--workers", "1",
         "--db", f"sqlite:///{db}"], cwd=args.tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": args.tree},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url)
        print(f"server from {args.tree}: {args.pushes} pushes of {args.stacks} distinct "
              f"stacks {args.depth} deep")
        print(f"  start RSS {proc_mem(server.pid)[0] / 1024:.0f} MiB")
        for i in range(args.pushes):
            body = push_body(i, args.stacks, args.depth, args.funcs)
            t0 = time.monotonic()
            req = urllib.request.Request(url + "/push.v1.PusherService/Push", data=body,
                                         headers={"Content-Type": "application/proto"})
            with urllib.request.urlopen(req, timeout=600) as r:
                status = r.status
            dt = time.monotonic() - t0
            print(f"  push {i + 1:2d} ({len(body) / 2**20:.1f} MB): HTTP {status} in "
                  f"{dt:5.1f} s, server RSS {proc_mem(server.pid)[0] / 1024:5.0f} MiB",
                  flush=True)
        if args.query_trees:
            return  # drawn by each tree below
        t0 = time.monotonic()
        with urllib.request.urlopen(url + "/api/v1/render?query=cpu{}&from=now-1h&until=now",
                                    timeout=600) as r:
            r.read()
        rss, peak = proc_mem(server.pid)
        print(f"  flame graph of all of it in {time.monotonic() - t0:.1f} s, server RSS "
              f"{rss / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
