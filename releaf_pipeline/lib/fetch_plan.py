"""What a collection reads for each feed: the contract's "Late data" window, the month's
re-read before its close and the weekly re-read of the whole look-back, as pure functions
of what the store already holds."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from releaf_pipeline.lib.rules import (
    BASELINE_LOOKBACK_DAYS,
    FULL_REREAD_WEEKDAY,
    REREAD_AT_LEAST_DAYS,
    REREAD_LOOKBACK_DAYS,
)
from releaf_pipeline.lib.store.registry import FeedRecord

BASELINE_LOOKBACK = timedelta(days=BASELINE_LOOKBACK_DAYS)


@dataclass(frozen=True)
class FetchPlan:
    """What to fetch for a feed: readings in [fetch_from, fetch_to]. The days from
    activation on in that range are recorded as collected."""

    fetch_from: date
    fetch_to: date


def plan_fetch(
    feed: FeedRecord,
    start: date,
    end: date,
    latest_days: Collection[date] = (),
    *,
    recollect_from: date | None = None,
    month_from: date | None = None,
) -> FetchPlan | None:
    """The readings a collection of [start, end] must fetch for `feed` ("Late data" and
    "Month close" in the contract), or None if the feed is not active by `end`.

    `latest_days` are the dates of the latest mirrored reading of each of the feed's
    devices. The range starts at the earliest of: the first day asked for; the day after
    the earliest latest reading among devices that reported in the look-back, but never
    later than two days before `end`; activation - 31 days while a device's baseline is
    not final (no reading dated A - 1 or later yet) or on the first sync; the first day
    not mirrored yet (the mirror has no gaps); a pending re-collection; `month_from`, the
    first day of an ended month of the account not certified yet (see
    `month_reread_from`); and, when `end` is the weekly full re-read's day, the whole
    look-back. It never starts before activation - 31 days.
    """
    activation = feed.activation_date
    if end < activation:
        return None
    baseline_window = activation - BASELINE_LOOKBACK
    if feed.synced_through is None:
        return FetchPlan(baseline_window, end)
    lookback = end - timedelta(days=REREAD_LOOKBACK_DAYS)
    reporting = [d for d in latest_days if d >= lookback]
    candidates = [
        max(start, activation),
        end - timedelta(days=REREAD_AT_LEAST_DAYS),
        feed.synced_through + timedelta(days=1),
    ]
    candidates += [min(reporting) + timedelta(days=1)] if reporting else []
    final = [d for d in latest_days if d >= activation - timedelta(days=1)]
    pending = any(d < activation - timedelta(days=1) for d in reporting)
    if pending or (not final and lookback <= activation):
        candidates.append(baseline_window)
    if recollect_from is not None:
        candidates.append(recollect_from)
    # Readings uploaded out of order, dated before a device's newest one, lie behind the
    # nightly window: the month's re-read before its close and the weekly one fetch them.
    if month_from is not None:
        candidates.append(month_from)
    if end.weekday() == FULL_REREAD_WEEKDAY:
        candidates.append(lookback)
    return FetchPlan(max(min(candidates), baseline_window), end)


@dataclass(frozen=True)
class RereadMonth:
    """A month a collection may read again in full before it closes."""

    month: str
    """YYYY-MM, as certificates name it."""
    first: date
    last: date


def months_to_reread(start: date, end: date) -> list[RereadMonth]:
    """The months a collection of [start, end] reads again before they close ("Month
    close"), earliest first: each month that has ended by `end` and whose last day lies in
    the collection or in the look-back before `end`. A month that ended longer ago has
    passed its grace period and is closed, or can no longer be read in one request."""
    since = min(start, end - timedelta(days=REREAD_LOOKBACK_DAYS))
    out = []
    first = since.replace(day=1)
    while True:
        following = (first + timedelta(days=31)).replace(day=1)
        last = following - timedelta(days=1)
        if last > end:
            return out
        if last >= since:
            out.append(RereadMonth(f"{first:%Y-%m}", first, last))
        first = following


def month_reread_from(
    feed: FeedRecord, months: list[RereadMonth], certified: Collection[tuple[str, str]]
) -> date | None:
    """The first day of the earliest of `months` that the feed was active in and that its
    account has no certificate for yet (`certified` holds (account, YYYY-MM) pairs), or
    None when there is none."""
    for month in months:
        if month.last >= feed.activation_date and (feed.account, month.month) not in certified:
            return month.first
    return None
