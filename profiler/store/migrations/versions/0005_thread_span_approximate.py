"""Thread spans say whether the process flagged their link approximate (asyncio).

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("thread_spans") as batch:
        batch.add_column(sa.Column("approximate", sa.SmallInteger, nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("thread_spans") as batch:
        batch.drop_column("approximate")
