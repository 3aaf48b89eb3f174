"""Linked samples keep their own labels (why an off-CPU interval waited).

The recorder puts a kept interval's system call, target and waker into the
sample's labels (profiler/recorder.py); blocks keep them in their `labels`
column, and now a trace's linked samples do too, so the one-trace view can
say what each interval waited on and who woke it. "" for none.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trace_samples") as batch:
        batch.add_column(sa.Column("labels", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("trace_samples") as batch:
        batch.drop_column("labels")
