"""Flamecam's server: `serve()` runs the Flask app under waitress."""

from __future__ import annotations

import logging

from profiler.ingest.limits import Limits
from profiler.server.app import create_app, shutdown
from profiler.server.context import ServerConfig

__all__ = ["ServerConfig", "create_app", "serve"]

log = logging.getLogger(__name__)


def serve(host: str = "127.0.0.1", port: int = 4040, db_url: str | None = None, *,
          threads: int = 8, multitenancy: bool = False, auth_token: str | None = None,
          retention_s: int = 7 * 86400, max_body: int = 16 << 20) -> None:
    """Serve until interrupted (what `flamecam server` runs)."""
    from waitress import serve as waitress_serve

    config = ServerConfig(db_url=db_url, multitenancy=multitenancy, auth_token=auth_token,
                          retention_s=retention_s, limits=Limits(max_body=max_body))
    app = create_app(config)
    log.info("flamecam server on http://%s:%d (db %s)", host, port,
             app.extensions["flamecam"].store.url)
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="flamecam",
                       max_request_body_size=max_body + (1 << 20), channel_timeout=30)
    finally:
        shutdown(app)
