"""What the month close needs to know about each feed, read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.feed_accounts import account_histories
from releaf_pipeline.lib.store.registry import FeedRecord
from releaf_pipeline.lib.store.scope import managed_readings_only
from releaf_pipeline.lib.store.tables import (
    COLLECTED,
    deposits,
    device_readings,
    devices,
    feed_days,
    feed_health,
    feeds,
    readings,
)


@dataclass(frozen=True)
class FeedPart:
    """A feed's days of one month that go to one account (see `month_parts`)."""

    feed: FeedRecord
    account: str
    first: date
    """The first day of the month the feed deposits on this account (activation, or the
    day the feed moved to the account, at the earliest the month's first day)."""
    last: date
    """The last day of the month the feed deposits on this account."""
    through: date
    """The last of those days the month waits to be collected: `last`, or for a removed
    feed the day before its removal (its later days are never collected)."""


def month_parts(db: Db, feed_list: list[FeedRecord], first: date, last: date) -> list[FeedPart]:
    """The parts of the month [first, last] each feed (removed ones too) deposits on each
    account: a feed active in the month, on every account its history gives it for days
    of the month; a removed feed only while the month holds days before its removal or
    deposits of its own."""
    out = []
    with reading(db) as conn:
        histories = account_histories(conn, feed_list)
        for feed in feed_list:
            if feed.activation_date > last:
                continue
            removal = feed.removed_at.date() if feed.removed_at is not None else None
            for span in histories[feed.id].spans:
                start = max(first, feed.activation_date, span.first or first)
                end = min(last, span.last or last)
                if start > end:
                    continue
                through = end if removal is None else min(end, removal - timedelta(days=1))
                if through < start and not _deposited(conn, feed, span.account, start, end):
                    continue
                out.append(FeedPart(feed, span.account, start, end, through))
    return out


def _deposited(
    conn: sa.Connection, feed: FeedRecord, account: str, first: date, last: date
) -> bool:
    return bool(
        conn.execute(
            sa.select(sa.func.count()).where(
                deposits.c.feed_id == feed.id,
                deposits.c.account == account,
                deposits.c.day.between(first, last),
            )
        ).scalar_one()
    )


@dataclass
class FeedMonth:
    """One feed's state for its part of one month, as far as the close is concerned."""

    feed: FeedRecord
    through: date
    """The last day the month waits for (see `FeedPart.through`)."""
    days_needed: int = 0
    days_recorded: int = 0
    not_collected: list[tuple[date, str]] = field(default_factory=list)
    """(day, status) of the month's paused or failed days."""
    recollect_from: date | None = None
    dirty_from: date | None = None
    devices_waiting: int = 0
    """In-scope devices that reported in the part, are still listed and have no reading
    dated on or after its `through` day yet."""


def feed_months(db: Db, parts: list[FeedPart]) -> list[FeedMonth]:
    """The close facts of each feed's part of a month."""
    out = []
    with reading(db) as conn:
        for part in parts:
            feed, start, through = part.feed, part.first, part.through
            facts = FeedMonth(feed, through, days_needed=max(0, (through - start).days + 1))
            out.append(facts)
            if through < start:
                continue
            rows = conn.execute(
                sa.select(feed_days.c.day, feed_days.c.status).where(
                    feed_days.c.feed_id == feed.id, feed_days.c.day.between(start, through)
                )
            ).all()
            facts.days_recorded = len(rows)
            facts.not_collected = sorted((r.day, r.status) for r in rows if r.status != COLLECTED)
            facts.recollect_from = conn.execute(
                sa.select(feed_health.c.recollect_from).where(feed_health.c.feed_id == feed.id)
            ).scalar()
            facts.dirty_from = conn.execute(
                sa.select(feeds.c.dirty_from).where(feeds.c.id == feed.id)
            ).scalar()
            facts.devices_waiting = _devices_waiting(conn, feed, start, through)
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


def account_had_deposits(db: Db, account: str, first: date, last: date) -> bool:
    """Whether any deposit row of `account` is dated in [first, last]."""
    with reading(db) as conn:
        return bool(
            conn.execute(
                sa.select(sa.func.count()).where(
                    deposits.c.account == account, deposits.c.day.between(first, last)
                )
            ).scalar_one()
        )
