"""Local roots' index covers endpoint queries: name and route join it.

`/api/v1/endpoints` (count and percentiles of each root name) and the
slow-vs-fast selections read name, route, start and duration of every local
root in a range; with them in the index those reads never touch the table
(whose rows carry the attributes JSON).

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OLD = ["tenant", "service", "root", "start_ns", "duration_ns"]


def upgrade() -> None:
    op.create_index("ix_spans_roots_named", "spans", [*_OLD, "name", "route"])
    op.drop_index("ix_spans_roots", "spans")


def downgrade() -> None:
    op.create_index("ix_spans_roots", "spans", _OLD)
    op.drop_index("ix_spans_roots_named", "spans")
