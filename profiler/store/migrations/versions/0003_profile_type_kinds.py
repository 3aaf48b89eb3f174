"""Series kinds hold profile type ids (`memory:alloc_space:bytes:space:bytes`).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not enforce VARCHAR lengths (and cannot ALTER a column's type).
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("series", "kind", type_=sa.String(255), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("series", "kind", type_=sa.String(16), existing_nullable=False)
