"""Writes of one collection: readings, devices and the status of each feed-day.

Each function here is one transaction, so a run killed at any point leaves a feed-day
either as it was or fully written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.mpsmonitor.decoding import device_key
from releaf_pipeline.lib.mpsmonitor.models import Device, DeviceReadings
from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS
from releaf_pipeline.lib.store.engine import Db, reading, upsert, writing
from releaf_pipeline.lib.store.registry import FeedRecord
from releaf_pipeline.lib.store.scope import record_scope
from releaf_pipeline.lib.store.stale_days import COLLECTION_VIEWS, mark_range
from releaf_pipeline.lib.store.tables import (
    COLLECTED,
    anomalies,
    devices,
    feed_days,
    feeds,
    readings,
)

INVALID_COUNTER = "invalid_counter"
DUPLICATE_READING = "duplicate_reading"
UNLISTED_DEVICE = "unlisted_device"


def _status_rows(
    feed_id: int,
    first: date,
    last: date,
    status: str,
    reason: str | None,
    run_id: str | None,
    now: datetime,
    kind: str | None = None,
) -> list[dict]:
    return [
        {
            "feed_id": feed_id,
            "day": d,
            "status": status,
            "reason": reason,
            "run_id": run_id,
            "updated_at": now,
            "failure_kind": kind,
        }
        for d in days_between(first, last)
    ]


def save_collection(
    db: Db,
    *,
    feed: FeedRecord,
    device_rows: list[Device],
    reading_rows: list[DeviceReadings],
    fetched_from: date,
    fetched_to: date,
    run_id: str | None,
    now: datetime,
) -> int:
    """Store what was fetched for one feed and mark its days collected, in one transaction.

    Readings are upserted (a late or corrected reading replaces the old one; none is ever
    deleted); each listed device's IsManaged is recorded for the days no earlier collection
    covered (rule 1); the days fetched from activation on are recorded as collected; and
    the feed is marked for the deposits to catch up from the earliest day whose inputs
    changed. Returns how many readings were new or changed.

    A device is the customer's once a Device/List has listed it: the readings of a device
    never listed are kept but set aside (an `unlisted_device` anomaly), and the listing
    that first shows it brings all of its readings into the deposits (rule 8). Device ids
    compare without regard to case; the spelling the store has stands.
    """
    activation = feed.activation_date
    covered_from = max(fetched_from, activation)
    with writing(db) as conn:
        known = _known_devices(conn, feed.id)
        device_rows, reading_rows = _spelled_as_stored(known, device_rows, reading_rows)
        listed_now = {d.device_id for d in device_rows}
        ever_listed = {row.device_id for row in known.values() if row.ever_listed}
        newly_listed = listed_now - ever_listed
        counted = listed_now | ever_listed
        new_rows = [
            {"feed_id": feed.id, "device_id": r.device_id, "day": d, "life_count": c}
            for r in reading_rows
            for d, c in r.counts.items()
            if fetched_from <= d <= fetched_to
        ]
        existing = dict(
            ((row.device_id, row.day), row.life_count)
            for row in conn.execute(
                sa.select(readings.c.device_id, readings.c.day, readings.c.life_count).where(
                    readings.c.feed_id == feed.id,
                    readings.c.day.between(fetched_from, fetched_to),
                )
            )
        )
        changed = [
            r for r in new_rows if existing.get((r["device_id"], r["day"])) != r["life_count"]
        ]
        upsert(conn, readings, changed, ["feed_id", "device_id", "day"])
        _save_devices(conn, feed.id, known, device_rows, new_rows)
        _flag_unlisted(conn, feed.id, {r["device_id"] for r in new_rows} - counted, now)
        scope_from = record_scope(
            conn, feed.id, covered_from, fetched_to, {d.device_id: d.managed for d in device_rows}
        )
        status_rows = _status_rows(feed.id, covered_from, fetched_to, COLLECTED, None, run_id, now)
        flagged = _flag_rejected(conn, feed.id, reading_rows, fetched_from, fetched_to, now)
        _flag_duplicates(conn, feed.id, reading_rows, fetched_from, fetched_to, now)
        for row in status_rows:
            if row["day"] in flagged:
                row["reason"] = flagged[row["day"]]
        upsert(conn, feed_days, status_rows, ["feed_id", "day"])
        mark_range(conn, fetched_from, fetched_to, COLLECTION_VIEWS)

        state = conn.execute(
            sa.select(feeds.c.synced_through, feeds.c.dirty_from).where(feeds.c.id == feed.id)
        ).one()
        # Each input that changed moves the day the deposits must be recomputed from.
        baseline_window = activation - timedelta(days=BASELINE_LOOKBACK_DAYS)
        dirty = [
            max(r["day"], activation)
            for r in changed
            if r["day"] >= baseline_window and r["device_id"] in counted
        ]
        # A device listed for the first time brings every reading it already had, as
        # late readings would (rule 8).
        first_listed = _earliest_reading(conn, feed.id, newly_listed, baseline_window)
        if first_listed is not None:
            dirty.append(max(first_listed, activation))
        if state.synced_through is None:
            dirty.append(activation)
        elif fetched_to > state.synced_through:
            dirty.append(max(state.synced_through + timedelta(days=1), activation))
        if scope_from is not None and feed.scope == "managed":
            dirty.append(scope_from)
        values: dict = {}
        if state.synced_through is None or state.synced_through < fetched_to:
            values["synced_through"] = fetched_to
        if dirty:
            earliest = min(dirty)
            if state.dirty_from is not None:
                earliest = min(earliest, state.dirty_from)
            values["dirty_from"] = earliest
            values["inputs_version"] = feeds.c.inputs_version + 1
        if values:
            conn.execute(feeds.update().where(feeds.c.id == feed.id).values(**values))
    return len(changed)


def _known_devices(conn: sa.Connection, feed_id: int) -> dict[str, sa.Row]:
    """The feed's stored devices by `device_key`."""
    rows = conn.execute(
        sa.select(
            devices.c.device_id, devices.c.managed, devices.c.latest_day, devices.c.ever_listed
        )
        .where(devices.c.feed_id == feed_id)
        .order_by(devices.c.device_id)
    )
    known: dict[str, sa.Row] = {}
    for row in rows:
        known.setdefault(device_key(row.device_id), row)
    return known


