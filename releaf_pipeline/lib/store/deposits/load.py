"""What a batch's recomputation reads: each device's window and seed, old deposits,
stored resets, and the scope history."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import groupby
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import expression

from releaf_pipeline.lib.accounting.compute import METER_GLITCH, METER_RESET
from releaf_pipeline.lib.store.deposits.work import Work
from releaf_pipeline.lib.store.scope import scope_runs
from releaf_pipeline.lib.store.tables import anomalies, deposits, device_readings, devices, readings

EPOCH = date(1970, 1, 1)
# Two bound values per device, well under SQLite's limit of variables per statement.
_PAIRS_PER_QUERY = 5000


def _readings_query() -> sa.Select:
    """Readings as the accounting takes them: feed, device, day (as a number), life count."""
    return sa.select(
        readings.c.feed_id, readings.c.device_id, _epoch_day(readings.c.day), readings.c.life_count
    )


def _frame(conn: sa.Connection, query: sa.Select, columns: list[str]) -> pd.DataFrame:
    # The driver's own tuples: the columns are plain numbers and text (dates cast to
    # text), so SQLAlchemy's per-row processing would only cost time at fleet scale.
    rows = conn.execute(query).cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def _days(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        numbers = pd.to_numeric(frame[column]).to_numpy(dtype=np.int64)
        frame[column] = numbers.astype("datetime64[D]").astype("datetime64[ns]")
    return frame


class _EpochDay(expression.FunctionElement):
    """A date column as whole days since 1970-01-01.

    Millions of readings come back as plain integers, which numpy turns into dates at
    once, instead of as text for the driver to build and pandas to parse one by one.
    """

    type = sa.Integer()
    inherit_cache = True
    name = "epoch_day"


@compiles(_EpochDay, "sqlite")
def _epoch_day_sqlite(element: _EpochDay, compiler: Any, **kw: Any) -> str:
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5 AS INTEGER)"


@compiles(_EpochDay, "postgresql")
def _epoch_day_postgres(element: _EpochDay, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} - DATE '1970-01-01')"


def _epoch_day(column: sa.ColumnElement) -> sa.ColumnElement:
    """`column` read as days since 1970-01-01 (see `_EpochDay`)."""
    return _EpochDay(column).label(column.name)


READING_COLUMNS = ["feed_id", "device_id", "day", "life_count"]
DEPOSIT_COLUMNS = ["feed_id", "day", "pages", "account"]


def load_batch(
    conn: sa.Connection, batch: list[Work], *, seeds_from_rows: bool = True
) -> dict[str, pd.DataFrame]:
    """Everything the batch's recomputation reads, one query per table and start day."""
    ids = [w.feed.id for w in batch]
    device_frame = _frame(
        conn,
        sa.select(
            devices.c.feed_id, devices.c.device_id, devices.c.managed, devices.c.initial_count,
            devices.c.latest_count, _epoch_day(devices.c.counted_day),
        ).where(devices.c.feed_id.in_(ids), devices.c.ever_listed.is_(True)),
        ["feed_id", "device_id", "managed", "initial_count", "latest_count", "counted_day"],
    )  # fmt: skip
    window, seeds, old_deposits = [], [], []
    for (load_from, full), group in groupby(batch, key=lambda w: (w.load_from, w.full)):
        items = list(group)
        group_ids = [w.feed.id for w in items]
        start = items[0].start
        # Only the readings of devices a listing has shown are the customer's (the
        # contract's device membership); the others stay set aside.
        query = (
            _readings_query()
            .select_from(device_readings(readings.c.day >= (load_from if full else start)))
            .where(devices.c.feed_id.in_(group_ids), devices.c.ever_listed.is_(True))
        )
        window.append(_frame(conn, query, READING_COLUMNS))
        if not full:
            group_devices = device_frame[device_frame["feed_id"].isin(group_ids)]
            seeds += _seeds(conn, group_devices, start, from_rows=seeds_from_rows)
        old_deposits.append(
            _frame(
                conn,
                sa.select(
                    deposits.c.feed_id,
                    _epoch_day(deposits.c.day),
                    deposits.c.pages,
                    deposits.c.account,
                ).where(
                    deposits.c.feed_id.in_(group_ids),
                    deposits.c.day >= (load_from if full else start),
                ),
                DEPOSIT_COLUMNS,
            )
        )
    # Every reset counts towards LifeCount; a glitch matters from the earliest day a seed or
    # a recomputation starts on (a full one owns them all).
    glitches_from = EPOCH if any(w.full for w in batch) else min(w.start for w in batch)
    for frame in seeds:
        if not frame.empty:
            earliest = int(pd.to_numeric(frame["day"]).min())
            glitches_from = min(glitches_from, EPOCH + timedelta(days=earliest))
    old_meters = _frame(
        conn,
        sa.select(
            anomalies.c.feed_id, anomalies.c.device_id, _epoch_day(anomalies.c.day),
            anomalies.c.kind, anomalies.c.previous_count, anomalies.c.count, anomalies.c.detail,
        ).where(
            anomalies.c.feed_id.in_(ids),
            (anomalies.c.kind == METER_RESET)
            | ((anomalies.c.kind == METER_GLITCH) & (anomalies.c.day >= glitches_from)),
        ),
        ["feed_id", "device_id", "day", "kind", "previous_count", "count", "detail"],
    )  # fmt: skip
    managed_ids = [w.feed.id for w in batch if w.feed.scope == "managed"]
    runs = pd.DataFrame.from_records(
        scope_runs(conn, managed_ids, min(w.start for w in batch)),
        columns=["feed_id", "device_id", "first_day", "last_day", "managed"],
    )
    return {
        "window": _days(concat(window, READING_COLUMNS), "day"),
        "seeds": _days(concat(seeds, READING_COLUMNS), "day"),
        "old_deposits": _days(concat(old_deposits, DEPOSIT_COLUMNS), "day"),
        "devices": device_frame,
        "old_meters": _days(old_meters, "day"),
        "runs": runs,
    }


