"""Which days' view in Dagster is behind the store, until they are published again.

A day's view is what the UI shows for its partition of an asset: the latest
materialization's figures and the latest result of each check. Any write that changes
what a day's view would show records the day here, in the write's own transaction:

- `meter_readings` (and with it `daily_deposits`, whose checks judge whether the day was
  collected): a collection's readings and feed-day statuses, an operator pausing,
  resuming or removing a feed, a server's health changing.
- `daily_deposits`: a deposit recomputation's rewritten days and meter anomalies, a feed's
  account moved.

Whoever publishes a day (a run's step, or an operator command's runless report) takes
the days with `pending`, publishes them, then `clear`s what it took: a day recorded
meanwhile stays for the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.store.engine import Db, reading, writing
from releaf_pipeline.lib.store.tables import COLLECTED, feed_days, feeds, stale_days

# A feed-day's status once collected (the collection module's COLLECTED, which records
# its writes through this module and so cannot be imported by it).

METER_READINGS = "meter_readings"
DAILY_DEPOSITS = "daily_deposits"
COLLECTION_VIEWS = (METER_READINGS, DAILY_DEPOSITS)
"""A day's collection is shown by both assets (deposits say whether the day is complete)."""
DEPOSIT_VIEWS = (DAILY_DEPOSITS,)


def mark_days(conn: Connection, days: Iterable[date], assets: Iterable[str]) -> None:
    """Record that `days` of `assets` must be published again."""
    unique = sorted(set(days))
    rows = [{"asset": a, "day": d} for a in assets for d in unique]
    if rows:
        conn.execute(stale_days.insert(), rows)


def mark_range(conn: Connection, first: date, last: date, assets: Iterable[str]) -> None:
    """`mark_days` for every day of [first, last]."""
    mark_days(conn, days_between(first, last), assets)


def mark_missed_days(conn: Connection, feed_id: int, last: date) -> None:
    """The days up to `last` that a feed has not collected since its activation: what
    pausing, resuming or removing it changes."""
    activation = conn.execute(
        sa.select(feeds.c.activation_date).where(feeds.c.id == feed_id)
    ).scalar_one()
    collected = set(
        conn.execute(
            sa.select(feed_days.c.day).where(
                feed_days.c.feed_id == feed_id,
                feed_days.c.status == COLLECTED,
                feed_days.c.day.between(activation, last),
            )
        ).scalars()
    )
    mark_days(
        conn, (d for d in days_between(activation, last) if d not in collected), COLLECTION_VIEWS
    )


def mark_problem_days(conn: Connection, server_id: int) -> None:
    """The days a feed of the server was paused or failed: what the server's health
    changes (what happens next to them, and whether a person must act)."""
    days = conn.execute(
        sa.select(feed_days.c.day)
        .distinct()
        .join(feeds, feeds.c.id == feed_days.c.feed_id)
        .where(feeds.c.server_id == server_id, feed_days.c.status != COLLECTED)
    ).scalars()
    mark_days(conn, days, COLLECTION_VIEWS)


def mark_past_lookback(db: Db, today: date, lookback_days: int) -> None:
    """The days that fell past the catch-up's look-back in the last few days: a feed-day
    missing on them now needs a person, which their checks must say."""
    edge = today - timedelta(days=lookback_days)
    with writing(db) as conn:
        mark_range(conn, edge - timedelta(days=LOOKBACK_EDGE_DAYS), edge - timedelta(days=1),
                   COLLECTION_VIEWS)  # fmt: skip


LOOKBACK_EDGE_DAYS = 3
"""Days before the look-back's edge published again by each collection: a night or two
missed still turns their checks to ERROR."""


@dataclass(frozen=True)
class StaleDays:
    """The days of an asset to publish, and how far the records were read."""

    asset: str
    days: list[date]
    through_id: int


def pending(db: Db, asset: str) -> StaleDays:
    """The days of `asset` recorded as behind the store, oldest first."""
    with reading(db) as conn:
        rows = conn.execute(
            sa.select(stale_days.c.id, stale_days.c.day).where(stale_days.c.asset == asset)
        ).all()
    return StaleDays(asset, sorted({r.day for r in rows}), max((r.id for r in rows), default=0))


def clear(db: Db, taken: StaleDays) -> None:
    """Forget the records `pending` returned, once their days are published; a day
    recorded since stays."""
    with writing(db) as conn:
        conn.execute(
            stale_days.delete().where(
                stale_days.c.asset == taken.asset, stale_days.c.id <= taken.through_id
            )
        )
