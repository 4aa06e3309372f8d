"""Deposits from the mirrored readings: recompute what changed, write what differs.

Every change of a feed's deposit inputs (a reading added or changed, a day's scope
recorded, new days synced, the activation moved) records the earliest day it affects in
`feeds.dirty_from`. The deposits are recomputed from that day only, seeded by each
device's latest reading before it: `count(X, S - 1)` is all the later days need to know
about the past, so the result is exactly what a recompute of the whole history gives
(rule 7), and a night's cost follows the feeds and days that changed, not the length of
the history. A dirty day on or before activation recomputes the feed from its baseline.

LifeCount is kept exact the same way: a device's pages since its baseline telescope to
`latest - initial + (the previous counts of its meter resets)`, and every counted reset
is kept as an anomaly (out-of-scope ones say so), so the days before S need no reloading.

Writes go in one transaction per batch of feeds; a feed is marked clean only if its
inputs did not change while it was being computed, so a collection that lands meanwhile
is never lost and the month close can tell when deposits are up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import expression

from releaf_pipeline.lib.accounting import compute_deposits
from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS
from releaf_pipeline.lib.store.engine import execute_many, upsert
from releaf_pipeline.lib.store.registry import FeedRecord, list_feeds
from releaf_pipeline.lib.store.scope import scope_runs
from releaf_pipeline.lib.store.tables import (
    anomalies,
    deposits,
    device_readings,
    devices,
    feeds,
    readings,
)

METER_RESET = "meter_reset"
OUT_OF_SCOPE_RESET = "out of scope that day: its pages are not deposited"

FEEDS_PER_BATCH = 2000
# About 250 MiB of frames per batch at most, whatever the length of the history.
READINGS_PER_BATCH = 400_000
DEVICES_PER_FEED_ESTIMATE = 10
_EPOCH = date(1970, 1, 1)
# Two bound values per device, well under SQLite's limit of variables per statement.
_PAIRS_PER_QUERY = 5000


@dataclass
class DepositSummary:
    """What a deposit update did."""

    feeds: int = 0
    days_written: int = 0
    anomalies_new: int = 0
    readings_loaded: int = 0
    feeds_left_dirty: int = 0


@dataclass(frozen=True)
class _Work:
    """One dirty feed: its deposits from `start` on are recomputed from readings dated
    `load_from` on (plus, unless `full`, each device's latest reading before `start`)."""

    feed: FeedRecord
    start: date
    full: bool

    @property
    def load_from(self) -> date:
        if self.full:
            return self.start - timedelta(days=BASELINE_LOOKBACK_DAYS)
        return self.start

    @property
    def weight(self) -> int:
        assert self.feed.synced_through is not None
        days = (self.feed.synced_through - self.load_from).days + 1
        return max(1, days) * DEVICES_PER_FEED_ESTIMATE


def pending_work(feed_list: list[FeedRecord], *, everything: bool = False) -> list[_Work]:
    """The feeds whose deposits must be recomputed, and from which day."""
    work = []
    for f in feed_list:
        if f.synced_through is None or f.synced_through < f.activation_date:
            continue
        if everything:
            work.append(_Work(f, f.activation_date, True))
        elif f.dirty_from is not None:
            start = max(f.dirty_from, f.activation_date)
            work.append(_Work(f, start, start == f.activation_date))
    return work


def update_deposits(
    engine: Engine,
    *,
    now: datetime,
    feed_ids: list[int] | None = None,
    everything: bool = False,
) -> DepositSummary:
    """Bring the deposits, anomalies and device counts of every dirty feed up to date.

    `feed_ids` limits the update to those feeds; `everything` recomputes every synced feed
    from its baseline (the slow, obviously-right path the incremental one must agree with).
    """
    summary = DepositSummary()
    for batch in _batches(pending_work(list_feeds(engine, feed_ids), everything=everything)):
        _update_batch(engine, batch, now, summary)
    return summary


def _batches(work: list[_Work]) -> list[list[_Work]]:
    """Feeds in groups whose readings fit the memory budget, those that load from the same
    day together (one query per distinct day)."""
    out: list[list[_Work]] = []
    current: list[_Work] = []
    load = 0
    for item in sorted(work, key=lambda w: (w.load_from, w.full, w.feed.id)):
        if current and (load + item.weight > READINGS_PER_BATCH or len(current) >= FEEDS_PER_BATCH):
            out.append(current)
            current, load = [], 0
        current.append(item)
        load += item.weight
    if current:
        out.append(current)
    return out


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


_READING_COLUMNS = ["feed_id", "device_id", "day", "life_count"]


def _load(conn: sa.Connection, batch: list[_Work]) -> dict[str, pd.DataFrame]:
    """Everything the batch's recomputation reads, one query per table and start day."""
    ids = [w.feed.id for w in batch]
    device_frame = _frame(
        conn,
        sa.select(
            devices.c.feed_id, devices.c.device_id, devices.c.managed, devices.c.initial_count,
            devices.c.latest_count, _epoch_day(devices.c.counted_day),
        ).where(devices.c.feed_id.in_(ids)),
        ["feed_id", "device_id", "managed", "initial_count", "latest_count", "counted_day"],
    )  # fmt: skip
    window, seeds, old_deposits = [], [], []
    for (load_from, full), group in groupby(batch, key=lambda w: (w.load_from, w.full)):
        items = list(group)
        group_ids = [w.feed.id for w in items]
        start = items[0].start
        if full:
            window.append(
                _frame(
                    conn,
                    sa.select(
                        readings.c.feed_id, readings.c.device_id, _epoch_day(readings.c.day),
                        readings.c.life_count,
                    ).where(readings.c.feed_id.in_(group_ids), readings.c.day >= load_from),
                    _READING_COLUMNS,
                )
            )  # fmt: skip
        else:
            window.append(
                _frame(
                    conn,
                    sa.select(
                        readings.c.feed_id, readings.c.device_id, _epoch_day(readings.c.day),
                        readings.c.life_count,
                    )
                    .select_from(device_readings(readings.c.day >= start))
                    .where(devices.c.feed_id.in_(group_ids)),
                    _READING_COLUMNS,
                )
            )  # fmt: skip
            seeds += _seeds(conn, device_frame[device_frame["feed_id"].isin(group_ids)], start)
        old_deposits.append(
            _frame(
                conn,
                sa.select(deposits.c.feed_id, _epoch_day(deposits.c.day), deposits.c.pages).where(
                    deposits.c.feed_id.in_(group_ids),
                    deposits.c.day >= (load_from if full else start),
                ),
                ["feed_id", "day", "pages"],
            )
        )
    old_resets = _frame(
        conn,
        sa.select(
            anomalies.c.feed_id, anomalies.c.device_id, _epoch_day(anomalies.c.day),
            anomalies.c.previous_count, anomalies.c.count, anomalies.c.detail,
        ).where(anomalies.c.feed_id.in_(ids), anomalies.c.kind == METER_RESET),
        ["feed_id", "device_id", "day", "previous_count", "count", "detail"],
    )  # fmt: skip
    managed_ids = [w.feed.id for w in batch if w.feed.scope == "managed"]
    runs = pd.DataFrame.from_records(
        scope_runs(conn, managed_ids, min(w.start for w in batch)),
        columns=["feed_id", "device_id", "first_day", "last_day", "managed"],
    )
    return {
        "window": _days(_concat(window, _READING_COLUMNS), "day"),
        "seeds": _days(_concat(seeds, _READING_COLUMNS), "day"),
        "old_deposits": _days(_concat(old_deposits, ["feed_id", "day", "pages"]), "day"),
        "devices": device_frame,
        "old_resets": _days(old_resets, "day"),
        "runs": runs,
    }


def _seeds(conn: sa.Connection, group_devices: pd.DataFrame, start: date) -> list[pd.DataFrame]:
    """Each device's latest reading before `start`.

    No reading before `start` changed since the deposits were last computed (else the
    feed would be dirty from that reading's day), so when that computation ended on a
    reading dated before `start`, that reading is the one: a night takes it from the
    device's row. The others (the computation ended on `start` or later, or never ran)
    look it up, one index seek each.
    """
    counted = pd.to_numeric(group_devices["counted_day"]).to_numpy(dtype=float, na_value=np.nan)
    known = counted < _epoch_number(start)
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
                sa.select(
                    readings.c.feed_id, readings.c.device_id, _epoch_day(readings.c.day),
                    readings.c.life_count,
                )
                .select_from(device_readings(readings.c.day == before))
                .where(
                    sa.tuple_(devices.c.feed_id, devices.c.device_id).in_(
                        pairs[i : i + _PAIRS_PER_QUERY]
                    )
                ),
                _READING_COLUMNS,
            )
        )  # fmt: skip
    return out