def _seeds(
    conn: sa.Connection, group_devices: pd.DataFrame, start: date, *, from_rows: bool
) -> list[pd.DataFrame]:
    """Each device's latest reading before `start`.

    No reading before `start` changed since the deposits were last computed (else the
    feed would be dirty from that reading's day), so when that computation ended on a
    reading dated before `start`, that reading is the one: a night takes it from the
    device's row. The others (the computation ended on `start` or later, or never ran)
    look it up, one index seek each.
    """
    counted = pd.to_numeric(group_devices["counted_day"]).to_numpy(dtype=float, na_value=np.nan)
    known = counted < epoch_number(start) if from_rows else np.zeros(len(counted), dtype=bool)
    out = [
        pd.DataFrame(
            {
                "feed_id": group_devices["feed_id"].to_numpy()[known],
                "device_id": group_devices["device_id"].to_numpy()[known],
                "day": counted[known].astype(np.int64),
                "life_count": group_devices["latest_count"].to_numpy()[known],
            }
        )
    ]
    pairs = list(
        zip(
            group_devices["feed_id"].to_numpy()[~known].tolist(),
            group_devices["device_id"].to_numpy()[~known].tolist(),
            strict=True,
        )
    )
    prior = readings.alias("prior")
    before = (
        sa.select(prior.c.day)
        .where(
            prior.c.feed_id == devices.c.feed_id,
            prior.c.device_id == devices.c.device_id,
            prior.c.day < start,
        )
        .order_by(prior.c.day.desc())
        .limit(1)
        .correlate(devices)
        .scalar_subquery()
    )
    for i in range(0, len(pairs), _PAIRS_PER_QUERY):
        out.append(
            _frame(
                conn,
                _readings_query()
                .select_from(device_readings(readings.c.day == before))
                .where(
                    sa.tuple_(devices.c.feed_id, devices.c.device_id).in_(
                        pairs[i : i + _PAIRS_PER_QUERY]
                    )
                ),
                READING_COLUMNS,
            )
        )  # fmt: skip
    return out


def epoch_number(day: date) -> int:
    return (day - EPOCH).days


def concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
