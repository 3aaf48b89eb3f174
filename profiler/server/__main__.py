"""`python -m profiler.server [options]`: the same as `flamecam server [options]`."""

from __future__ import annotations

import argparse
import sys

from profiler.cmdline import run_command, setup_logging
from profiler.server.command import add_server_args, run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m profiler.server",
        description="Serve Flamecam's ingest, query API and web UI (as `flamecam server`).")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log detail")
    add_server_args(p)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    return run_command(lambda a: run(a, a.verbose), args)


if __name__ == "__main__":
    sys.exit(main())
