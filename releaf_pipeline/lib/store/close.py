"""What the month close needs to know about each feed, read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.store.registry import FeedRecord
from releaf_pipeline.lib.store.scope import managed_readings_only
from releaf_pipeline.lib.store.tables import (
    deposits,
    device_readings,
    devices,
    feed_days,
    feed_health,
    feeds,
    readings,
)


@dataclass
class FeedMonth:
    """One feed's state for one month, as far as the close is concerned."""

    feed: FeedRecord
    days_needed: int = 0
    days_recorded: int = 0
    not_collected: list[tuple[date, str]] = field(default_factory=list)
    """(day, status) of the month's paused or failed days."""
    recollect_from: date | None = None
    dirty_from: date | None = None
    devices_waiting: int = 0
    """In-scope devices that reported in the month, are still listed and have no reading
    dated on or after the month's last day yet."""


def feed_months(
    engine: Engine, feed_list: list[FeedRecord], first: date, last: date
) -> list[FeedMonth]:
    """The close facts of each feed for the month [first, last]."""
    out = []
    with engine.connect() as conn:
        for feed in feed_list:
            start = max(first, feed.activation_date)
            facts = FeedMonth(feed, days_needed=max(0, (last - start).days + 1))
            rows = conn.execute(
                sa.select(feed_days.c.day, feed_days.c.status).where(
                    feed_days.c.feed_id == feed.id, feed_days.c.day.between(start, last)
                )
            ).all()
            facts.days_recorded = len(rows)
            facts.not_collected = sorted((r.day, r.status) for r in rows if r.status != "collected")
            facts.recollect_from = conn.execute(
                sa.select(feed_health.c.recollect_from).where(feed_health.c.feed_id == feed.id)
            ).scalar()
            facts.dirty_from = conn.execute(
                sa.select(feeds.c.dirty_from).where(feeds.c.id == feed.id)
            ).scalar()
            facts.devices_waiting = _devices_waiting(conn, feed, first, last)
            out.append(facts)
    return out


def _devices_waiting(conn: sa.Connection, feed: FeedRecord, first: date, last: date) -> int:
    query = (
        sa.select(sa.func.count(sa.distinct(devices.c.device_id)))
        .select_from(device_readings(readings.c.day.between(first, last)))
        .where(
            devices.c.feed_id == feed.id,
            devices.c.listed.is_(True),
            sa.or_(devices.c.latest_day.is_(None), devices.c.latest_day < last),
        )
    )
    if feed.scope == "managed":
        # In scope on a day it reported: the history, not the flag as last seen (rule 1).
        query = managed_readings_only(query)
    return int(conn.execute(query).scalar_one())


def account_had_deposits(engine: Engine, account: str, first: date, last: date) -> bool:
    """Whether any deposit row of `account` is dated in [first, last]."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.select(sa.func.count()).where(
                    deposits.c.account == account, deposits.c.day.between(first, last)
                )
            ).scalar_one()
        )
