"""Initial schema: frames, stacks, series, blocks, agent batches.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frames",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.LargeBinary(16), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("module", sa.Text, nullable=False),
        sa.Column("build_id", sa.Text, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
    )
    op.create_table(
        "stacks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.LargeBinary(16), nullable=False, unique=True),
        sa.Column("frames", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.LargeBinary(16), nullable=False, unique=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
    )
    op.create_index("ix_series_tenant_kind", "series", ["tenant", "kind"])
    op.create_table(
        "blocks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), nullable=False),
        sa.Column("t_start", sa.BigInteger, nullable=False),
        sa.Column("t_end", sa.BigInteger, nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("n_samples", sa.Integer, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("agg", sa.LargeBinary, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_blocks_series_time", "blocks", ["series_id", "t_start"])
    op.create_index("ix_blocks_level_end", "blocks", ["level", "t_end"])
    op.create_table(
        "agent_batches",
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("received_ns", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("agent_id", "seq", name="uq_agent_batches"),
    )


def downgrade() -> None:
    for name in ("agent_batches", "blocks", "series", "stacks", "frames"):
        op.drop_table(name)
