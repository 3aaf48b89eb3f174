"""The server's command-line options and what running them does.

`flamecam server` (the cli) and `python -m profiler.server` both build their
options here and call `run`; `flamecam run` reuses the listening options.
Flask, SQLAlchemy and waitress load only when `run` serves (about a second of
imports that `flamecam record` must not pay to build its parser).
"""

from __future__ import annotations

import argparse
import logging
import os

from profiler.cmdline import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_secret_args,
    positive_int,
    secret,
)


def add_listen_args(p: argparse.ArgumentParser) -> None:
    """Where to listen and which database: shared with `flamecam run`."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=4040, help="port (default 4040)")
    p.add_argument("--db", default=os.environ.get("FLAMECAM_DB"), metavar="URL",
                   help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/flamecam "
                        "(default: SQLite under ./data; env FLAMECAM_DB)")


def add_server_args(p: argparse.ArgumentParser) -> None:
    """Every option of `flamecam server`."""
    add_listen_args(p)
    p.add_argument("--multitenancy", action="store_true",
                   help="separate tenants by the X-Scope-OrgID header")
    add_secret_args(p, "--auth-token", "FLAMECAM_AUTH_TOKEN",
                    "require 'Bearer TOKEN' (or Basic user:TOKEN) on ingest and query")
    p.add_argument("--retention", type=positive_int, default=7 * 86400, metavar="SECONDS",
                   help="keep data this long (default 7 days)")
    p.add_argument("--max-body-mib", type=positive_int, default=16, metavar="MIB",
                   help="largest accepted request body, compressed (default 16)")
    p.add_argument("--max-series-per-tenant", type=positive_int, default=100_000, metavar="N",
                   help="series a tenant may have; a push that would add more is refused "
                        "with a 400 and stores nothing (default 100000)")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="server processes sharing the port (default: one per CPU, at most 4)")


def run(args: argparse.Namespace, verbose: int = 0) -> int:
    """Serve until interrupted; 0 when stopped, 1 when the port cannot be served."""
    from profiler.server.serve import default_workers, serve

    if not verbose:
        logging.getLogger().setLevel(logging.INFO)
    try:
        serve(args.host, args.port, args.db, multitenancy=args.multitenancy,
              auth_token=secret(args, "--auth-token"), retention_s=args.retention,
              max_body=args.max_body_mib << 20,
              max_series_per_tenant=args.max_series_per_tenant,
              workers=args.workers or default_workers())
    except OSError as e:
        raise CommandError(f"cannot serve on {args.host}:{args.port}: {e.strerror}",
                           EXIT_FAILED) from e
    return EXIT_OK
