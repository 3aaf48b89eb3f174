"""The known-answer trace tests reuse the server fixtures (tests/server) and the
per-interpreter app venvs (tests/otel)."""

from tests.otel.conftest import otel_venvs  # noqa: F401
from tests.runtimes.conftest import spawn  # noqa: F401
from tests.server.conftest import db_url, pg_server, server_factory  # noqa: F401
