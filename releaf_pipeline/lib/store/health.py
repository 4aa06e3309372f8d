"""Server and feed health: current state, since when, why, and the history of changes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from releaf_pipeline.lib.business_days import business_days_after, is_stale
from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS
from releaf_pipeline.lib.store.engine import Db, reading, writing
from releaf_pipeline.lib.store.registry import FeedRecord
from releaf_pipeline.lib.store.scope import managed_readings_only
from releaf_pipeline.lib.store.stale_days import mark_problem_days
from releaf_pipeline.lib.store.tables import (
    device_readings,
    devices,
    feed_health,
    feeds,
    health_events,
    readings,
    servers,
)


def _event(
    conn: sa.Connection,
    subject: str,
    subject_id: int,
    healthy: bool,
    at: datetime,
    reason: str | None,
    day: date | None = None,
) -> None:
    conn.execute(
        health_events.insert().values(
            subject=subject,
            subject_id=subject_id,
            healthy=healthy,
            day=day,
            at=at,
            reason=reason,
        )
    )


def record_server_health(
    db: Db, server_id: int, *, healthy: bool, reason: str | None, now: datetime
) -> bool:
    """Store a health check's outcome; returns True when the state changed."""
    with writing(db) as conn:
        current = conn.execute(
            sa.select(servers.c.healthy).where(servers.c.id == server_id)
        ).scalar_one()
        changed = current is None or bool(current) != healthy
        values: dict = {"healthy": healthy, "health_reason": reason, "health_checked_at": now}
        if changed:
            values["health_since"] = now
            _event(conn, "server", server_id, healthy, now, reason)
            # What happens next to its feeds' missed days depends on it.
            mark_problem_days(conn, server_id)
        conn.execute(servers.update().where(servers.c.id == server_id).values(**values))
    return changed


@dataclass(frozen=True)
class FeedHealth:
    """A feed's freshness state."""

    feed_id: int
    healthy: bool
    since_day: date
    last_data: date | None
    reason: str | None
    evaluated_day: date
    recollect_from: date | None
    recollect_to: date | None


def _reading_days(conn: sa.Connection, feed: FeedRecord, since: date, last: date) -> list[date]:
    """Dates in [since, last] with a reading of a listed device in scope that day (rule 1)."""
    query = (
        sa.select(readings.c.day)
        .distinct()
        .select_from(device_readings(readings.c.day.between(since, last)))
        .where(devices.c.feed_id == feed.id, devices.c.ever_listed.is_(True))
    )
    if feed.scope == "managed":
        query = managed_readings_only(query)
    return sorted(conn.execute(query).scalars())


def evaluate_feed_health(
    db: Db,
    feed: FeedRecord,
    first: date,
    last: date,
    *,
    holidays: Collection[date],
    now: datetime,
) -> list[tuple[date, bool]]:
    """Evaluate the feed on each collected day in [first, last] not evaluated before.

    Unhealthy when at least 3 business days lie in (L, T]. On turning healthy again the
    days from the old L + 1 to the latest collected day are marked to be collected again.
    Returns the state changes as (day, healthy).
    """
    changes: list[tuple[date, bool]] = []
    with writing(db) as conn:
        state = conn.execute(sa.select(feed_health).where(feed_health.c.feed_id == feed.id)).first()
        start = first if state is None else max(first, state.evaluated_day + timedelta(days=1))
        if start > last:
            return changes
        baseline_window = feed.activation_date - timedelta(days=BASELINE_LOOKBACK_DAYS)
        since = state.last_data if state is not None and state.last_data else baseline_window
        days = _reading_days(conn, feed, max(since, baseline_window), last)
        synced = conn.execute(
            sa.select(feeds.c.synced_through).where(feeds.c.id == feed.id)
        ).scalar_one()
        healthy = True if state is None else state.healthy
        since = start if state is None else state.since_day
        last_data = None if state is None else state.last_data
        reason = None if state is None else state.reason
        rec_from = None if state is None else state.recollect_from
        rec_to = None if state is None else state.recollect_to
        idx = 0
        latest: date | None = None
        for day in days_between(start, last):
            while idx < len(days) and days[idx] <= day:
                latest = days[idx]
                idx += 1
            data = latest if latest is not None else feed.activation_date - timedelta(days=1)
            stale = is_stale(data, day, holidays)
            if stale and healthy:
                healthy, since = False, day
                n = business_days_after(data, day, holidays)
                reason = f"no new data since {data} ({n} business days)"
                changes.append((day, False))
                _event(conn, "feed", feed.id, False, now, reason, day)
            elif not stale and not healthy:
                # Days before activation are never collected as feed-days; the baseline
                # window is read again by the fetch plan itself.
                gap_from = max((last_data or data) + timedelta(days=1), feed.activation_date)
                rec_from = gap_from if rec_from is None else min(rec_from, gap_from)
                rec_to = max(d for d in (rec_to, synced, last) if d is not None)
                healthy, since, reason = True, day, None
                changes.append((day, True))
                note = f"data again on {data}; collecting {rec_from}..{rec_to} again"
                _event(conn, "feed", feed.id, True, now, note, day)
            if healthy or last_data is None:
                last_data = data
        values = dict(
            healthy=healthy,
            since_day=since,
            last_data=last_data,
            reason=reason,
            evaluated_day=last,
            recollect_from=rec_from,
            recollect_to=rec_to,
        )
        if state is None:
            conn.execute(feed_health.insert().values(feed_id=feed.id, **values))
        else:
            conn.execute(
                feed_health.update().where(feed_health.c.feed_id == feed.id).values(**values)
            )
    return changes


