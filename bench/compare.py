"""Before/after: bench/ingest.py and bench/query.py of two trees, alternately, in one run.

A refactor is "no slower" only if both trees are measured under the same load:
on a shared machine the load moves by more than most changes. So the two
trees' own benchmark scripts run in turns (base, head; then head, base, ...),
each on its own code (PYTHONPATH and cwd are its tree), and the table gives
the median of each figure per tree and head/base. CPU per push and CPU per
query are the figures load changes least; throughput and wall times are
printed beside them.

    git worktree add /tmp/base 075b4ff && make -C /tmp/base native
    .venv/bin/python bench/compare.py --base /tmp/base [--head .] [--rounds 2]
        [--ingest-seconds 20] [--hosts 10] [--no-postgres]

PostgreSQL runs when it is installed (bench/ingest.py starts a throwaway
cluster for its own run; query gets one here, a fresh database per run).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import PG_BIN, postgres  # noqa: E402

HERE = Path(__file__).resolve().parents[1]

# (figure, regex on the script's output, unit, True when higher is better)
INGEST = [
    ("pushes/s", r"{db}: ([\d.]+) pushes/s", "", True),
    ("server CPU per push", r"{db}: .*server CPU ([\d.]+) ms/push", "ms", False),
]
QUERY = [
    ("write", r"write: [\d.]+ s \(([\d,]+) samples/s\)", "samples/s", True),
    ("compaction", r"compaction: ([\d.]+) s", "s", False),
    ("bytes/sample after compaction", r"([\d.]+) bytes/sample after", "B", False),
] + [
    (f"{name} {kind}", rf"^{re.escape(name)}: cold ([\d.]+) s, warm ([\d.]+) s wall; "
     rf"CPU ([\d.]+) s / ([\d.]+) s", "s", False)
    for name in ("merged flame graph", "diff", "merged, unaligned range",
                 "one thread (tid filter)")
    for kind in ("warm wall", "warm CPU")
]


def run(tree: Path, argv: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    p = subprocess.run([sys.executable, *argv], cwd=tree, env=env, capture_output=True,
                       text=True, timeout=3600)
    if p.returncode:
        raise RuntimeError(f"{tree}: {' '.join(argv)} failed:\n{p.stdout[-2000:]}"
                           f"{p.stderr[-3000:]}")
    return p.stdout


def figure(out: str, name: str, pattern: str) -> float | None:
    m = re.search(pattern, out, re.M)
    if not m:
        return None
    # cold/warm wall/CPU lines: warm wall is group 2, warm CPU group 4
    group = 4 if name.endswith("warm CPU") else 2 if name.endswith("warm wall") else 1
    return float(m.group(group).replace(",", ""))


def tree_args(rounds: int) -> argparse.ArgumentParser:
    """The options of a before/after run: --base, --head and --rounds (alternating)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, help="the tree before (a built worktree)")
    ap.add_argument("--head", type=Path, default=HERE, help="the tree after (default: this)")
    ap.add_argument("--rounds", type=int, default=rounds)
    return ap


def main() -> None:
    ap = tree_args(rounds=2)
    ap.add_argument("--ingest-seconds", type=float, default=20)
    ap.add_argument("--hosts", type=int, default=10, help="bench/query.py fleet size")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    if args.base is None:  # `make bench` runs every script bare
        print("nothing to compare: pass --base DIR, a built worktree of the commit before")
        return
    trees = {"base": args.base.resolve(), "head": args.head.resolve()}
    for name, tree in trees.items():
        commit = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
                                capture_output=True, text=True).stdout.strip()
        print(f"{name}: {tree} at {commit[:100]}")
    pg = not args.no_postgres and (PG_BIN / "initdb").exists()
    dbs = ["SQLite"] + (["PostgreSQL"] if pg else [])
    got: dict[tuple[str, str, str], list[float]] = {}

    def keep(section: str, tree: str, out: str, figures, db: str = "") -> None:
        for name, pattern, _unit, _up in figures:
            v = figure(out, name, pattern.replace("{db}", db))
            if v is not None:
                got.setdefault((section, name, tree), []).append(v)

    ingest_argv = ["bench/ingest.py", "--seconds", str(args.ingest_seconds)]
    ingest_argv += [] if pg else ["--no-postgres"]
    query_argv = ["bench/query.py", "--hosts", str(args.hosts), "--repeat", "3"]
    with (postgres() if pg else contextlib.nullcontext()) as pg_url:
        for r in range(args.rounds):
            order = ["base", "head"] if r % 2 == 0 else ["head", "base"]
            for tree in order:
                print(f"round {r + 1}: {tree}", flush=True)
                out = run(trees[tree], ingest_argv)
                for db in dbs:
                    keep(f"ingest {db}", tree, out, INGEST, db)
                keep("query SQLite", tree, run(trees[tree], query_argv), QUERY)
                if pg_url:
                    url = _fresh_database(pg_url, f"q_{tree}_{r}")
                    keep("query PostgreSQL", tree,
                         run(trees[tree], query_argv + ["--db", url]), QUERY)
    load = os.getloadavg()[0]
    print(f"\nmedians of {args.rounds} alternating runs per tree "
          f"(load average at the end {load:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'':<18} {'figure':<34} {'base':>12} {'head':>12} {'head/base':>10}")
    for section in dict.fromkeys(s for s, _, _ in got):
        for name, _pattern, unit, up in INGEST + QUERY:
            b, h = got.get((section, name, "base")), got.get((section, name, "head"))
            if not b or not h:
                continue
            mb, mh = statistics.median(b), statistics.median(h)
            ratio = mh / mb if mb else float("nan")
            worse = (ratio < 0.9) if up else (ratio > 1.1)
            print(f"{section:<18} {name + (' ' + unit if unit else ''):<34} {mb:>12,.3f} "
                  f"{mh:>12,.3f} {ratio:>9.2f}x{'  <- worse by >10%' if worse else ''}")


def _fresh_database(url: str, name: str) -> str:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


if __name__ == "__main__":
    main()
