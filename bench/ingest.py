"""Ingest benchmark: Pyroscope pushes per second into a real server.

Each push is what pyroscope-io sends: gzip(PushRequest) holding one pprof of a
10 s window with ~1,000 distinct stacks. Client threads post pre-built bodies
to `python -m profiler.server` (waitress, its default worker processes) for
DURATION seconds, on SQLite and, when PostgreSQL is installed, on a throwaway
PostgreSQL cluster. Each push opens its own connection, as pushes from a
fleet of hosts arrive; --keep-alive makes each client thread reuse one.

    .venv/bin/python bench/ingest.py [--seconds 20] [--clients 4] [--keep-alive]
                                     [--workers N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from profiler.formats import pprof  # noqa: E402
from profiler.formats.proto import profile_pb2, push_pb2  # noqa: E402
from profiler.model import Frame, Profile, Sample  # noqa: E402

PG_BIN = Path(os.environ.get("PG_BIN") or max(
    (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    default="/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def push_bodies(n_bodies: int, stacks_per_push: int = 1000) -> tuple[list[bytes], int]:
    rng = random.Random(7)
    funcs = [Frame(f"app.mod{i % 60}.fn_{i}", "python", file=f"/srv/app/mod{i % 60}.py",
                   line=i % 500) for i in range(2500)]
    # Stacks are paths down a call tree, as in a real program.
    callees: dict[Frame, list[Frame]] = {}
    entries = rng.sample(funcs, 6)
    pool_set: set[tuple[Frame, ...]] = set()
    while len(pool_set) < 3000:
        path = [rng.choice(entries)]
        for _ in range(rng.randint(6, 28)):
            path.append(rng.choice(callees.setdefault(path[-1], rng.sample(funcs, 3))))
        pool_set.add(tuple(path))
    pool = sorted(pool_set, key=lambda p: [f.name for f in p])
    bodies = []
    now = time.time_ns()
    for b in range(n_bodies):
        stacks = rng.sample(pool, stacks_per_push)
        samples = [Sample("cpu", now, 0, 0, 0, "", "", st, 10_000_000 * rng.randint(1, 3))
                   for st in stacks]
        req = push_pb2.PushRequest()
        s = req.series.add()
        for k, v in (("__name__", "process_cpu"), ("service_name", f"svc-{b % 5}"),
                     ("host", f"host-{b}")):
            s.labels.add(name=k, value=v)
        raw = profile_pb2.Profile.FromString(pprof.encode(
            Profile(samples, now, now + 10**10, 100), timestamps=False, compress=False))
        for ps in raw.sample:  # pyroscope-io sends no per-sample labels by default
            del ps.label[:]
        s.samples.add(raw_profile=raw.SerializeToString(), ID="x")
        bodies.append(gzip.compress(req.SerializeToString()))
    return bodies, stacks_per_push


@contextlib.contextmanager
def postgres():
    root = Path(tempfile.mkdtemp(prefix="flamecam-bench-pg-"))
    shutil.chown(root, "postgres", "postgres")
    port = free_port()
    pre = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    run = lambda *a: subprocess.run([*pre, *a], check=True, capture_output=True)  # noqa: E731
    run(str(PG_BIN / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres",
        "--no-sync")
    run(str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
    try:
        run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "bench")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench"
    finally:
        run(str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a server and its worker processes, from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: ppid
            total += sum(int(x) for x in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def bench(db_url: str, bodies: list[bytes], seconds: float, clients: int, keep_alive: bool,
          workers: int | None) -> tuple[int, float, float]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="flamecam-bench-server-", suffix=".log",
                                      delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "profiler.server", "--port", str(port),
                             "--db", db_url, *(["--workers", str(workers)] if workers else [])],
                            cwd=REPO, stdout=log, stderr=log)
    path = "/push.v1.PusherService/Push"
    url = f"http://127.0.0.1:{port}{path}"
    try:
        for _ in range(150):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            time.sleep(0.2)
        headers = {"Content-Type": "application/proto", "Content-Encoding": "gzip"}
        requests.post(url, data=bodies[0], headers=headers, timeout=30).raise_for_status()
        done = [0] * clients
        errors = [0] * clients
        stop = time.monotonic() + seconds

        def client(i: int) -> None:
            # A fleet's pushes come from many hosts, each on its own connection;
            # with --keep-alive each client thread reuses one (and a server
            # process keeps the connections it accepted). http.client, not
            # requests: the client shares the 2 CPUs with the server.
            conn = None
            k = i
            while time.monotonic() < stop:
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conn.request("POST", path, body=bodies[k % len(bodies)], headers=headers)
                    r = conn.getresponse()
                    r.read()
                except OSError as e:
                    errors[i] += 1
                    print(f"  push failed: {e}")
                    conn = None
                    time.sleep(0.5)
                    continue
                if r.status == 200:
                    done[i] += 1
                else:
                    errors[i] += 1
                if not keep_alive or r.will_close:
                    conn.close()
                    conn = None
                k += clients

        t0 = time.monotonic()
        cpu0 = cpu_seconds(proc.pid)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        if sum(errors):
            print(f"  {sum(errors)} pushes failed; server log {log.name}:")
            print(Path(log.name).read_text()[-3000:])
        return sum(done), elapsed, cpu
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--workers", type=int, default=None,
                    help="server processes (default: the server's own default)")
    ap.add_argument("--keep-alive", action="store_true",
                    help="each client reuses one connection (default: one per push)")
    args = ap.parse_args()
    bodies, stacks = push_bodies(40)
    print(f"push body: {len(bodies[0]):,} bytes gzip, {stacks} distinct stacks (10 s window)")
    tmp = tempfile.mkdtemp(prefix="flamecam-bench-")
    try:
        targets = [("SQLite", f"sqlite:///{tmp}/ingest.db")]
        def report(name: str, n: int, dt: float, cpu: float) -> None:
            print(f"{name}: {n / dt:.1f} pushes/s ({n * stacks / dt:,.0f} stacks/s), "
                  f"{args.clients} clients{' kept alive' if args.keep_alive else ''}, "
                  f"{dt:.0f} s; server CPU {cpu / max(n, 1) * 1000:.1f} ms"
                  f"/push = {n / max(cpu, 1e-9):.0f} pushes per CPU-second; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        for name, url in targets:
            report(name, *bench(url, bodies, args.seconds, args.clients, args.keep_alive,
                                     args.workers))
        if not args.no_postgres and (PG_BIN / "initdb").exists():
            with postgres() as url:
                report("PostgreSQL", *bench(url, bodies, args.seconds, args.clients,
                                             args.keep_alive, args.workers))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