def clear_recollect(db: Db, feed_id: int, first: date, last: date) -> None:
    """Forget a pending re-collection once [first, last] covered it."""
    with writing(db) as conn:
        conn.execute(
            feed_health.update()
            .where(
                feed_health.c.feed_id == feed_id,
                feed_health.c.recollect_from >= first,
                feed_health.c.recollect_to <= last,
            )
            .values(recollect_from=None, recollect_to=None)
        )


def feed_health_states(db: Db) -> dict[int, FeedHealth]:
    """The current freshness state of every evaluated feed."""
    columns = [feed_health.c[f.name] for f in fields(FeedHealth)]
    with reading(db) as conn:
        return {r.feed_id: FeedHealth(**r._mapping) for r in conn.execute(sa.select(*columns))}


@dataclass(frozen=True)
class HealthEvent:
    """One change of a server's or a feed's health."""

    subject: str
    subject_id: int
    healthy: bool
    day: date | None
    at: datetime
    reason: str | None


def health_history(db: Db, subject: str | None = None) -> list[HealthEvent]:
    """Every recorded change, oldest first."""
    query = sa.select(health_events).order_by(health_events.c.id)
    if subject:
        query = query.where(health_events.c.subject == subject)
    with reading(db) as conn:
        return [
            HealthEvent(r.subject, r.subject_id, r.healthy, r.day, r.at, r.reason)
            for r in conn.execute(query)
        ]


def unhealthy_feeds_between(
    db: Db, first: date, last: date
) -> dict[date, list[tuple[int, date, str | None]]]:
    """For each day in [first, last]: (feed_id, since, reason) of the feeds whose freshness
    state on that day was unhealthy (the latest recorded change dated on or before it).

    Two reads, whatever the history's length: each feed's state on `first`, then the
    changes dated in the range, applied day by day."""
    dated = sa.and_(health_events.c.subject == "feed", health_events.c.day.is_not(None))
    latest = (
        sa.select(sa.func.max(health_events.c.id))
        .where(dated, health_events.c.day <= first)
        .group_by(health_events.c.subject_id)
    )
    columns = (health_events.c.id, health_events.c.subject_id, health_events.c.healthy,
               health_events.c.day, health_events.c.reason)  # fmt: skip
    with reading(db) as conn:
        at_first = conn.execute(sa.select(*columns).where(health_events.c.id.in_(latest))).all()
        later = conn.execute(
            sa.select(*columns)
            .where(dated, health_events.c.day > first, health_events.c.day <= last)
            .order_by(health_events.c.day, health_events.c.id)
        ).all()
    # The change recorded last wins, as when the states were recorded one after another.
    state = {r.subject_id: r for r in at_first}
    out: dict[date, list[tuple[int, date, str | None]]] = {}
    pending = iter(later)
    change = next(pending, None)
    for day in days_between(first, last):
        while change is not None and change.day <= day:
            held = state.get(change.subject_id)
            if held is None or change.id > held.id:
                state[change.subject_id] = change
            change = next(pending, None)
        out[day] = [(f, r.day, r.reason) for f, r in sorted(state.items()) if not r.healthy]
    return out
