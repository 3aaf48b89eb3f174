"""`python -m profiler.server [--host H] [--port P] [--db URL]` (same as `flamecam server`)."""

from __future__ import annotations

import argparse
import logging
import os

from profiler.server import serve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="flamecam server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4040)
    p.add_argument("--db", default=os.environ.get("FLAMECAM_DB"),
                   help="SQLAlchemy URL; default sqlite under ./data")
    p.add_argument("--multitenancy", action="store_true")
    p.add_argument("--auth-token", default=os.environ.get("FLAMECAM_AUTH_TOKEN"))
    p.add_argument("--retention", type=int, default=7 * 86400, help="seconds")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(args.host, args.port, args.db, multitenancy=args.multitenancy,
          auth_token=args.auth_token, retention_s=args.retention)


if __name__ == "__main__":
    main()
