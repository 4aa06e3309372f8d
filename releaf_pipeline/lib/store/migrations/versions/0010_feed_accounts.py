"""A feed's account has a history: `feed_accounts` (feed, from day, account).

A feed whose account is corrected from a day on deposits its pages from that day on to
the new account, and every recomputation of its deposits reads the account of each day
from here. Existing feeds need no row: without one, a feed deposits on `feeds.account`.

Revision ID: 0010
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_accounts",
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
        sa.Column("from_day", sa.Date, primary_key=True),
        sa.Column("account", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feed_accounts")
