"""Fixtures for the server tests: a throwaway PostgreSQL cluster, stores, servers.

PostgreSQL runs as the `postgres` user (it refuses root) in a temporary
directory on a loopback port, for the whole session, and is stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.workloads import die_with_pytest

PG_BIN = Path(os.environ.get("PG_BIN") or max(
    (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    default="/usr/lib/postgresql/15/bin"))
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str, **kw) -> subprocess.CompletedProcess:
    cmd = list(args)
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="session")
def pg_server():
    """Base URL (without database) of a PostgreSQL started for this session."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL binaries missing in {PG_BIN}")
        pytest.skip("PostgreSQL is not installed")
    root = Path(tempfile.mkdtemp(prefix="flamecam-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                 "--no-sync")
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                 "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                 "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


_db_counter = 0


def new_pg_db(base: str) -> str:
    global _db_counter
    _db_counter += 1
    name = f"flamecam_{os.getpid()}_{_db_counter}"
    import psycopg

    with psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh empty database URL, SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flamecam.db'}"
    return new_pg_db(request.getfixturevalue("pg_server"))


@pytest.fixture
def app(db_url):
    from profiler.server.app import ServerConfig, create_app, shutdown

    application = create_app(ServerConfig(db_url=db_url, maintenance=False))
    yield application
    shutdown(application)


@pytest.fixture
def client(app):
    return app.test_client()


class ServerProcess:
    """`python -m profiler.server` in a subprocess, on a free loopback port."""

    def __init__(self, db_url: str, port: int | None = None, *extra: str) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "profiler.server", "--port", str(self.port),
             "--db", self.db_url, *self.extra],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=die_with_pytest)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.proc.stderr.read().decode()[-2000:])
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc:
            terminate(self.proc, 10)
        self.proc = None


def terminate(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM, `grace` seconds to finish (an agent ships its last batch), then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def server_factory():
    servers: list[ServerProcess] = []

    def make(db_url: str, *extra: str) -> ServerProcess:
        s = ServerProcess(db_url, None, *extra)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()
