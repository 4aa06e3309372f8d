"""What operators decide about feeds and servers: paused, removed.

- `feeds.paused_at`: set while an operator has paused the feed (`releaf feed pause`): it
  is not collected until resumed, and its days are not asked for by the catch-up.
- `feeds.removed_at`, `servers.removed_at`: set when removed (`releaf feed remove`,
  `releaf server remove`). A removed feed or server is neither collected nor checked, and
  is listed only on request; its readings, deposits and certificates stay.

Existing data: nothing is paused or removed, which is what NULL means.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("servers") as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servers") as batch_op:
        batch_op.drop_column("removed_at")
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.drop_column("removed_at")
        batch_op.drop_column("paused_at")
