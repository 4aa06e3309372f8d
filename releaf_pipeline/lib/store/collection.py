"""Writes of one collection: readings, devices and the status of each feed-day.

Each function here is one transaction, so a run killed at any point leaves a feed-day
either as it was or fully written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.mpsmonitor.models import Device, DeviceReadings
from releaf_pipeline.lib.store.engine import upsert
from releaf_pipeline.lib.store.tables import anomalies, devices, feed_days, feeds, readings

COLLECTED, PAUSED, FAILED = "collected", "paused", "failed"
INVALID_COUNTER = "invalid_counter"


def days_between(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`, inclusive (empty when last < first)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _status_rows(
    feed_id: int,
    first: date,
    last: date,
    status: str,
    reason: str | None,
    run_id: str | None,
    now: datetime,
) -> list[dict]:
    return [
        {
            "feed_id": feed_id,
            "day": d,
            "status": status,
            "reason": reason,
            "run_id": run_id,
            "updated_at": now,
        }
        for d in days_between(first, last)
    ]


def save_collection(
    engine: Engine,
    *,
    feed_id: int,
    device_rows: list[Device],
    reading_rows: list[DeviceReadings],
    fetched_from: date,
    fetched_to: date,
    collected_from: date,
    run_id: str | None,
    now: datetime,
) -> int:
    """Store what was fetched for one feed and mark its days collected, in one transaction.

    Readings are upserted (a late or corrected reading replaces the old one; none is ever
    deleted). Returns how many readings were new or changed.
    """
    new_rows = [
        {"feed_id": feed_id, "device_id": r.device_id, "day": d, "life_count": c}
        for r in reading_rows
        for d, c in r.counts.items()
        if fetched_from <= d <= fetched_to
    ]
    with engine.begin() as conn:
        existing = dict(
            ((row.device_id, row.day), row.life_count)
            for row in conn.execute(
                sa.select(readings.c.device_id, readings.c.day, readings.c.life_count).where(
                    readings.c.feed_id == feed_id,
                    readings.c.day.between(fetched_from, fetched_to),
                )
            )
        )
        changed = [
            r for r in new_rows if existing.get((r["device_id"], r["day"])) != r["life_count"]
        ]
        upsert(conn, readings, changed, ["feed_id", "device_id", "day"])
        upsert(
            conn,
            devices,
            [
                {"feed_id": feed_id, "device_id": d.device_id, "managed": d.managed}
                for d in device_rows
            ],
            ["feed_id", "device_id"],
        )
        status_rows = _status_rows(
            feed_id, collected_from, fetched_to, COLLECTED, None, run_id, now
        )
        flagged = _flag_rejected(conn, feed_id, reading_rows, fetched_from, fetched_to, now)
        for row in status_rows:
            if row["day"] in flagged:
                row["reason"] = flagged[row["day"]]
        upsert(conn, feed_days, status_rows, ["feed_id", "day"])
        synced = conn.execute(
            sa.select(feeds.c.synced_through).where(feeds.c.id == feed_id)
        ).scalar_one()
        if synced is None or synced < fetched_to:
            conn.execute(
                feeds.update().where(feeds.c.id == feed_id).values(synced_through=fetched_to)
            )
    return len(changed)


def _flag_rejected(
    conn: sa.Connection,
    feed_id: int,
    reading_rows: list[DeviceReadings],
    first: date,
    last: date,
    now: datetime,
) -> dict[date, str]:
    """Record impossible readings as anomalies; returns a feed-day note per affected day."""
    rows = [
        {"feed_id": feed_id, "device_id": r.device_id, "day": d, "kind": INVALID_COUNTER,
         "previous_count": None, "count": None, "detail": why, "detected_at": now}
        for r in reading_rows
        for d, why in r.rejected.items()
        if first <= d <= last
    ]  # fmt: skip
    upsert(conn, anomalies, rows, ["feed_id", "device_id", "day", "kind"])
    notes: dict[date, list[str]] = {}
    for row in rows:
        notes.setdefault(row["day"], []).append(f"device {row['device_id']}: {row['detail']}")
    return {
        day: f"{len(items)} impossible reading(s) set aside as anomalies, not counted: "
        + "; ".join(items)
        for day, items in notes.items()
    }


def record_status(
    engine: Engine,
    *,
    feed_id: int,
    first: date,
    last: date,
    status: str,
    reason: str,
    run_id: str | None,
    now: datetime,
) -> None:
    """Record feed-days as paused or failed, with the reason (deposits are left as they were)."""
    with engine.begin() as conn:
        upsert(
            conn,
            feed_days,
            _status_rows(feed_id, first, last, status, reason, run_id, now),
            ["feed_id", "day"],
        )


def feed_day_statuses(
    engine: Engine, first: date, last: date, *, problems_only: bool = False
) -> list[sa.Row]:
    """(feed_id, day, status, reason) of recorded feed-days in the range (only the paused
    and failed ones with `problems_only`)."""
    query = (
        sa.select(feed_days.c.feed_id, feed_days.c.day, feed_days.c.status, feed_days.c.reason)
        .where(feed_days.c.day.between(first, last))
        .order_by(feed_days.c.feed_id, feed_days.c.day)
    )
    if problems_only:
        query = query.where(feed_days.c.status != COLLECTED)
    with engine.connect() as conn:
        return conn.execute(query).all()
