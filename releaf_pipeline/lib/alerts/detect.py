"""What there is to tell now, from the health state the pipeline keeps: each server and
feed in trouble, each that recovered after being reported, feed-days left to a person,
months that missed their first night. Each change comes with the key that makes it said
once; which were said already is for the store to answer.
"""

from __future__ import annotations

from datetime import date, timedelta

from releaf_pipeline.lib.alerts.messages import (
    FEED_STALE,
    SERVER_UNHEALTHY,
    Alert,
    Links,
    feed_recovered,
    feed_stale,
    month_late,
    needs_person,
    server_recovered,
    server_unhealthy,
)
from releaf_pipeline.lib.catchup import contiguous_ranges, next_step
from releaf_pipeline.lib.dates import month_bounds
from releaf_pipeline.lib.monthly_close import close_status
from releaf_pipeline.lib.store.alerts import last_alerts
from releaf_pipeline.lib.store.collection import feed_day_statuses
from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.health import feed_health_states
from releaf_pipeline.lib.store.registry import FeedRecord, list_feeds, list_servers
from releaf_pipeline.lib.store.tables import PAUSED

MONTHS_BACK = 4
"""Months looked at for a late close: as many as the monthly close looks at."""
PAST_LOOKBACK_DAYS = 31
"""How far before the catch-up's look-back feed-days are looked at: a day that slid out
of it is told of within this many days."""


def health_changes(db: Db, today: date, *, lookback_days: int, links: Links) -> list[Alert]:
    """Servers and feeds that are unhealthy now, and those that recovered since they were
    reported unhealthy."""
    out: list[Alert] = []
    with reading(db) as conn:
        reported = last_alerts(conn, "server:") | last_alerts(conn, "feed:")
    feeds = list_feeds(db)
    window = today - timedelta(days=lookback_days)
    paused: dict[int, list[date]] = {}
    for row in feed_day_statuses(db, window, today, problems_only=True):
        if row.status == PAUSED:
            paused.setdefault(row.feed_id, []).append(row.day)
    for server in list_servers(db):
        mine = [f for f in feeds if f.server_id == server.id and f.collected]
        was_unhealthy = reported.get(f"server:{server.id}", ("", {}))[0] == SERVER_UNHEALTHY
        if server.healthy is False:
            days = sorted({d for f in mine for d in paused.get(f.id, [])})
            out.append(server_unhealthy(server, mine, days, links))
        elif server.healthy and was_unhealthy:
            waiting = {f: paused[f.id] for f in mine if paused.get(f.id)}
            out.append(server_recovered(server, waiting, links))
    states = feed_health_states(db)
    for feed in feeds:
        state = states.get(feed.id)
        if state is None or not feed.collected:
            continue
        if not state.healthy:
            out.append(feed_stale(feed, state.since_day, state.last_data, state.reason, links))
        elif (said := reported.get(f"feed:{feed.id}", ("", {})))[0] == FEED_STALE:
            pending = None
            if state.recollect_from is not None and state.recollect_to is not None:
                pending = (state.recollect_from, state.recollect_to)
            missed = date.fromisoformat(said[1].get("gap_from") or state.since_day.isoformat())
            out.append(feed_recovered(feed, state.since_day, missed, pending, links))
    return out


def person_needed(db: Db, today: date, *, lookback_days: int, links: Links) -> list[Alert]:
    """Feed-days the pipeline will not collect on its own: failures no retry fixes, and
    days past the catch-up's look-back. One alert per feed, cause and run of days."""
    feeds = {f.id: f for f in list_feeds(db)}
    healthy = {s.id: bool(s.healthy) for s in list_servers(db)}
    start = today - timedelta(days=lookback_days + PAST_LOOKBACK_DAYS)
    groups: dict[tuple[int, str], list[tuple[date, str, str]]] = {}
    for row in feed_day_statuses(db, start, today, problems_only=True):
        feed = feeds.get(row.feed_id)
        if feed is None or not feed.collected:
            continue
        step = next_step(
            row.status, row.failure_kind, row.day, today=today, server=feed.server_name,
            server_healthy=healthy.get(feed.server_id, False), customer_code=feed.customer_code,
            lookback_days=lookback_days,
        )  # fmt: skip
        if step.automatic:
            continue
        past = row.day < today - timedelta(days=lookback_days)
        cause = "lookback" if past else row.failure_kind or row.status
        groups.setdefault((feed.id, cause), []).append((row.day, row.reason or row.status, cause))
    out = []
    for (feed_id, cause), rows in sorted(groups.items()):
        feed = feeds[feed_id]
        reasons = {d: r for d, r, _ in rows}
        for first, last in contiguous_ranges(reasons):
            days = [d for d in sorted(reasons) if first <= d <= last]
            out.append(_person(feed, days, cause, reasons[last], today, lookback_days, links))
    return out


def _person(
    feed: FeedRecord, days: list[date], cause: str, reason: str, today: date, lookback: int,
    links: Links,
) -> Alert:  # fmt: skip
    code = f"{feed.server_name}/{feed.customer_code}"
    by_hand = f"`releaf backfill --start {days[0]} --end {days[-1]} --feed {code}`"
    if cause == "lookback":
        why = f"{reason}; now past the {lookback}-day catch-up look-back"
        step = f"collect them with {by_hand}"
    else:
        why = reason
        step = f"fix the cause above (see `releaf feed list`), then run {by_hand}"
    return needs_person(feed, days, cause, why, step, links)


def late_months(db: Db, today: date, *, grace_days: int, links: Links) -> list[Alert]:
    """Months whose certificates were not all issued on the first night after their end:
    the accounts and what each waits for."""
    out = []
    first = today.replace(day=1)
    for _ in range(MONTHS_BACK):
        first = (first - timedelta(days=1)).replace(day=1)
        month = first.strftime("%Y-%m")
        _, last = month_bounds(month)
        # The night after a month's last day collects that day and closes the month: one
        # that is still open the day after has missed it.
        if today <= last + timedelta(days=1):
            continue
        statuses = close_status(db, month, today, grace_days=grace_days)
        waits = [(s.account, s.waiting) for s in statuses if not s.certified and not s.closable]
        if waits:
            out.append(month_late(month, waits, last + timedelta(days=grace_days), links))
    return out
