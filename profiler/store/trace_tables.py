"""Tables of trace linking: spans, the threads that served them, linked samples.

Ids are stored as bytes (16-byte trace id, 8-byte span id): half the size of
hex, and the unique keys make every write idempotent, so an exporter or agent
that resends stores nothing twice. Linked samples point into the store's own
`stacks` table, so a stack seen in a flame graph and in a trace is one row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from profiler.store.schema import metadata

# SQLite makes an INTEGER PRIMARY KEY the rowid; PostgreSQL needs 64 bits here
# (100 spans/s for a year passes 2^31).
_ID = BigInteger().with_variant(Integer, "sqlite")

spans = Table(
    "spans",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant", String(256), nullable=False),
    Column("trace_id", LargeBinary(16), nullable=False),
    Column("span_id", LargeBinary(8), nullable=False),
    Column("parent_id", LargeBinary(8), nullable=False),  # b"" for a root
    Column("root", SmallInteger, nullable=False),  # 1: no parent, or a remote one
    Column("name", Text, nullable=False),
    Column("route", Text, nullable=False),  # http.route, "" when absent
    Column("kind", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("service", Text, nullable=False),
    Column("service_version", Text, nullable=False),
    Column("attributes", Text, nullable=False),  # JSON object of strings
    Column("pid", BigInteger, nullable=False),
    Column("host", Text, nullable=False),
    UniqueConstraint("tenant", "trace_id", "span_id", name="uq_spans"),
    # Trace lists, endpoints and slow-vs-fast selections read this index alone
    # (it holds the duration they sort by, and the names they group by).
    Index("ix_spans_roots_named", "tenant", "service", "root", "start_ns", "duration_ns",
          "name", "route"),
    Index("ix_spans_start", "start_ns"),
)

thread_spans = Table(
    "thread_spans",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant", String(256), nullable=False),
    Column("trace_id", LargeBinary(16), nullable=False),
    Column("span_id", LargeBinary(8), nullable=False),
    Column("pid", BigInteger, nullable=False),
    Column("tid", BigInteger, nullable=False),
    Column("thread_name", Text, nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    # 1: the process flagged the link approximate (asyncio, docs/TRACE_CONTEXT.md)
    Column("approximate", SmallInteger, nullable=False, server_default="0"),
    UniqueConstraint("tenant", "trace_id", "tid", "start_ns", "span_id",
                     name="uq_thread_spans"),
    Index("ix_thread_spans_end", "end_ns"),
)

trace_samples = Table(
    "trace_samples",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant", String(256), nullable=False),
    Column("trace_id", LargeBinary(16), nullable=False),
    Column("span_id", LargeBinary(8), nullable=False),
    Column("kind", SmallInteger, nullable=False),  # 0 on-CPU, 1 off-CPU
    Column("ts_ns", BigInteger, nullable=False),
    Column("pid", BigInteger, nullable=False),
    Column("tid", BigInteger, nullable=False),
    Column("cpu", Integer, nullable=False),
    Column("comm", Text, nullable=False),
    Column("thread_name", Text, nullable=False),
    Column("stack_id", Integer, nullable=False),  # stacks.id
    Column("value_ns", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("reason", String(16), nullable=False),
    # The sample's own labels as a JSON object ("" for none): a kept off-CPU
    # interval's system call, target and waker (profiler/recorder.py).
    Column("labels", Text, nullable=False, server_default=""),
    UniqueConstraint("tenant", "trace_id", "tid", "ts_ns", "kind", "reason",
                     name="uq_trace_samples"),
    Index("ix_trace_samples_ts", "ts_ns"),
)
