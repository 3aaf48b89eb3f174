"""The Flask application: blueprints, auth, tenants, JSON errors."""

from __future__ import annotations

import base64
import hmac
import logging
import re

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from profiler.ingest.otlp_routes import bp as otlp_bp
from profiler.ingest.routes import bp as ingest_bp
from profiler.query import routes as query_routes
from profiler.query.engine import QueryEngine
from profiler.query.trace_routes import bp as trace_bp
from profiler.store import SeriesLimitExceeded, StoreUnavailable, TraceStore, open_store
from profiler.store.maintenance import Maintenance, MaintenanceConfig
from profiler.web.context import EXT, ServerConfig, State
from profiler.web.errors import BadRequest
from webui import blueprint as webui_bp

__all__ = ["ServerConfig", "create_app", "shutdown"]

log = logging.getLogger(__name__)

_TENANT = re.compile(r"^[A-Za-z0-9_.\-|]{1,150}$")
_OPEN_PATHS = ("/healthz", "/metrics")
_AUTH_PREFIXES = ("/api/", "/pyroscope/", "/push.v1.", "/v1/")  # /v1/: OTLP
DEFAULT_TENANT = "anonymous"


def create_app(config: ServerConfig | dict | None = None) -> Flask:
    """Build the server app; opens (and migrates) the store."""
    if isinstance(config, dict):
        config = ServerConfig(**config)
    config = config or ServerConfig()
    app = Flask(__name__)
    app.wsgi_app = _CollapseSlashes(app.wsgi_app)
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body + 1024 * 1024
    app.json.sort_keys = False
    store = open_store(config.db_url)
    traces = TraceStore(store)
    app.extensions[EXT] = State(config, store, traces)
    app.extensions[query_routes.ENGINE] = QueryEngine(store)
    if config.maintenance:
        worker = Maintenance(store, MaintenanceConfig(
            retention_s=config.retention_s, downsample_after_s=config.downsample_after_s,
            interval_s=config.maintenance_interval_s), traces)
        worker.start()
        app.extensions["flamecam.maintenance"] = worker

    app.register_blueprint(ingest_bp)
    app.register_blueprint(otlp_bp)
    app.register_blueprint(query_routes.bp)
    app.register_blueprint(trace_bp)
    app.register_blueprint(webui_bp)

    @app.before_request
    def authenticate():
        if request.path in _OPEN_PATHS:
            return None
        cfg = config
        if cfg.auth_token and (request.path.startswith(_AUTH_PREFIXES)
                               or request.path == "/ingest"):
            if not _authorized(request.headers.get("Authorization", ""), cfg.auth_token):
                resp = jsonify(error="missing or wrong credentials")
                resp.status_code = 401
                resp.headers["WWW-Authenticate"] = 'Bearer realm="flamecam"'
                return resp
        org = request.headers.get("X-Scope-OrgID", "").strip()
        if cfg.multitenancy:
            if not org and not request.path.startswith("/ui") and request.path != "/":
                resp = jsonify(error="X-Scope-OrgID header is required", code="unauthenticated",
                               message="X-Scope-OrgID header is required")
                resp.status_code = 401
                return resp
            if org and not _TENANT.match(org):
                resp = jsonify(error="invalid X-Scope-OrgID")
                resp.status_code = 400
                return resp
            g.tenant = org
        else:
            g.tenant = DEFAULT_TENANT
        return None

    @app.get("/healthz")
    def healthz():
        try:
            store.series("__healthz__")
        except Exception as e:  # the database is what can be unhealthy
            # /healthz needs no token, and a driver's message names the
            # database's host and port: the reason goes to the log, and to
            # callers only with the token.
            reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
            log.warning("healthz: database unhealthy: %s", reason)
            if config.auth_token and _authorized(request.headers.get("Authorization", ""),
                                                 config.auth_token):
                return jsonify(status="unhealthy", error=reason), 503
            return jsonify(status="unhealthy"), 503
        return jsonify(status="ok")

    @app.errorhandler(BadRequest)
    def bad_request(e: BadRequest):
        resp = jsonify(error=e.message)
        resp.status_code = e.status
        return resp

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        resp = jsonify(error=(e.description or e.name).splitlines()[0])
        resp.status_code = e.code or 500
        return resp

    @app.errorhandler(SeriesLimitExceeded)
    def too_many_series(e: SeriesLimitExceeded):
        # Not retryable (a 400, not a 429): an agent drops the batch and
        # reports its samples as `rejected` losses with its next batch.
        log.warning("refused on %s: %s", request.path, e)
        resp = jsonify(error=str(e), code="resource_exhausted", message=str(e))
        resp.status_code = 400
        return resp

    @app.errorhandler(StoreUnavailable)
    def database_unavailable(e: Exception):
        log.warning("database error on %s: %s", request.path, str(e).splitlines()[0])
        resp = jsonify(error="database unavailable, retry later", code="unavailable",
                       message="database unavailable, retry later")
        resp.status_code = 503
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(Exception)
    def internal_error(e: Exception):
        log.exception("unhandled error on %s", request.path)
        return jsonify(error="internal error"), 500

    return app


class _CollapseSlashes:
    """WSGI wrapper: `//push.v1...` (a client URL with a trailing slash) routes as `/push.v1...`.

    Done before routing because Flask would answer a redirect, which push
    clients do not follow for POST.
    """

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = re.sub("/{2,}", "/", path)
        return self.app(environ, start_response)


def _authorized(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return hmac.compare_digest(value.strip().encode(), token.encode())
    if scheme == "basic":
        try:
            creds = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        if ":" in token:
            return hmac.compare_digest(creds.encode(), token.encode())
        # Basic with the token as password (Pyroscope clients send user:token).
        return hmac.compare_digest(creds.partition(":")[2].encode(), token.encode())
    return False


def shutdown(app: Flask) -> None:
    """Stop background work and close the store (tests and serve() call this)."""
    worker = app.extensions.get("flamecam.maintenance")
    if worker:
        worker.stop()
    app.extensions[EXT].store.close()
