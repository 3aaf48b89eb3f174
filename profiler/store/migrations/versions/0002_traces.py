"""Trace linking: spans, thread spans, linked samples.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "spans",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("trace_id", sa.LargeBinary(16), nullable=False),
        sa.Column("span_id", sa.LargeBinary(8), nullable=False),
        sa.Column("parent_id", sa.LargeBinary(8), nullable=False),
        sa.Column("root", sa.SmallInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("duration_ns", sa.BigInteger, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("service_version", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("pid", sa.BigInteger, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.UniqueConstraint("tenant", "trace_id", "span_id", name="uq_spans"),
    )
    op.create_index("ix_spans_roots", "spans",
                    ["tenant", "service", "root", "start_ns", "duration_ns"])
    op.create_index("ix_spans_start", "spans", ["start_ns"])
    op.create_table(
        "thread_spans",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("trace_id", sa.LargeBinary(16), nullable=False),
        sa.Column("span_id", sa.LargeBinary(8), nullable=False),
        sa.Column("pid", sa.BigInteger, nullable=False),
        sa.Column("tid", sa.BigInteger, nullable=False),
        sa.Column("thread_name", sa.Text, nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("end_ns", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("tenant", "trace_id", "tid", "start_ns", "span_id",
                            name="uq_thread_spans"),
    )
    op.create_index("ix_thread_spans_end", "thread_spans", ["end_ns"])
    op.create_table(
        "trace_samples",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("trace_id", sa.LargeBinary(16), nullable=False),
        sa.Column("span_id", sa.LargeBinary(8), nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("ts_ns", sa.BigInteger, nullable=False),
        sa.Column("pid", sa.BigInteger, nullable=False),
        sa.Column("tid", sa.BigInteger, nullable=False),
        sa.Column("cpu", sa.Integer, nullable=False),
        sa.Column("comm", sa.Text, nullable=False),
        sa.Column("thread_name", sa.Text, nullable=False),
        sa.Column("stack_id", sa.Integer, nullable=False),
        sa.Column("value_ns", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.UniqueConstraint("tenant", "trace_id", "tid", "ts_ns", "kind", "reason",
                            name="uq_trace_samples"),
    )
    op.create_index("ix_trace_samples_ts", "trace_samples", ["ts_ns"])


def downgrade() -> None:
    for name in ("trace_samples", "thread_spans", "spans"):
        op.drop_table(name)