def _spelled_as_stored(
    known: dict[str, sa.Row], device_rows: list[Device], reading_rows: list[DeviceReadings]
) -> tuple[list[Device], list[DeviceReadings]]:
    """The rows with each device id spelled as the store has it, else as the listing has
    it: one physical device is one row whatever case each list uses."""
    spelling = {key: row.device_id for key, row in known.items()}
    for device_id in [d.device_id for d in device_rows] + [r.device_id for r in reading_rows]:
        spelling.setdefault(device_key(device_id), device_id)
    return (
        [replace(d, device_id=spelling[device_key(d.device_id)]) for d in device_rows],
        [replace(r, device_id=spelling[device_key(r.device_id)]) for r in reading_rows],
    )


def _earliest_reading(
    conn: sa.Connection, feed_id: int, device_ids: set[str], since: date
) -> date | None:
    """The date of the earliest reading dated `since` or later of any of the devices."""
    if not device_ids:
        return None
    return conn.execute(
        sa.select(sa.func.min(readings.c.day)).where(
            readings.c.feed_id == feed_id,
            readings.c.device_id.in_(sorted(device_ids)),
            readings.c.day >= since,
        )
    ).scalar_one()


def _save_devices(
    conn: sa.Connection,
    feed_id: int,
    known_by_key: dict[str, sa.Row],
    device_rows: list[Device],
    reading_rows: list[dict],
) -> None:
    """Listed devices with their flag as last seen, every device with a reading, whether
    a listing ever showed it, and each device's latest reading date (where the next night
    re-reads from)."""
    latest: dict[str, date] = {}
    for r in reading_rows:
        if r["day"] > latest.get(r["device_id"], date.min):
            latest[r["device_id"]] = r["day"]
    known = {row.device_id: row for row in known_by_key.values()}
    conn.execute(
        devices.update()
        .where(devices.c.feed_id == feed_id, devices.c.listed.is_(True))
        .values(listed=False)
    )
    listed = {d.device_id: d.managed for d in device_rows}
    rows = []
    for device_id in listed.keys() | latest.keys():
        before = known.get(device_id)
        latest_day = latest.get(device_id)
        if before is not None and before.latest_day is not None:
            latest_day = max(latest_day or before.latest_day, before.latest_day)
        managed = listed.get(device_id, bool(before.managed) if before is not None else False)
        rows.append(
            {
                "feed_id": feed_id,
                "device_id": device_id,
                "managed": managed,
                "listed": device_id in listed,
                "ever_listed": device_id in listed or bool(before and before.ever_listed),
                "latest_day": latest_day,
            }
        )
    upsert(conn, devices, sorted(rows, key=lambda r: r["device_id"]), ["feed_id", "device_id"])


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


