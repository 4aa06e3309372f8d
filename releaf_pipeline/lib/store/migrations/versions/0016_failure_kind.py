"""A failed feed-day's kind of failure in a column of its own: the catch-up decides what
a retry can fix on it, not on the reason's text. Failures recorded before are given the
kind their reason starts with ("<kind>: <message>", as they were written; "internal
error (...)" for a failure the pipeline did not expect).

Revision ID: 0016
Revises: 0015
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_feed_days = sa.table(
    "feed_days",
    sa.column("feed_id", sa.Integer),
    sa.column("day", sa.Date),
    sa.column("status", sa.String),
    sa.column("reason", sa.Text),
    sa.column("failure_kind", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("feed_days") as batch:
        batch.add_column(sa.Column("failure_kind", sa.String(40), nullable=True))
    conn = op.get_bind()
    reasons = conn.execute(
        sa.select(_feed_days.c.reason)
        .where(_feed_days.c.status == "failed", _feed_days.c.reason.contains(":"))
        .distinct()
    ).scalars()
    for reason in list(reasons):
        kind = _kind(reason)
        if kind is not None:
            conn.execute(
                _feed_days.update()
                .where(_feed_days.c.status == "failed", _feed_days.c.reason == reason)
                .values(failure_kind=kind)
            )


def _kind(reason: str) -> str | None:
    prefix = reason.split(":", 1)[0].strip()
    if prefix.startswith("internal error"):
        return "internal"
    return prefix if re.fullmatch(r"[a-z_]{1,40}", prefix) else None


def downgrade() -> None:
    with op.batch_alter_table("feed_days") as batch:
        batch.drop_column("failure_kind")
