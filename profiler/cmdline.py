"""What every command line shares (`flamecam ...`, `python -m profiler.server`):
argparse value types and the log format."""

from __future__ import annotations

import argparse
import logging


def positive_int(text: str) -> int:
    """A whole number greater than 0, or argparse's usage error naming it."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return v


def setup_logging(verbose: int) -> None:
    """Warnings by default; -v info, -vv debug; every line starts with `flamecam:`."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="flamecam: %(levelname)s: %(message)s")