def _epoch_number(day: date) -> int:
    return (day - _EPOCH).days


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _per_feed(frame: pd.DataFrame, values: dict[int, date]) -> np.ndarray:
    """The per-feed day of `values` for each row of `frame`, as datetime64."""
    mapped = frame["feed_id"].map({k: pd.Timestamp(v) for k, v in values.items()})
    return mapped.to_numpy(dtype="datetime64[ns]")


def _update_batch(
    engine: Engine, batch: list[_Work], now: datetime, summary: DepositSummary
) -> None:
    with engine.connect() as conn:
        data = _load(conn, batch)
    by_id = {w.feed.id: w for w in batch}
    start = {w.feed.id: w.start for w in batch}
    activation = {w.feed.id: w.feed.activation_date for w in batch}

    seeds = data["seeds"]
    if not seeds.empty:
        # A reading before A - 31 is no baseline (rule 3): the device starts afresh.
        earliest = _per_feed(seeds, activation) - np.timedelta64(BASELINE_LOOKBACK_DAYS, "D")
        seeds = seeds[seeds["day"].to_numpy() >= earliest]
    reading_frame = _concat([data["window"], seeds], _READING_COLUMNS).astype(
        {"feed_id": np.int64, "life_count": np.int64}
    )
    reading_frame["day"] = pd.to_datetime(reading_frame["day"])
    summary.readings_loaded += len(reading_frame)

    feed_frame = pd.DataFrame(
        {
            "feed_id": [w.feed.id for w in batch],
            "activation_date": [w.feed.activation_date for w in batch],
            "scope": [w.feed.scope for w in batch],
        }
    )
    through = pd.Series(
        [pd.Timestamp(w.feed.synced_through) for w in batch],
        index=pd.Index([w.feed.id for w in batch], name="feed_id"),
    )
    device_frame = data["devices"]
    result = compute_deposits(
        reading_frame,
        feed_frame,
        device_frame[["feed_id", "device_id", "managed"]].astype({"feed_id": np.int64}),
        through,
        scope_history=data["runs"],
    )

    dep_rows = _changed_deposits(result.deposits, data["old_deposits"], start, by_id, now)
    # A full recompute owns every reset of the feed, even one dated before a moved
    # activation; an incremental one only those from its start day.
    window = {w.feed.id: (_EPOCH if w.full else w.start) for w in batch}
    old_resets = data["old_resets"]
    add_resets, drop_resets, reset_totals = _reset_changes(result.resets, old_resets, window, now)
    known_resets = set(
        zip(old_resets["feed_id"].astype(np.int64).tolist(), old_resets["device_id"],
            old_resets["day"].dt.date.tolist(), strict=True)
    )  # fmt: skip
    dev_rows = _device_counts(
        result.devices, device_frame, seeds, reading_frame, reset_totals, by_id
    )

    full_ids = [w.feed.id for w in batch if w.full]
    with engine.begin() as conn:
        if full_ids:
            # The activation may have moved later: days before it hold no deposit.
            execute_many(
                conn,
                deposits.delete().where(
                    deposits.c.feed_id == sa.bindparam("f"), deposits.c.day < sa.bindparam("a")
                ),
                [{"f": fid, "a": activation[fid]} for fid in full_ids],
            )
        upsert(conn, deposits, dep_rows, ["feed_id", "day"])
        if drop_resets:
            execute_many(
                conn,
                anomalies.delete().where(
                    anomalies.c.feed_id == sa.bindparam("f"),
                    anomalies.c.device_id == sa.bindparam("d"),
                    anomalies.c.day == sa.bindparam("day"),
                    anomalies.c.kind == METER_RESET,
                ),
                drop_resets,
            )
        upsert(conn, anomalies, add_resets, ["feed_id", "device_id", "day", "kind"])
        if dev_rows:
            execute_many(
                conn,
                devices.update()
                .where(
                    devices.c.feed_id == sa.bindparam("f"),
                    devices.c.device_id == sa.bindparam("d"),
                )
                .values(
                    initial_count=sa.bindparam("initial"),
                    latest_count=sa.bindparam("latest"),
                    life_count=sa.bindparam("life"),
                    counted_day=sa.bindparam("counted", type_=sa.Date),
                ),
                dev_rows,
            )
        # Clean only if no collection changed the inputs meanwhile; otherwise the next run
        # picks the feed up again from the earlier of both days.
        execute_many(
            conn,
            feeds.update()
            .where(feeds.c.id == sa.bindparam("f"), feeds.c.inputs_version == sa.bindparam("v"))
            .values(dirty_from=None),
            [{"f": w.feed.id, "v": w.feed.inputs_version} for w in batch],
        )
        left = conn.execute(
            sa.select(sa.func.count()).where(
                feeds.c.id.in_([w.feed.id for w in batch]), feeds.c.dirty_from.is_not(None)
            )
        ).scalar_one()
    summary.feeds += len(batch)
    summary.days_written += len(dep_rows["feed_id"])
    summary.anomalies_new += sum(
        1 for r in add_resets if (r["feed_id"], r["device_id"], r["day"]) not in known_resets
    )
    summary.feeds_left_dirty += left


