"""Query and storage benchmark on a synthetic fleet.

Fleet: HOSTS hosts x 1 hour at 19 Hz on 2 CPUs (100 hosts: 13.68 M samples),
5 services of 1,500 distinct stacks each (paths down a call tree of 1,500
functions, some ending in native and kernel frames), two releases
(service_version 1.0 / 1.1, where 1.1 burns more in some stacks). Data is
written through the store's write path in 10 s blocks
(as agents push), then compacted as the server's background job does.
Prints bytes/sample and the times of a merged flame graph and a diff (also
with each node's significance weights), both through the HTTP API (Flask
test client, JSON included) and cold/warm.

    .venv/bin/python bench/query.py [--hosts 100] [--db URL]

`--case host-wall` (issue 16): one whole host over an hour instead, every
process's on-CPU samples and its threads' off-CPU waits (PROCESSES processes
of their own code, so stacks do not merge across them), and the wall flame
graph the web UI asks for (`wall{}`, maxNodes 20000 and unbounded): the
render call's time and its JSON size.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.model import Frame  # noqa: E402
from profiler.server.app import ServerConfig, create_app, shutdown  # noqa: E402
from profiler.store import ColumnBatch, SampleColumns, Store  # noqa: E402
from profiler.store import maintenance as m  # noqa: E402

HZ = 19
CPUS = 2
WINDOW_S = 10
PERIOD_NS = 1_000_000_000 // HZ
SERVICES = ["api", "checkout", "search", "billing", "auth"]


def service_model(name: str, rng: random.Random):
    """Frames, stacks and weights of one service; version 1.1 burns more in one function."""
    funcs = [Frame(f"{name}.mod{i % 50}.fn_{i}", "python", file=f"/srv/{name}/mod{i % 50}.py",
                   line=10 + i % 400) for i in range(1500)]
    natives = [Frame(f"lib{i % 7}_op_{i}", "native", f"/usr/lib/lib{i % 7}.so", "b" * 40,
                     0x1000 + i * 16) for i in range(300)]
    kernel = [Frame(f"ksys_{i}", "kernel") for i in range(60)]
    # Stacks are paths down a call tree (each function calls a few others), as in
    # real programs, so stacks share prefixes; leaves may go native, then kernel.
    callees: dict[Frame, list[Frame]] = {}
    stacks = []
    seen = set()
    entries = rng.sample(funcs, 6)
    while len(stacks) < 1500:
        path = [rng.choice(entries)]
        for _ in range(rng.randint(6, 28)):
            kids = callees.setdefault(path[-1], rng.sample(funcs, rng.randint(2, 4)))
            path.append(rng.choice(kids))
        if rng.random() < 0.4:
            path += rng.sample(natives, rng.randint(1, 3))
        if rng.random() < 0.2:
            path += rng.sample(kernel, rng.randint(1, 3))
        if tuple(path) not in seen:
            seen.add(tuple(path))
            stacks.append(path)
    frames: list[Frame] = []
    index: dict[Frame, int] = {}
    local = []
    for s in stacks:
        ids = []
        for f in s:
            if f not in index:
                index[f] = len(frames)
                frames.append(f)
            ids.append(index[f])
        local.append(tuple(ids))
    weights = [1.0 / (i + 1) ** 1.1 for i in range(len(local))]
    slow = list(weights)
    for i in range(0, len(local), 37):  # the regression of release 1.1
        slow[i] *= 6
    cum = lambda ws: [sum(ws[: i + 1]) for i in range(len(ws))]  # noqa: E731
    return frames, local, cum(weights), cum(slow)


def window_columns(rng: random.Random, t0_ns: int, cum: list[float], nstacks: int,
                   pid: int, tids: list[int]) -> SampleColumns:
    cols = SampleColumns(strings=["", "python3", *[f"worker-{i}" for i in range(len(tids))]])
    n_per_cpu = HZ * WINDOW_S
    ts = []
    cpus = []
    for cpu in range(CPUS):
        phase = rng.randrange(PERIOD_NS)
        for k in range(n_per_cpu):
            ts.append(t0_ns + phase + k * PERIOD_NS + rng.randrange(40) * 1000)
            cpus.append(cpu)
    order = sorted(range(len(ts)), key=ts.__getitem__)
    n = len(ts)
    cols.ts = [ts[i] - ts[i] % 1000 for i in order]
    cols.cpu = array("I", [cpus[i] for i in order])
    cols.stack = array("I", rng.choices(range(nstacks), cum_weights=cum, k=n))
    threads = rng.choices(range(len(tids)), weights=[8, 4, 2, 1, 1, 1, 1, 1][: len(tids)], k=n)
    cols.tid = array("q", [tids[t] for t in threads])
    cols.thread = array("I", [2 + t for t in threads])
    cols.pid = array("q", [pid] * n)
    cols.comm = array("I", [1] * n)
    cols.value = array("q", [PERIOD_NS] * n)
    cols.count = array("I", [1] * n)
    cols.reason = array("I", [0] * n)
    cols.labels = array("I", [0] * n)
    return cols


def build_fleet(store: Store, hosts: int, t0: int, seconds: int = 3600) -> int:
    rng = random.Random(42)
    models = {s: service_model(s, rng) for s in SERVICES}
    host_info = []
    for h in range(hosts):
        svc = SERVICES[h % len(SERVICES)]
        version = "1.0" if h % 2 == 0 else "1.1"
        pid = 1000 + h
        tids = [pid + i for i in range(8)]
        host_info.append((f"host-{h:03d}", svc, version, pid, tids))
    total = 0
    t_start = time.perf_counter()
    for w in range(seconds // WINDOW_S):
        batches = []
        for host, svc, version, pid, tids in host_info:
            frames, stacks, cum, slow = models[svc]
            cols = window_columns(rng, t0 + w * WINDOW_S * 10**9,
                                  slow if version == "1.1" else cum, len(stacks), pid, tids)
            labels = {"service_name": svc, "service_version": version, "host": host}
            batches.append(ColumnBatch("cpu", labels, frames, stacks, cols))
            total += len(cols)
        store.write("anonymous", batches)
        if w % 60 == 59:
            print(f"  wrote {w + 1} windows, {total:,} samples, "
                  f"{time.perf_counter() - t_start:.0f} s", flush=True)
    return total


PROCESSES = 30
REASONS = ["sleep", "lock", "io", "runqueue", "net"]


def build_host(store: Store, t0: int, seconds: int = 3600) -> int:
    """One host's cpu and offcpu samples: PROCESSES processes of 1,500 stacks each."""
    rng = random.Random(7)
    procs = []
    for p in range(PROCESSES):
        frames, stacks, cum, _ = service_model(f"proc{p}", rng)
        # off-CPU stacks end with their reason, one reason per stack
        reason_frames = [Frame(f"[off-cpu:{r}]", "offcpu") for r in REASONS]
        off_frames = frames + reason_frames
        off_stacks = [s + (len(frames) + i % len(REASONS),) for i, s in enumerate(stacks)]
        pid = 2000 + p * 16
        procs.append((p, frames, stacks, cum, off_frames, off_stacks, pid,
                      [pid + i for i in range(8)]))
    labels = {"service_name": "host", "host": "host-000"}
    total = 0
    for w in range(seconds // WINDOW_S):
        batches = []
        ts0 = t0 + w * WINDOW_S * 10**9
        for _p, frames, stacks, cum, off_frames, off_stacks, pid, tids in procs:
            cols = window_columns(rng, ts0, cum, len(stacks), pid, tids)
            batches.append(ColumnBatch("cpu", labels, frames, stacks, cols))
            off = window_columns(rng, ts0, cum, len(off_stacks), pid, tids)
            off.strings += REASONS
            off.reason = array("I", [len(off.strings) - len(REASONS) + s % len(REASONS)
                                     for s in off.stack])
            off.value = array("q", [PERIOD_NS * 3] * len(off))
            batches.append(ColumnBatch("offcpu", labels, off_frames, off_stacks, off))
            total += len(cols) + len(off)
        store.write("anonymous", batches)
    return total


def host_wall(args) -> None:
    """The whole-host wall flame graph over an hour, through the HTTP API."""
    tmp = tempfile.mkdtemp(prefix="flamecam-bench-host-")
    url = args.db or f"sqlite:///{args.keep or tmp + '/host.db'}"
    hour = 3600 * 10**9
    now = time.time_ns()
    t0 = now - now % hour - 2 * hour
    try:
        if not (args.keep and Path(args.keep).exists()):
            store = Store(url)
            t = time.perf_counter()
            n = build_host(store, t0, args.seconds)
            cfg = m.MaintenanceConfig()
            while m.compact(store, cfg, now_ns=now + hour, max_groups=10_000):
                pass
            store.close()
            print(f"host: {PROCESSES} processes x {args.seconds} s, {n:,} samples "
                  f"(cpu + offcpu), written and compacted in {time.perf_counter() - t:.0f} s")
        store = Store(url)
        with store.engine.connect() as conn:
            t0 = conn.exec_driver_sql("SELECT min(t_start) FROM blocks").scalar()
            t0 -= t0 % hour
        store.close()
        app = create_app(ServerConfig(db_url=url, maintenance=False))
        client = app.test_client()
        lo, hi = t0 // 10**9, (t0 + args.seconds * 10**9) // 10**9
        for max_nodes in (20000, 0):
            path = f"/api/v1/render?query=wall{{}}&from={lo}&until={hi}"
            if max_nodes:
                path += f"&maxNodes={max_nodes}"
            times = []
            for _ in range(max(2, args.repeat)):
                t = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.data[:200]
            answer = r.get_json()
            fb = answer["flamebearer"]
            nodes = sum(len(lv) for lv in fb["levels"]) // 4
            other = sum(1 for lv in fb["levels"] for i in range(3, len(lv), 4)
                        if fb["names"][lv[i]] == "other")
            print(f"wall render, maxNodes {max_nodes or 'unbounded'}: cold {times[0] * 1000:.0f}"
                  f" ms, warm {min(times[1:]) * 1000:.0f} ms; {len(r.data) / 1e6:.2f} MB JSON, "
                  f"{nodes:,} nodes ({other} 'other'), {len(fb['names']):,} names")
        print(f"(load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        shutdown(app)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=("fleet", "host-wall"), default="fleet")
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: temp SQLite)")
    ap.add_argument("--keep", default=None,
                    help="SQLite file to keep the fleet in; reused (queries only) if present")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.case == "host-wall":
        host_wall(args)
        return
    tmp = tempfile.mkdtemp(prefix="flamecam-bench-")
    url = args.db or f"sqlite:///{args.keep or tmp + '/fleet.db'}"
    now = time.time_ns()
    hour = 3600 * 10**9
    t0 = now - now % hour - 2 * hour
    try:
        if args.keep and Path(args.keep).exists():
            store = Store(url)
            with store.engine.connect() as conn:
                t0 = conn.exec_driver_sql("SELECT min(t_start) FROM blocks").scalar()
                t0 -= t0 % hour
            store.close()
            queries(url, t0, args)
            return
        store = Store(url)
        t = time.perf_counter()
        n = build_fleet(store, args.hosts, t0, args.seconds)
        t_write = time.perf_counter() - t
        size0 = store.size_bytes()
        t = time.perf_counter()
        cfg = m.MaintenanceConfig()
        while m.compact(store, cfg, now_ns=now + hour, max_groups=10_000):
            pass
        t_compact = time.perf_counter() - t
        if store.is_sqlite:
            with store.engine.connect() as conn:
                conn.exec_driver_sql("VACUUM")
        size = store.size_bytes()
        store.close()
        print(f"fleet: {args.hosts} hosts x {args.seconds} s x {HZ} Hz x {CPUS} CPUs = "
              f"{n:,} samples")
        print(f"write: {t_write:.1f} s ({n / t_write:,.0f} samples/s); "
              f"compaction: {t_compact:.1f} s")
        print(f"storage: {size0 / n:.2f} bytes/sample before compaction, "
              f"{size / n:.2f} bytes/sample after ({size / 2**20:.1f} MiB)")

        queries(url, t0, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def queries(url: str, t0: int, args) -> None:
    """Time the merged flame graph and the diff through the HTTP API."""
    app = create_app(ServerConfig(db_url=url, maintenance=False))
    client = app.test_client()
    lo, hi = t0 // 10**9, (t0 + args.seconds * 10**9) // 10**9
    render = f"/api/v1/render?query=cpu{{}}&from={lo}&until={hi}"
    diff = (f"/api/v1/render-diff?leftQuery=cpu{{service_version=\"1.0\"}}&leftFrom={lo}"
            f"&leftUntil={hi}&rightQuery=cpu{{service_version=\"1.1\"}}&rightFrom={lo}"
            f"&rightUntil={hi}")
    edge = f"/api/v1/render?query=cpu{{}}&from={lo + 437}&until={hi - 611}"
    thread = (f"/api/v1/render?query=cpu{{service_name=\"api\"}}&from={lo}&until={hi}"
              f"&tid=1001")
    for label, path, width in (("merged flame graph", render, 4), ("diff", diff, 7),
                               ("diff with weights (significance)", diff + "&weights=1", 7),
                               ("merged, unaligned range", edge, 4),
                               ("one thread (tid filter)", thread, 4)):
        times, cpu = [], []
        for _ in range(max(2, args.repeat)):
            t, c = time.perf_counter(), time.process_time()
            r = client.get(path)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            assert r.status_code == 200, r.data[:200]
        fb = r.get_json()["flamebearer"]
        nodes = sum(len(lv) for lv in fb["levels"]) // width
        print(f"{label}: cold {times[0]:.2f} s, warm {min(times[1:]):.2f} s wall; "
              f"CPU {cpu[0]:.2f} s / {min(cpu[1:]):.2f} s ({len(fb['names'])} names, "
              f"{nodes:,} nodes)")
    print(f"(load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    shutdown(app)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
