"""Rule 1's scope history: the IsManaged that the first collection covering a day saw.

Each device keeps non-overlapping runs of days [first_day, last_day] with one flag. A
collection that covers a range of days records its flag only on the days no earlier
collection covered, so a later change of IsManaged never changes a day already collected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from releaf_pipeline.lib.store.engine import execute_many
from releaf_pipeline.lib.store.tables import device_scope, readings

_DAY = timedelta(days=1)


@dataclass(frozen=True, order=True)
class ScopeRun:
    """Days [first, last] on which the device's scope was recorded as `managed`."""

    first: date
    last: date
    managed: bool


def cover(runs: Iterable[ScopeRun], first: date, last: date, managed: bool) -> list[ScopeRun]:
    """The runs after a collection covering [first, last] saw `managed`.

    Days already recorded keep their flag; uncovered days take `managed`; neighbouring runs
    with the same flag merge, so a device whose flag never changes keeps one run.
    """
    ordered = sorted(runs)
    added: list[ScopeRun] = []
    cursor = first
    for run in ordered:
        if run.last < cursor:
            continue
        if run.first > last:
            break
        if run.first > cursor:
            added.append(ScopeRun(cursor, run.first - _DAY, managed))
        cursor = max(cursor, run.last + _DAY)
        if cursor > last:
            break
    if cursor <= last:
        added.append(ScopeRun(cursor, last, managed))
    merged: list[ScopeRun] = []
    for run in sorted(ordered + added):
        if merged and merged[-1].managed == run.managed and merged[-1].last + _DAY >= run.first:
            merged[-1] = ScopeRun(merged[-1].first, max(merged[-1].last, run.last), run.managed)
        else:
            merged.append(run)
    return merged


def record_scope(
    conn: sa.Connection,
    feed_id: int,
    first: date,
    last: date,
    seen: Mapping[str, bool],
) -> date | None:
    """Record what a collection covering [first, last] saw for each listed device.

    Returns the earliest day that got a flag for the first time (None when every day
    was already recorded): the deposits of days from there may change.
    """
    if last < first or not seen:
        return None
    # Only runs touching [first - 1, ...] can merge with or bound the new days.
    rows = conn.execute(
        sa.select(
            device_scope.c.device_id,
            device_scope.c.first_day,
            device_scope.c.last_day,
            device_scope.c.managed,
        ).where(
            device_scope.c.feed_id == feed_id,
            device_scope.c.last_day >= first - _DAY,
            device_scope.c.first_day <= last + _DAY,
        )
    ).all()
    existing: dict[str, list[ScopeRun]] = {}
    for device_id, run_first, run_last, flag in rows:
        existing.setdefault(device_id, []).append(ScopeRun(run_first, run_last, bool(flag)))

    earliest: date | None = None
    stale: list[dict] = []
    fresh: list[dict] = []
    for device_id, managed in seen.items():
        before = existing.get(device_id, [])
        after = cover(before, first, last, managed)
        if after == sorted(before):
            continue
        recorded = {d for r in before for d in _days(r, first, last)}
        new_day = next((d for d in _range(first, last) if d not in recorded), None)
        if new_day is not None and (earliest is None or new_day < earliest):
            earliest = new_day
        kept = set(after) & set(before)
        stale += [
            {"feed_id": feed_id, "device_id": device_id, "first_day": r.first}
            for r in before
            if r not in kept
        ]
        fresh += [
            {
                "feed_id": feed_id,
                "device_id": device_id,
                "first_day": r.first,
                "last_day": r.last,
                "managed": r.managed,
            }
            for r in after
            if r not in kept
        ]
    execute_many(conn, _DELETE_RUN, stale)
    execute_many(conn, _INSERT_RUN, fresh)
    return earliest


_DELETE_RUN = device_scope.delete().where(
    device_scope.c.feed_id == sa.bindparam("feed_id"),
    device_scope.c.device_id == sa.bindparam("device_id"),
    device_scope.c.first_day == sa.bindparam("first_day"),
)
_INSERT_RUN = device_scope.insert()


def _range(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += _DAY


def _days(run: ScopeRun, first: date, last: date) -> Iterable[date]:
    return _range(max(run.first, first), min(run.last, last))


def scope_runs(conn: sa.Connection, feed_ids: list[int], since: date) -> list[tuple]:
    """(feed_id, device_id, first_day, last_day, managed) of runs ending on or after `since`."""
    if not feed_ids:
        return []
    return [
        tuple(r)
        for r in conn.execute(
            sa.select(
                device_scope.c.feed_id,
                device_scope.c.device_id,
                device_scope.c.first_day,
                device_scope.c.last_day,
                device_scope.c.managed,
            ).where(device_scope.c.feed_id.in_(feed_ids), device_scope.c.last_day >= since)
        )
    ]


def managed_readings_only(query: sa.Select) -> sa.Select:
    """`query` (over `readings`) kept to the readings of days their device was recorded
    as managed (rule 1's history)."""
    return query.join(
        device_scope,
        (device_scope.c.feed_id == readings.c.feed_id)
        & (device_scope.c.device_id == readings.c.device_id)
        & readings.c.day.between(device_scope.c.first_day, device_scope.c.last_day),
    ).where(device_scope.c.managed.is_(True))