def _changed_deposits(
    new: pd.DataFrame,
    old: pd.DataFrame,
    start: dict[int, date],
    by_id: dict[int, _Work],
    now: datetime,
) -> dict[str, list]:
    """The deposits to write, as columns."""
    new = new[new["day"].to_numpy() >= _per_feed(new, start)]
    if not old.empty:
        old = old.astype({"feed_id": np.int64, "pages": np.int64})
        merged = new.merge(
            old.rename(columns={"pages": "old_pages"}), on=["feed_id", "day"], how="left"
        )
        new = merged[merged["old_pages"].isna() | (merged["old_pages"] != merged["pages"])]
    accounts = {fid: w.feed.account for fid, w in by_id.items()}
    feed_ids = new["feed_id"].tolist()
    return {
        "feed_id": feed_ids,
        "day": _dates(new["day"]),
        "account": [accounts[fid] for fid in feed_ids],
        "pages": new["pages"].tolist(),
        "updated_at": [now] * len(feed_ids),
    }


def _dates(days: pd.Series) -> list[date]:
    """The days as `date` objects; a batch has few distinct ones, each made once."""
    numbers = days.to_numpy().astype("datetime64[D]").astype(np.int64)
    made = {int(n): _EPOCH + timedelta(days=int(n)) for n in np.unique(numbers)}
    return [made[n] for n in numbers.tolist()]


