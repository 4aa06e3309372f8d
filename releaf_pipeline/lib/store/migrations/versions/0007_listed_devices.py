"""Device membership: only a device its customer's Device/List has listed is counted.

- `devices.ever_listed`: whether any Device/List of the feed's customer listed the device.
  A Counter/List row for a device never listed is kept but set aside, as an anomaly,
  until a listing shows it.

Existing data: a device with a `device_scope` row was listed (only a listing writes one);
every other device was known from its readings alone. Its counts are cleared, and each
feed that has one is marked for its deposits to be recomputed from the earliest day its
readings touched, so pages of devices never listed are taken out of the deposits.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_feeds = sa.table(
    "feeds",
    sa.column("id", sa.Integer),
    sa.column("activation_date", sa.Date),
    sa.column("synced_through", sa.Date),
    sa.column("dirty_from", sa.Date),
    sa.column("inputs_version", sa.Integer),
)
_devices = sa.table(
    "devices",
    sa.column("feed_id", sa.Integer),
    sa.column("device_id", sa.String),
    sa.column("initial_count", sa.BigInteger),
    sa.column("latest_count", sa.BigInteger),
    sa.column("life_count", sa.BigInteger),
    sa.column("counted_day", sa.Date),
    sa.column("ever_listed", sa.Boolean),
)
_readings = sa.table(
    "readings",
    sa.column("feed_id", sa.Integer),
    sa.column("device_id", sa.String),
    sa.column("day", sa.Date),
)
_scope = sa.table(
    "device_scope", sa.column("feed_id", sa.Integer), sa.column("device_id", sa.String)
)


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch_op:
        batch_op.add_column(
            sa.Column("ever_listed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    listed = (
        sa.select(sa.literal(1))
        .select_from(_scope)
        .where(_scope.c.feed_id == _devices.c.feed_id, _scope.c.device_id == _devices.c.device_id)
        .exists()
    )
    op.execute(_devices.update().where(listed).values(ever_listed=sa.true()))
    op.execute(
        _devices.update()
        .where(_devices.c.ever_listed.is_(False))
        .values(initial_count=None, latest_count=None, life_count=0, counted_day=None)
    )

    conn = op.get_bind()
    unlisted = (
        sa.select(_readings.c.feed_id, sa.func.min(_readings.c.day))
        .select_from(
            _readings.join(
                _devices,
                (_devices.c.feed_id == _readings.c.feed_id)
                & (_devices.c.device_id == _readings.c.device_id),
            )
        )
        .where(_devices.c.ever_listed.is_(False))
        .group_by(_readings.c.feed_id)
    )
    earliest = dict(conn.execute(unlisted).all())
    if not earliest:
        return
    rows = conn.execute(
        sa.select(_feeds.c.id, _feeds.c.activation_date, _feeds.c.dirty_from).where(
            _feeds.c.id.in_(list(earliest)), _feeds.c.synced_through.is_not(None)
        )
    ).all()
    for feed_id, activation, dirty_from in rows:
        # From activation at the latest: a reading before it may have been a baseline.
        start = max(earliest[feed_id], activation)
        if dirty_from is not None:
            start = min(start, dirty_from)
        conn.execute(
            _feeds.update()
            .where(_feeds.c.id == feed_id)
            .values(dirty_from=start, inputs_version=_feeds.c.inputs_version + 1)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_column("ever_listed")
