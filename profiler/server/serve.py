"""`serve()`: the Flask app under waitress, in one process or several.

Ingest is CPU-bound Python, so one process uses one core whatever its thread
count. `workers` > 1 forks that many processes sharing one listening socket
(the kernel spreads connections over them); each has its own store handle and
caches, and only the first runs background maintenance. The database keeps
them consistent: ids are resolved by unique keys, one transaction per request.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import signal
import socket
import time

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from profiler.cmdline import masked_url
from profiler.server.app import create_app, shutdown
from profiler.web.context import ServerConfig
from profiler.web.limits import Limits

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """One process per core, at most 4 (each holds its own caches)."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def serve(host: str = "127.0.0.1", port: int = 4040, db_url: str | None = None, *,
          threads: int = 8, workers: int = 1, multitenancy: bool = False,
          auth_token: str | None = None, retention_s: int = 7 * 86400,
          max_body: int = 16 << 20, max_series_per_tenant: int = 100_000) -> None:
    """Serve until interrupted (what `flamecam server` runs)."""
    config = ServerConfig(db_url=db_url, multitenancy=multitenancy, auth_token=auth_token,
                          retention_s=retention_s, limits=Limits(max_body=max_body,
                                                      max_series_per_tenant=max_series_per_tenant))
    if workers <= 1:
        _serve_one(config, host, port, threads, None)
        return
    sock = socket.create_server((host, port), backlog=1024)
    app = create_app(dataclasses.replace(config, maintenance=False))  # migrate before forking
    log.info("flamecam server on http://%s:%d (db %s), %d worker processes", host, port,
             masked_url(app.extensions["flamecam"].store.url), workers)
    shutdown(app)
    children: dict[int, int] = {}
    stopping = False

    def stop(_signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(workers):
        if not stopping:
            children[_fork_worker(config, sock, threads, i)] = i
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        i = children.pop(pid, None)
        if i is None or stopping:
            continue
        log.error("server worker %d exited (status %d); starting it again", i, status)
        time.sleep(1)
        if not stopping:
            children[_fork_worker(config, sock, threads, i)] = i


def _fork_worker(config: ServerConfig, sock: socket.socket, threads: int, i: int) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops workers
        try:  # a worker must not outlive its parent, however the parent ends
            ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # it ended before prctl took effect
            os._exit(0)
        _serve_one(dataclasses.replace(config, maintenance=config.maintenance and i == 0),
                   None, None, threads, sock)
    except BaseException:
        log.exception("server worker %d failed", i)
        code = 1
    finally:
        os._exit(code)


class _JsonErrorTask(ErrorTask):
    """Waitress's own refusals (a body past its limit, bad framing, huge headers)
    as the one-line JSON error the app gives, not waitress's plain text."""

    def execute(self) -> None:
        e = self.request.error
        self.status = f"{e.code} {e.reason}"
        body = json.dumps({"error": f"{e.reason}: {e.body}".splitlines()[0][:500]}).encode()
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _JsonErrorChannel(HTTPChannel):
    error_task_class = _JsonErrorTask


def _serve_one(config: ServerConfig, host: str | None, port: int | None, threads: int,
               sock: socket.socket | None) -> None:
    app = create_app(config)
    where = dict(sockets=[sock]) if sock is not None else dict(host=host, port=port)
    if sock is None:
        log.info("flamecam server on http://%s:%d (db %s)", host, port,
                 masked_url(app.extensions["flamecam"].store.url))
    try:
        # Bodies up to the app's limit plus a margin reach the app, whose
        # bounded reader answers; past that waitress refuses without reading
        # them (and _JsonErrorTask says so in JSON).
        listeners: dict = {}
        server = create_server(app, map=listeners, threads=threads, ident="flamecam",
                               max_request_body_size=config.limits.max_body + (1 << 20),
                               channel_timeout=30, **where)
        for listener in set(listeners.values()):
            if isinstance(listener, BaseWSGIServer):
                listener.channel_class = _JsonErrorChannel
        server.run()
    finally:
        shutdown(app)