def _reset_changes(
    new: pd.DataFrame, old: pd.DataFrame, window: dict[int, date], now: datetime
) -> tuple[list[dict], list[dict], dict[tuple[int, str], int]]:
    """Meter resets to write and to drop on the recomputed days (from `window` per feed),
    and each device's sum of the counts its resets started from (for LifeCount)."""
    new = new[new["day"].to_numpy() >= _per_feed(new, window)]
    new_keys = {
        (int(f), d, day.date()): (int(p), int(c), bool(s))
        for f, d, day, p, c, s in new[
            ["feed_id", "device_id", "day", "previous_count", "count", "in_scope"]
        ].itertuples(index=False, name=None)
    }
    totals: dict[tuple[int, str], int] = {}
    old_keys: dict[tuple[int, str, date], tuple[int, int, bool]] = {}
    for f, d, day, p, c, detail in old.itertuples(index=False, name=None):
        key = (int(f), d, day.date())
        if key[2] >= window[key[0]]:
            old_keys[key] = (p, c, detail != OUT_OF_SCOPE_RESET)
        elif p is not None:
            totals[(key[0], d)] = totals.get((key[0], d), 0) + int(p)
    for (f, d, _day), (p, _c, _s) in new_keys.items():
        totals[(f, d)] = totals.get((f, d), 0) + p
    drop = [{"f": f, "d": d, "day": day} for (f, d, day) in old_keys.keys() - new_keys.keys()]
    write = [
        {"feed_id": f, "device_id": d, "day": day, "kind": METER_RESET,
         "previous_count": p, "count": c,
         "detail": None if s else OUT_OF_SCOPE_RESET, "detected_at": now}
        for (f, d, day), (p, c, s) in new_keys.items()
        if old_keys.get((f, d, day)) != (p, c, s)
    ]  # fmt: skip
    return write, drop, totals


