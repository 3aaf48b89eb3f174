"""What every command line shares (`flamecam ...`, `python -m profiler.server`):
exit statuses and the one way a command stops early, argparse value types and
the log format."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# 0 done, 1 failed while working, 2 bad usage (a pid that does not exist is
# one), 3 this host lacks a prerequisite or the permission (the message says
# which and how to fix it).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PREREQ = 0, 1, 2, 3


class CommandError(Exception):
    """A command cannot go on: `flamecam: MESSAGE` on stderr, and exit `status`.

    Raised wherever the reason is known (a layer below the CLI included);
    `flamecam`'s main prints it, so every command fails in one shape.
    """

    status = EXIT_FAILED

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


def run_command(command: Callable[[argparse.Namespace], int],
                args: argparse.Namespace) -> int:
    """`command(args)`'s exit status; a CommandError is printed as `flamecam: MESSAGE`."""
    try:
        return command(args)
    except CommandError as e:
        print(f"flamecam: {e}", file=sys.stderr)
        return e.status


def require_processes(pids: Iterable[int]) -> None:
    """Raises CommandError (bad usage) for the first pid with no process."""
    for pid in pids:
        if not os.path.exists(f"/proc/{pid}"):
            raise CommandError(f"no process with pid {pid}", EXIT_USAGE)


def positive_int(text: str) -> int:
    """A whole number greater than 0, or argparse's usage error naming it."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return v


def add_secret_args(p: argparse.ArgumentParser, flag: str, env: str, help_: str) -> None:
    """`--FLAG VALUE` (env `ENV`) and `--FLAG-file PATH` (env `ENV_FILE`) for a secret.

    A value on the command line is visible to every user in `ps`; a file or
    the environment is not, so both are offered and `secret` picks one.
    """
    dest = flag.lstrip("-").replace("-", "_")
    g = p.add_mutually_exclusive_group()
    g.add_argument(flag, dest=dest, default=os.environ.get(env), metavar="SECRET",
                   help=f"{help_} (env {env}; visible in ps: prefer {flag}-file)")
    g.add_argument(f"{flag}-file", dest=f"{dest}_file", default=os.environ.get(f"{env}_FILE"),
                   metavar="PATH", help=f"read the {flag[2:]} from PATH (env {env}_FILE)")


def secret(args: argparse.Namespace, flag: str) -> str | None:
    """The secret given by `--FLAG-file` (first line, whitespace stripped) or `--FLAG`."""
    dest = flag.lstrip("-").replace("-", "_")
    path = getattr(args, f"{dest}_file", None)
    if not path:
        return getattr(args, dest, None) or None
    try:
        with open(path) as f:
            value = f.readline().strip()
    except OSError as e:
        raise CommandError(f"cannot read {flag}-file {path}: {e.strerror}", EXIT_USAGE) \
            from None
    if not value:
        raise CommandError(f"{flag}-file {path} is empty", EXIT_USAGE)
    return value


def masked_url(url: str | None) -> str:
    """A database URL fit for a log line: its password (in the authority or a
    `password=` parameter) replaced by `***`."""
    if not url:
        return ""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        cred, _, host = netloc.rpartition("@")
        user, sep, _pw = cred.partition(":")
        netloc = f"{user}:***@{host}" if sep else netloc
    query = parts.query
    if "password" in query.lower():
        query = urlencode([(k, "***" if k.lower() == "password" else v)
                           for k, v in parse_qsl(query, keep_blank_values=True)], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # urlunsplit would turn sqlite://// into sqlite://
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def setup_logging(verbose: int) -> None:
    """Warnings by default; -v info, -vv debug; every line starts with `flamecam:`."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="flamecam: %(levelname)s: %(message)s")
