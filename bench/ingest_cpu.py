"""Process CPU per Pyroscope push, in-process: the push path alone, base and head in turns.

bench/ingest.py measures a real server, whose CPU per push moves with the
machine's load (clients, waitress, other processes) by more than most ingest
changes. Here one process per run posts bench/ingest.py's push bodies (the
same bytes for both trees) through the Flask test client into a fresh SQLite
store and divides its own CPU time (utime + stime) by the pushes. With
--base the two trees run alternately (base, head; head, base, ...), each on
its own code, and the medians are compared.

    .venv/bin/python bench/ingest_cpu.py [--base TREE] [--head TREE] [--rounds 4]
                                         [--pushes 300] [--profile FILE.prof]
"""

from __future__ import annotations

import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def measure(bodies_file: str, pushes: int, profile: str) -> None:
    """In the tree on PYTHONPATH: warm every series, then CPU per push."""
    import cProfile

    from profiler.server.app import create_app

    print(f"tree {Path(sys.modules['profiler'].__file__).parents[1]}", file=sys.stderr)

    with open(bodies_file, "rb") as f:
        bodies = pickle.load(f)
    db = f"sqlite:///{tempfile.mkdtemp(prefix='flamecam-ingest-cpu-')}/ingest.db"
    app = create_app({"db_url": db, "maintenance": False})
    client = app.test_client()
    headers = {"Content-Type": "application/proto", "Content-Encoding": "gzip"}
    path = "/push.v1.PusherService/Push"
    for body in bodies:  # every series and stack exists, as in a running fleet
        _ok(client.post(path, data=body, headers=headers))
    prof = cProfile.Profile() if profile else None
    t0 = time.process_time()
    if prof:
        prof.enable()
    for i in range(pushes):
        _ok(client.post(path, data=bodies[i % len(bodies)], headers=headers))
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    print(f"{(time.process_time() - t0) / pushes * 1000:.3f} ms CPU/push")


def _ok(resp) -> None:
    if resp.status_code != 200:
        raise SystemExit(f"push refused: {resp.status_code} {resp.get_data(as_text=True)}")


def run(tree: Path, bodies_file: str, pushes: int, profile: str = "") -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    p = subprocess.run([sys.executable, __file__, "--measure", bodies_file, str(pushes),
                        profile], cwd=tree, env=env, capture_output=True, text=True,
                       timeout=600)
    if p.returncode or f"tree {tree}" not in p.stderr:
        raise RuntimeError(f"{tree}: {p.stdout[-1000:]}{p.stderr[-3000:]}")
    return float(p.stdout.split()[-3])


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:  # one run, before anything puts a tree on sys.path
        measure(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    from compare import tree_args  # (bench/ingest.py puts this tree first on sys.path)
    from ingest import push_bodies

    ap = tree_args(rounds=4)
    ap.add_argument("--pushes", type=int, default=300)
    ap.add_argument("--profile", default="", help="cProfile one head run into this file")
    args = ap.parse_args()
    trees = {"head": args.head.resolve()}
    if args.base:
        trees = {"base": args.base.resolve(), **trees}
    with tempfile.NamedTemporaryFile(suffix=".pkl") as f:
        pickle.dump(push_bodies(40)[0], f)
        f.flush()
        got: dict[str, list[float]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name in list(trees)[::-1 if r % 2 else 1]:
                ms = run(trees[name], f.name, args.pushes)
                got[name].append(ms)
                print(f"round {r + 1}: {name} {ms:.3f} ms CPU/push", flush=True)
        if args.profile:
            run(trees["head"], f.name, args.pushes, str(Path(args.profile).resolve()))
    med = {name: statistics.median(v) for name, v in got.items()}
    line = ", ".join(f"{name} {m:.3f}" for name, m in med.items())
    ratio = f"; head/base {med['head'] / med['base']:.2f}x" if "base" in med else ""
    print(f"median process CPU per push over {args.rounds} runs of {args.pushes}: {line} ms"
          f"{ratio} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
