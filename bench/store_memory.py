"""The server's memory on deep distinct stacks (issue 15 item 12).

Starts `python -m profiler.server` (one process, SQLite) from a source tree,
then pushes Pyroscope pprofs of deep distinct stacks: each push holds
`--stacks` samples, each its own stack `--depth` frames deep over a pool of
functions. Prints the server's RSS after each push, its peak, and how long
each push took (a push holds SQLite's write lock while its transactions run).
Run it against two trees to compare them:

    .venv/bin/python bench/store_memory.py [--tree /work/main] [--pushes 12]
"""

from __future__ import annotations

import argparse
import gzip
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", default=str(ROOT), help="source tree the server runs from")
    ap.add_argument("--pushes", type=int, default=12)
    ap.add_argument("--stacks", type=int, default=20_000)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--funcs", type=int, default=20_000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="flamecam-bench-mem-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "profiler.server", "--port", str(port), "--workers", "1",
         "--db", f"sqlite:///{work}/flamecam.db"], cwd=args.tree,
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
