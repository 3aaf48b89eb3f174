"""One SELECT's result as columns: integers as arrays, the rest dictionary-coded.

A trace view reads 100,000 linked samples at once; a row tuple and a Python
object per value were two thirds of that answer. On a SQLite file the C
`_sqlcols.read` (built by `make native`) steps the rows itself into buffers,
making a Python object only per distinct text value; elsewhere (PostgreSQL,
in-memory SQLite, not built) the driver's rows are shaped the same way here.

Each column is an `array("q")` (kind "i": integers only) or a `Coded` (kind
"d": each row's index into the column's distinct values, first seen first).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from operator import itemgetter

from sqlalchemy import Select
from sqlalchemy.engine import Connection

from profiler.store.columns import Coded, Column
from profiler.store.columns import coded as _coded

try:
    from profiler.store import _sqlcols
except ImportError:  # not built: the driver's rows
    _sqlcols = None


def _ints(raw: bytes) -> array:
    a = array("q")
    a.frombytes(raw)
    return a


def sqlite_file(conn: Connection) -> str | None:
    """The file of a SQLite connection's database; None for anything else."""
    if conn.dialect.name != "sqlite":
        return None
    path = conn.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def driver_sql(conn: Connection, query: Select) -> tuple[str, Sequence | dict]:
    """`query` as the driver's SQL text and its parameters (IN lists expanded)."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    return str(compiled), ([params[k] for k in compiled.positiontup] if compiled.positional
                           else params)


def _native(path: str, sql: str, args: Sequence, kinds: str) -> list[Column] | None:
    """The C reader's columns; None when it cannot open the file as it does
    (read-write, for a WAL file's shared memory): the driver reads it then."""
    try:
        got = _sqlcols.read(path, sql, tuple(args), kinds)
    except OSError:
        return None
    out: list[Column] = []
    for kind, col in zip(kinds, got, strict=True):
        if kind == "i":
            out.append(_ints(col))
        else:
            codes = array("I")
            codes.frombytes(col[0])
            out.append(Coded(codes, col[1]))
    return out


def read_columns(conn: Connection, query: Select, kinds: str, native: bool = True
                 ) -> list[Column]:
    """The columns of `query`, each read as `kinds` says: "i" integers, "d"
    coded. `native=False` reads the driver's rows even where the C reader runs."""
    sql, args = driver_sql(conn, query)
    path = sqlite_file(conn) if native and _sqlcols is not None else None
    got = _native(path, sql, args, kinds) if path is not None else None
    if got is not None:
        return got
    cur = conn.connection.cursor()
    try:
        cur.execute(sql, args)
        rows = cur.fetchall()
    finally:
        cur.close()
    cols = [list(map(itemgetter(i), rows)) for i in range(len(kinds))]
    return [array("q", c) if k == "i" else _coded(c) for k, c in zip(kinds, cols, strict=True)]


__all__ = ["Coded", "driver_sql", "read_columns", "sqlite_file"]
