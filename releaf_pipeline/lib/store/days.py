"""Each day's own figures: what was collected, deposited and found odd on that date.

A ranged run materializes many days at once; these are what each day's partition shows,
read from the store after the run, so a day always shows its own truth (every feed, not
only the ones the run was asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.registry import FeedRecord, list_feeds
from releaf_pipeline.lib.store.tables import (
    COLLECTED,
    FAILED,
    PAUSED,
    anomalies,
    deposits,
    feed_days,
    readings,
)

OPERATOR_PAUSED = "paused by operator"
"""A feed-day not collected because an operator paused the feed."""
NOT_COLLECTED = "not collected"
"""A feed-day no run has covered."""


@dataclass(frozen=True)
class FeedDayProblem:
    """A feed-day that was not collected: paused, failed, paused by an operator, or not
    collected at all; and why."""

    feed: FeedRecord
    status: str
    reason: str
    kind: str | None = None
    """A failure's kind (whether a retry can fix it is decided on it)."""


@dataclass
class CollectionDay:
    """One date's collection across every feed the day expects: each feed active on it,
    operator-paused ones included, and removed ones on the days they were collected."""

    day: date
    feeds_active: int = 0
    collected: int = 0
    paused: int = 0
    failed: int = 0
    paused_by_operator: int = 0
    readings: int = 0
    """Devices with a reading dated that day (a device has one reading a day)."""
    problems: list[FeedDayProblem] = field(default_factory=list)

    @property
    def not_yet_collected(self) -> int:
        """Active feeds with no status for the day (no run has covered it for them)."""
        return sum(1 for p in self.problems if p.status == NOT_COLLECTED)

    @property
    def complete(self) -> bool:
        """Whether every feed the day expects was collected."""
        return not self.problems


def collection_days(db: Db, first: date, last: date) -> list[CollectionDay]:
    """Every day in [first, last], oldest first."""
    feed_list = list_feeds(db, removed=True)
    out = {d: CollectionDay(d) for d in days_between(first, last)}
    statuses: dict[tuple[int, date], tuple[str, str, str | None]] = {}
    with reading(db) as conn:
        rows = conn.execute(
            sa.select(
                feed_days.c.feed_id, feed_days.c.day, feed_days.c.status, feed_days.c.reason,
                feed_days.c.failure_kind,
            ).where(feed_days.c.day.between(first, last))
        )  # fmt: skip
        for feed_id, day, status, reason, kind in rows:
            statuses[(feed_id, day)] = (status, reason or "", kind)
        counts = conn.execute(
            sa.select(readings.c.day, sa.func.count())
            .where(readings.c.day.between(first, last))
            .group_by(readings.c.day)
        )
        for day, n in counts:
            out[day].readings = int(n)
    for day, item in out.items():
        for feed in feed_list:
            if feed.activation_date > day:
                continue
            status, reason, kind = statuses.get((feed.id, day), (NOT_COLLECTED, "", None))
            if status == COLLECTED:
                item.feeds_active += 1
                item.collected += 1
                continue
            if feed.removed_at is not None:
                # A removed feed is not expected any more; the days it was collected stay.
                continue
            item.feeds_active += 1
            if feed.paused_at is not None:
                # The nights and the catch-up leave it alone until it is resumed.
                item.paused_by_operator += 1
                was = f"{status}: {reason}" if status != NOT_COLLECTED and reason else status
                why = f"paused on {feed.paused_at.date()}" + (
                    f" (the day was {was})" if status != NOT_COLLECTED else ""
                )
                item.problems.append(FeedDayProblem(feed, OPERATOR_PAUSED, why))
                continue
            item.paused += status == PAUSED
            item.failed += status == FAILED
            item.problems.append(FeedDayProblem(feed, status, reason, kind))
    for item in out.values():
        item.problems.sort(key=lambda p: (p.feed.server_name, p.feed.customer_code))
    return list(out.values())


@dataclass
class DepositDay:
    """One date's deposits: pages per account and how many feeds deposited."""

    day: date
    pages: int = 0
    feeds: int = 0
    accounts: dict[str, int] = field(default_factory=dict)


def deposit_days(db: Db, first: date, last: date) -> list[DepositDay]:
    """Every day in [first, last], oldest first, accounts sorted by name."""
    out = {d: DepositDay(d) for d in days_between(first, last)}
    query = (
        sa.select(
            deposits.c.day, deposits.c.account, sa.func.sum(deposits.c.pages), sa.func.count()
        )
        .where(deposits.c.day.between(first, last))
        .group_by(deposits.c.day, deposits.c.account)
        .order_by(deposits.c.day, deposits.c.account)
    )
    with reading(db) as conn:
        for day, account, pages, n in conn.execute(query):
            item = out[day]
            item.accounts[account] = int(pages)
            item.pages += int(pages)
            item.feeds += int(n)
    return list(out.values())


@dataclass(frozen=True)
class Anomaly:
    """A meter reset or glitch, or an impossible reading, found on a device."""

    feed: FeedRecord
    device_id: str
    day: date
    kind: str
    previous_count: int | None
    count: int | None
    detail: str | None


def anomalies_between(db: Db, first: date, last: date) -> list[Anomaly]:
    """Every anomaly dated in [first, last], by day, feed and device."""
    by_id = {f.id: f for f in list_feeds(db, removed=True)}
    query = (
        sa.select(
            anomalies.c.feed_id, anomalies.c.device_id, anomalies.c.day, anomalies.c.kind,
            anomalies.c.previous_count, anomalies.c.count, anomalies.c.detail,
        )
        .where(anomalies.c.day.between(first, last))
        .order_by(anomalies.c.day, anomalies.c.feed_id, anomalies.c.device_id)
    )  # fmt: skip
    with reading(db) as conn:
        return [
            Anomaly(by_id[f], d, day, k, p, c, detail)
            for f, d, day, k, p, c, detail in conn.execute(query)
            if f in by_id
        ]
