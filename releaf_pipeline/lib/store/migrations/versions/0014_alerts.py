"""`alerts` (one row per change the operator was told of, by a key that makes it said once)
and `alert_deliveries` (each alert's state on each channel: pending, sent or given up).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alerts_subject", "alerts", ["subject"])
    op.create_table(
        "alert_deliveries",
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_deliveries_state", "alert_deliveries", ["state"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_state", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alerts_subject", "alerts")
    op.drop_table("alerts")