def _device_counts(
    summary: pd.DataFrame,
    stored: pd.DataFrame,
    seeds: pd.DataFrame,
    loaded: pd.DataFrame,
    reset_totals: dict[tuple[int, str], int],
    by_id: dict[int, _Work],
) -> list[dict]:
    """InitialCount, LatestCount and LifeCount of the devices the recomputation saw."""
    keys = ["feed_id", "device_id"]
    frame = summary[[*keys, "initial_count", "latest_count", "life_count", "latest_day"]].astype(
        {"feed_id": np.int64}
    )
    frame = frame.merge(
        stored[[*keys, "initial_count"]]
        .astype({"feed_id": np.int64})
        .rename(columns={"initial_count": "stored_initial"}),
        on=keys,
        how="left",
    )
    full = frame["feed_id"].map({fid: w.full for fid, w in by_id.items()}).to_numpy(dtype=bool)
    has_readings = frame["latest_day"].notna().to_numpy()
    seeded = pd.MultiIndex.from_frame(frame[keys]).isin(
        pd.MultiIndex.from_frame(seeds[keys].astype({"feed_id": np.int64}))
    )
    # From the baseline the computation saw every page itself; from a later day, a seeded
    # device keeps the baseline the days before fixed (its seed is count(X, S - 1)).
    initial = frame["initial_count"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    stored_initial = pd.to_numeric(frame["stored_initial"]).to_numpy(dtype=float, na_value=np.nan)
    initial = np.where(~full & seeded, stored_initial, initial)
    latest = frame["latest_count"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    resets = np.array(
        [
            reset_totals.get(k, 0)
            for k in zip(frame["feed_id"].tolist(), frame["device_id"], strict=True)
        ],
        dtype=float,
    )
    known = ~np.isnan(initial) & ~np.isnan(latest)
    life = np.where(
        full,
        frame["life_count"].to_numpy(dtype=float),
        np.where(known, latest - initial + resets, 0),
    )
    keep = full | has_readings

    def ints(values: np.ndarray) -> list[int | None]:
        return [None if np.isnan(v) else int(v) for v in values[keep]]

    counted = _dates(frame["latest_day"][keep].fillna(pd.Timestamp(_EPOCH)))
    counted = [None if h else c for c, h in zip(counted, ~has_readings[keep], strict=True)]
    return [
        {"f": f, "d": d, "initial": i, "latest": la, "life": li, "counted": c}
        for f, d, i, la, li, c in zip(
            frame["feed_id"].to_numpy()[keep].tolist(),
            frame["device_id"].to_numpy()[keep].tolist(),
            ints(initial),
            ints(latest),
            ints(life),
            counted,
            strict=True,
        )
    ]
