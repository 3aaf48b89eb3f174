"""Secrets stay secret: no password in the server's log, no database address
from /healthz without the token, tokens from a file or the environment instead
of the command line (visible in ps)."""

from __future__ import annotations

import pytest
import requests

from profiler.cli import _agent_opts, build_parser
from profiler.cmdline import CommandError, masked_url
from tests.server.conftest import ServerProcess, new_pg_db


def test_masked_url():
    assert masked_url("postgresql+psycopg://app:s3cr%40t@db.internal:5433/flamecam") == \
        "postgresql+psycopg://app:***@db.internal:5433/flamecam"
    assert masked_url("postgresql://db/flamecam?user=app&password=s3cret&sslmode=require") == \
        "postgresql://db/flamecam?user=app&password=***&sslmode=require"
    assert masked_url("postgresql://app@db/flamecam") == "postgresql://app@db/flamecam"
    assert masked_url("sqlite:////var/lib/flamecam/f.db") == "sqlite:////var/lib/flamecam/f.db"


@pytest.mark.postgres
def test_server_log_has_no_password_and_token_file_works(pg_server, tmp_path):
    url = new_pg_db(pg_server).replace("postgres@", "postgres:pw-S3CRET@")  # trust: any pw
    token = tmp_path / "token"
    token.write_text("tok-S3CRET\n")
    srv = ServerProcess(url, None, "--auth-token-file", str(token), "--workers", "1").start()
    try:
        cmdline = open(f"/proc/{srv.proc.pid}/cmdline", "rb").read()
        assert b"tok-S3CRET" not in cmdline
        assert requests.get(srv.url + "/api/v1/labels", timeout=5).status_code == 401
        r = requests.get(srv.url + "/api/v1/labels", timeout=5,
                         headers={"Authorization": "Bearer tok-S3CRET"})
        assert r.status_code == 200, r.text
    finally:
        srv.proc.terminate()
        log = srv.proc.communicate(timeout=15)[1].decode()
        srv.proc = None
    assert "flamecam server on" in log and ":***@127.0.0.1" in log, log[-2000:]
    assert "pw-S3CRET" not in log, log[-2000:]


@pytest.mark.postgres
def test_healthz_names_no_database_without_the_token(pg_server):
    import psycopg

    from profiler.server.app import ServerConfig, create_app, shutdown

    url = new_pg_db(pg_server)
    app = create_app(ServerConfig(db_url=url, maintenance=False, auth_token="tok"))
    try:
        client = app.test_client()
        assert client.get("/healthz").get_json() == {"status": "ok"}
        with psycopg.connect(pg_server.replace("postgresql+psycopg", "postgresql") + "/postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        r = client.get("/healthz")
        assert r.status_code == 503 and r.get_json() == {"status": "unhealthy"}, r.data
        port = pg_server.rsplit(":", 1)[1]
        assert b"127.0.0.1" not in r.data and port.encode() not in r.data
        r = client.get("/healthz", headers={"Authorization": "Bearer tok"})
        assert r.status_code == 503 and r.get_json()["error"], r.data
    finally:
        shutdown(app)


def test_agent_token_from_file_or_environment(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("from-file\n")
    args = build_parser().parse_args(["agent", "--server", "http://x", "--token-file",
                                      str(token)])
    assert _agent_opts(args).token == "from-file"
    monkeypatch.setenv("FLAMECAM_TOKEN", "from-env")
    args = build_parser().parse_args(["agent", "--server", "http://x"])
    assert _agent_opts(args).token == "from-env"
    monkeypatch.delenv("FLAMECAM_TOKEN")
    monkeypatch.setenv("FLAMECAM_TOKEN_FILE", str(token))
    args = build_parser().parse_args(["agent", "--server", "http://x"])
    assert _agent_opts(args).token == "from-file"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--server", "http://x", "--token", "a",
                                   "--token-file", str(token)])
    (tmp_path / "empty").write_text("")
    args = build_parser().parse_args(["agent", "--server", "http://x", "--token-file",
                                      str(tmp_path / "empty")])
    with pytest.raises(CommandError, match="empty"):  # flamecam prints it, exits 2
        _agent_opts(args)
