"""Agent batches per tenant (resend keys), and the losses agents report.

Revision ID: 0004

`agent_batches` gets a `tenant` column and its unique key becomes (tenant,
agent_id, seq): one tenant's batch numbers can no longer make another's real
batch a "duplicate", nor tell it which batches the other sent. Rows from
before are given the single-tenant server's tenant ("anonymous"); they only
matter for a few minutes, while agents may still resend them.

`agent_losses` keeps what agents report lost with each batch (samples
dropped from a full spool, refused by the server, sampler events lost in the
kernel), per tenant, host and reason, for the UI to show.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("agent_batches") as t:
        t.add_column(sa.Column("tenant", sa.String(256), nullable=False,
                               server_default="anonymous"))
        t.drop_constraint("uq_agent_batches", type_="unique")
        t.create_unique_constraint("uq_agent_batches", ["tenant", "agent_id", "seq"])
    op.create_table(
        "agent_losses",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("ts_ns", sa.BigInteger, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_agent_losses_tenant_ts", "agent_losses", ["tenant", "ts_ns"])


def downgrade() -> None:
    op.drop_table("agent_losses")
    with op.batch_alter_table("agent_batches") as t:
        t.drop_constraint("uq_agent_batches", type_="unique")
        t.create_unique_constraint("uq_agent_batches", ["agent_id", "seq"])
        t.drop_column("tenant")
