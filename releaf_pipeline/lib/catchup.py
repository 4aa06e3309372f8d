"""What the catch-up sensor asks for: ranged re-collections after outages and gaps.

Pure planning over the store's state and the instance's materialized partitions. Every
request covers one contiguous range of days (never one run per day) and names the feeds
it needs, so feeds that are fine are not called again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from releaf_pipeline.lib.rules import REREAD_LOOKBACK_DAYS as DEFAULT_LOOKBACK_DAYS
from releaf_pipeline.lib.store.health import FeedHealth
from releaf_pipeline.lib.store.registry import FeedRecord

PAUSED, FAILED, RECOVERED, MISSING = "paused", "failed", "recovered", "missing"


@dataclass(frozen=True)
class CatchupRequest:
    """One ranged collection run to request."""

    start: date
    end: date
    feed_ids: tuple[int, ...]
    """Feeds to collect; empty means every active feed."""
    reason: str
    key: str
    """Stable run key: the same need on the same day is requested once."""


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted, merged (first, last) ranges of consecutive days."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def _key(reason: str, stamp: str, start: date, end: date, feed_ids: Iterable[int]) -> str:
    ids = ",".join(str(i) for i in sorted(feed_ids))
    digest = hashlib.sha1(ids.encode()).hexdigest()[:10] if ids else "all"
    return f"catchup:{reason}:{stamp}:{start}:{end}:{digest}"


def _request(
    reason: str, today: date, first: date, last: date, ids: Iterable[int]
) -> CatchupRequest:
    ids = tuple(sorted(ids))
    return CatchupRequest(
        first, last, ids, reason, _key(reason, today.isoformat(), first, last, ids)
    )


def plan_catchup(
    *,
    today: date,
    feeds: Mapping[int, FeedRecord],
    server_healthy: Mapping[int, bool],
    feed_days: Iterable[tuple[int, date, str]],
    feed_health: Mapping[int, FeedHealth],
    materialized: set[date],
    busy: set[date],
    first_partition: date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> list[CatchupRequest]:
    """The runs that heal the pipeline as of `today`.

    (a) paused or failed feed-days in the look-back window whose server is healthy now;
    (b) feeds that turned healthy again: their days from L + 1 to the latest collected day;
    (c) days of the window (up to the day before yesterday: yesterday is the nightly
        schedule's) with no materialization, for example after the daemon was down.
    Days in `busy` (covered by a queued or running collection) are left alone for (a), (c).
    """
    window_start = max(today - timedelta(days=lookback_days), first_partition)
    yesterday = today - timedelta(days=1)
    requests: list[CatchupRequest] = []

    def usable(feed_id: int) -> bool:
        feed = feeds.get(feed_id)
        return feed is not None and server_healthy.get(feed.server_id, False)

    for status in (PAUSED, FAILED):
        per_day: dict[date, set[int]] = {}
        for feed_id, day, st in feed_days:
            due = st == status and window_start <= day <= yesterday and day not in busy
            if due and usable(feed_id):
                per_day.setdefault(day, set()).add(feed_id)
        for first, last in contiguous_ranges(per_day):
            ids: set[int] = set()
            d = first
            while d <= last:
                ids |= per_day[d]
                d += timedelta(days=1)
            requests.append(_request(status, today, first, last, ids))

    by_range: dict[tuple[date, date], set[int]] = {}
    for feed_id, state in feed_health.items():
        if state.recollect_from is None or state.recollect_to is None or not usable(feed_id):
            continue
        by_range.setdefault((state.recollect_from, state.recollect_to), set()).add(feed_id)
    for (first, last), ids in sorted(by_range.items()):
        requests.append(_request(RECOVERED, today, first, last, ids))

    if feeds:
        earliest = min(f.activation_date for f in feeds.values())
        start = max(window_start, earliest)
        end = today - timedelta(days=2)
        missing = [
            start + timedelta(days=i)
            for i in range((end - start).days + 1)
            if start + timedelta(days=i) not in materialized
            and start + timedelta(days=i) not in busy
        ]
        for first, last in contiguous_ranges(missing):
            requests.append(_request(MISSING, today, first, last, ()))
    return requests
