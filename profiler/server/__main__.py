"""`python -m profiler.server [options]`: the same as `flamecam server [options]`."""

from __future__ import annotations

import sys

from profiler.cli import main

if __name__ == "__main__":
    sys.exit(main(["server", *sys.argv[1:]]))
