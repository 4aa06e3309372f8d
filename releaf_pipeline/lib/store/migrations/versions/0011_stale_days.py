"""`stale_days` (id, asset, day): the days whose view in Dagster is behind the store.

Every write that changes a day's collection or deposits records the day here, in its own
transaction; publishing the day's figures and check results removes it. An existing store
starts with none: its days were published as they were written.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stale_days",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset", sa.String(40), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
    )
    op.create_index("ix_stale_days_asset", "stale_days", ["asset", "id"])


def downgrade() -> None:
    op.drop_index("ix_stale_days_asset", table_name="stale_days")
    op.drop_table("stale_days")
