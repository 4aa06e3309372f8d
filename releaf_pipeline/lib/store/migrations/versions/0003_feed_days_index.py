"""Index feed-days by day and status, for the catch-up sensor at fleet scale.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_feed_days_day_status", "feed_days", ["day", "status"])


def downgrade() -> None:
    op.drop_index("ix_feed_days_day_status", table_name="feed_days")
