"""Time-correct accounting: scope history, incremental deposits, the re-read window.

- `device_scope`: the IsManaged each day's first collection saw (rule 1's history).
- `feeds.dirty_from` / `feeds.inputs_version`: what the deposits still have to catch up on.
- `devices.latest_day` / `devices.listed`: where the next night re-reads from, and whether
  the device is still listed (the month close waits for listed devices only).
- `devices.counted_day`: the date of the reading the last deposit computation ended on.
- `ix_deposits_day`: reports and partitions read deposits by day.

Existing data: every synced feed is marked for one full recompute, each device's history
starts as the flag last seen over the days already collected, and every known device
counts as listed until the next collection says otherwise.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_feeds = sa.table(
    "feeds",
    sa.column("id", sa.Integer),
    sa.column("activation_date", sa.Date),
    sa.column("synced_through", sa.Date),
    sa.column("dirty_from", sa.Date),
)
_devices = sa.table(
    "devices",
    sa.column("feed_id", sa.Integer),
    sa.column("device_id", sa.String),
    sa.column("managed", sa.Boolean),
    sa.column("life_count", sa.BigInteger),
    sa.column("latest_day", sa.Date),
    sa.column("listed", sa.Boolean),
)
_readings = sa.table(
    "readings",
    sa.column("feed_id", sa.Integer),
    sa.column("device_id", sa.String),
    sa.column("day", sa.Date),
)
_scope = sa.table(
    "device_scope",
    sa.column("feed_id", sa.Integer),
    sa.column("device_id", sa.String),
    sa.column("first_day", sa.Date),
    sa.column("last_day", sa.Date),
    sa.column("managed", sa.Boolean),
)


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.add_column(sa.Column("dirty_from", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("inputs_version", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("devices") as batch_op:
        batch_op.add_column(sa.Column("latest_day", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("counted_day", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "device_scope",
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"]),
        sa.PrimaryKeyConstraint("feed_id", "device_id", "first_day"),
    )
    op.create_index("ix_deposits_day", "deposits", ["day"])

    op.execute(_devices.update().values(listed=sa.true()))
    # Devices known only from their readings get a row, so every device with a reading has
    # one (the incremental deposits look readings up through it).
    known = (
        sa.select(sa.literal(1))
        .select_from(_devices)
        .where(
            _devices.c.feed_id == _readings.c.feed_id,
            _devices.c.device_id == _readings.c.device_id,
        )
        .exists()
    )
    op.execute(
        _devices.insert().from_select(
            ["feed_id", "device_id", "managed", "life_count", "listed"],
            sa.select(
                _readings.c.feed_id,
                _readings.c.device_id,
                sa.false(),
                sa.literal(0, sa.BigInteger),
                sa.false(),
            )
            .where(~known)
            .group_by(_readings.c.feed_id, _readings.c.device_id),
        )
    )
    latest = (
        sa.select(sa.func.max(_readings.c.day))
        .where(
            _readings.c.feed_id == _devices.c.feed_id,
            _readings.c.device_id == _devices.c.device_id,
        )
        .scalar_subquery()
    )
    op.execute(_devices.update().values(latest_day=latest))
    op.execute(
        _scope.insert().from_select(
            ["feed_id", "device_id", "first_day", "last_day", "managed"],
            sa.select(
                _devices.c.feed_id,
                _devices.c.device_id,
                _feeds.c.activation_date,
                _feeds.c.synced_through,
                _devices.c.managed,
            )
            .join(_feeds, _feeds.c.id == _devices.c.feed_id)
            .where(_feeds.c.synced_through >= _feeds.c.activation_date),
        )
    )
    op.execute(
        _feeds.update()
        .where(_feeds.c.synced_through.is_not(None))
        .values(dirty_from=_feeds.c.activation_date)
    )


def downgrade() -> None:
    op.drop_index("ix_deposits_day", table_name="deposits")
    op.drop_table("device_scope")
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_column("listed")
        batch_op.drop_column("counted_day")
        batch_op.drop_column("latest_day")
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.drop_column("inputs_version")
        batch_op.drop_column("dirty_from")
