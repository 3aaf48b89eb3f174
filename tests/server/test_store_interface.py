"""The store's interface holds: outside the store only its interface is imported
(no backend, no block format; that only the store imports SQLAlchemy is
tests/test_layers.py's check), and a database that goes away is the store's
error (503), not SQLAlchemy's (500)."""

from __future__ import annotations

import ast
from pathlib import Path

import psycopg
import pytest

from profiler.server.app import ServerConfig, create_app, shutdown
from tests.server.conftest import new_pg_db

PROFILER = Path(__file__).resolve().parents[2] / "profiler"
# What code outside profiler/store may import from it: the interface, the
# columnar batch types and the upkeep thread, never a backend or the block format.
STORE_API = {"profiler.store", "profiler.store.interface", "profiler.store.columns",
             "profiler.store.maintenance"}
BACKEND = {"Store", "store", "schema", "blocks", "block_reads", "migrate", "migrations"}


def _imports(path: Path) -> set[str]:
    """Modules imported, and `from profiler.store import X` as "profiler.store:X"."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            if node.module == "profiler.store":
                out.update(f"profiler.store:{a.name}" for a in node.names)
    return out


def test_only_the_store_imports_its_backend_and_block_format():
    store_dir = PROFILER / "store"
    wrong = []
    for path in sorted(PROFILER.rglob("*.py")):
        if store_dir in path.parents:
            continue
        for name in _imports(path):
            if ((name.startswith("profiler.store.") and name not in STORE_API)
                    or (name.startswith("profiler.store:") and name.split(":")[1] in BACKEND)):
                wrong.append(f"{path.relative_to(PROFILER)}: {name}")
    assert wrong == []


@pytest.mark.postgres
def test_database_gone_is_503_with_a_reason(pg_server):
    url = new_pg_db(pg_server)
    name = url.rsplit("/", 1)[1]
    app = create_app(ServerConfig(db_url=url, maintenance=False))
    try:
        client = app.test_client()
        assert client.get("/api/v1/labels").status_code == 200
        with psycopg.connect(pg_server.replace("postgresql+psycopg", "postgresql") + "/postgres",
                             autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s", (name,))
        r = client.get("/api/v1/labels")
        assert r.status_code == 503
        assert r.get_json()["error"] == "database unavailable, retry later"
        assert r.headers["Retry-After"] == "5"
    finally:
        shutdown(app)