def _flag_duplicates(
    conn: sa.Connection,
    feed_id: int,
    reading_rows: list[DeviceReadings],
    first: date,
    last: date,
    now: datetime,
) -> None:
    """Record each date the server gave two different readings for as one anomaly, with
    the lowest and highest values: the higher one is the reading that counts."""
    rows = [
        {"feed_id": feed_id, "device_id": r.device_id, "day": d, "kind": DUPLICATE_READING,
         "previous_count": min(values), "count": max(values), "detail": (
             f"{len(values)} different readings for one date "
             f"({', '.join(f'{v:,}' for v in values)}): the higher, {max(values):,}, stands"),
         "detected_at": now}
        for r in reading_rows
        for d, values in r.duplicates.items()
        if first <= d <= last
    ]  # fmt: skip
    upsert(conn, anomalies, rows, ["feed_id", "device_id", "day", "kind"])


def _flag_unlisted(conn: sa.Connection, feed_id: int, device_ids: set[str], now: datetime) -> None:
    """Record each device that Counter/List reports but no Device/List ever listed as one
    anomaly, dated by its first reading and naming the days set aside."""
    if not device_ids:
        return
    spans = conn.execute(
        sa.select(
            readings.c.device_id,
            sa.func.min(readings.c.day),
            sa.func.max(readings.c.day),
            sa.func.count(),
        )
        .where(readings.c.feed_id == feed_id, readings.c.device_id.in_(sorted(device_ids)))
        .group_by(readings.c.device_id)
    ).all()
    conn.execute(
        anomalies.delete().where(
            anomalies.c.feed_id == feed_id,
            anomalies.c.device_id.in_(sorted(device_ids)),
            anomalies.c.kind == UNLISTED_DEVICE,
        )
    )
    rows = [
        {"feed_id": feed_id, "device_id": device_id, "day": first, "kind": UNLISTED_DEVICE,
         "previous_count": None, "count": None, "detail": (
             f"Device/List has never listed this device: its {n} reading(s) dated "
             f"{first}..{last} are set aside, not counted, until a listing shows it"),
         "detected_at": now}
        for device_id, first, last, n in spans
    ]  # fmt: skip
    upsert(conn, anomalies, rows, ["feed_id", "device_id", "day", "kind"])


def record_status(
    db: Db,
    *,
    feed_id: int,
    first: date,
    last: date,
    status: str,
    reason: str,
    run_id: str | None,
    now: datetime,
    kind: str | None = None,
) -> None:
    """Record feed-days as paused or failed, with the reason and a failure's kind (deposits
    are left as they were)."""
    with writing(db) as conn:
        upsert(
            conn,
            feed_days,
            _status_rows(feed_id, first, last, status, reason, run_id, now, kind),
            ["feed_id", "day"],
        )
        mark_range(conn, first, last, COLLECTION_VIEWS)


def feed_day_statuses(
    db: Db, first: date, last: date, *, problems_only: bool = False
) -> list[sa.Row]:
    """(feed_id, day, status, reason, run_id, failure_kind) of recorded feed-days in the
    range (only the paused and failed ones with `problems_only`); run_id is the run that
    recorded it."""
    query = (
        sa.select(
            feed_days.c.feed_id,
            feed_days.c.day,
            feed_days.c.status,
            feed_days.c.reason,
            feed_days.c.run_id,
            feed_days.c.failure_kind,
        )
        .where(feed_days.c.day.between(first, last))
        .order_by(feed_days.c.feed_id, feed_days.c.day)
    )
    if problems_only:
        query = query.where(feed_days.c.status != COLLECTED)
    with reading(db) as conn:
        return conn.execute(query).all()


def collected_days(db: Db, first: date, last: date) -> dict[int, int]:
    """feed_id -> how many days of [first, last] are recorded as collected (feeds with
    none are left out)."""
    query = (
        sa.select(feed_days.c.feed_id, sa.func.count())
        .where(feed_days.c.day.between(first, last), feed_days.c.status == COLLECTED)
        .group_by(feed_days.c.feed_id)
    )
    with reading(db) as conn:
        return {feed_id: n for feed_id, n in conn.execute(query)}


def device_latest_days(db: Db, feed_ids: list[int]) -> dict[int, list[date]]:
    """feed_id -> the date of each listed device's latest mirrored reading (devices with
    one)."""
    out: dict[int, list[date]] = {}
    if not feed_ids:
        return out
    with reading(db) as conn:
        for i in range(0, len(feed_ids), 5000):
            rows = conn.execute(
                sa.select(devices.c.feed_id, devices.c.latest_day).where(
                    devices.c.feed_id.in_(feed_ids[i : i + 5000]),
                    devices.c.latest_day.is_not(None),
                    # A device no listing ever showed is not the customer's: its readings
                    # do not hold the re-read window back.
                    devices.c.ever_listed.is_(True),
                )
            )
            for feed_id, day in rows:
                out.setdefault(feed_id, []).append(day)
    return out
