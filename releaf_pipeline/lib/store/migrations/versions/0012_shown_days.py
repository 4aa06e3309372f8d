"""`shown_days` (asset, day, part, digest, publication): what Dagster last showed of a day.

A day marked stale is published again only if what the store would show now differs
from what was shown. An existing store starts with none: each stale day is published
once more, then recorded.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shown_days",
        sa.Column("asset", sa.String(40), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("part", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("publication", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shown_days")
