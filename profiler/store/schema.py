"""Tables of the Flamecam store (SQLAlchemy Core).

Frames and stacks are deduplicated by a 16-byte content hash; a stack is the
packed array of its frame ids, root first. Samples live only inside blocks
(see `blocks.py`), one row per series and time window.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

frames = Table(
    "frames",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", LargeBinary(16), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("module", Text, nullable=False, default=""),
    Column("build_id", Text, nullable=False, default=""),
    Column("offset", BigInteger, nullable=False, default=0),
    Column("file", Text, nullable=False, default=""),
    Column("line", Integer, nullable=False, default=0),
)

stacks = Table(
    "stacks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", LargeBinary(16), nullable=False, unique=True),
    Column("frames", LargeBinary, nullable=False),
)

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", LargeBinary(16), nullable=False, unique=True),
    Column("tenant", String(256), nullable=False),
    Column("kind", String(255), nullable=False),  # `cpu`, `offcpu` or a profile type id
    Column("labels", Text, nullable=False),
    Index("ix_series_tenant_kind", "tenant", "kind"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", Integer, ForeignKey("series.id"), nullable=False),
    Column("t_start", BigInteger, nullable=False),
    Column("t_end", BigInteger, nullable=False),
    # 0: as ingested, 1: compacted into a window, 2: downsampled (no raw samples)
    Column("level", SmallInteger, nullable=False, default=0),
    Column("n_samples", Integer, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("agg", LargeBinary, nullable=False),
    Column("raw", LargeBinary, nullable=True),
    Index("ix_blocks_series_time", "series_id", "t_start"),
    Index("ix_blocks_level_end", "level", "t_end"),
)

# An agent's (agent_id, seq) per tenant: a resent batch is acknowledged, not stored twice.
agent_batches = Table(
    "agent_batches",
    metadata,
    Column("agent_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("received_ns", BigInteger, nullable=False),
    Column("tenant", String(256), nullable=False),
    UniqueConstraint("tenant", "agent_id", "seq", name="uq_agent_batches"),
)

# What agents report lost with their batches, per tenant, host and reason.
agent_losses = Table(
    "agent_losses",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("tenant", String(256), nullable=False),
    Column("host", String(256), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Index("ix_agent_losses_tenant_ts", "tenant", "ts_ns"),
)
