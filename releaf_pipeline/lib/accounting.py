"""Page accounting: per-day life-count readings in, per-day page deposits out.

This module is the single implementation of the contract's accounting rules (scope,
baseline, daily deltas, meter resets, deposits, monthly sums, trees), so every caller
agrees on the numbers. It is a pure function of its inputs: re-collecting a day only
changes the readings it is given, never state kept here, which is what makes collection
idempotent (rule 7).

Page arithmetic is int64 throughout and trees are `Decimal`: a float anywhere would let
rounding drift between runs and between implementations.

Day columns are returned as `datetime64[ns]` values normalised to midnight, the form pandas
groups, merges and compares fastest; callers wanting `date` objects use `.dt.date`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import numpy as np
import pandas as pd

from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS, SCOPES, TREE_SHEETS

__all__ = [
    "BASELINE_LOOKBACK_DAYS",
    "SCOPES",
    "TREE_SHEETS",
    "AccountingResult",
    "compute_deposits",
    "format_trees",
    "trees",
]

_DECIMAL_PRECISION = 50

_DEPOSIT_COLUMNS = ["feed_id", "day", "pages"]
_DEVICE_PAGE_COLUMNS = ["feed_id", "device_id", "day", "pages"]
_DEVICE_COLUMNS = [
    "feed_id",
    "device_id",
    "managed",
    "in_scope",
    "initial_count",
    "latest_count",
    "life_count",
    "first_day",
    "latest_day",
]
_ANOMALY_COLUMNS = ["feed_id", "device_id", "day", "kind", "previous_count", "count"]
_RESET_COLUMNS = ["feed_id", "device_id", "day", "previous_count", "count", "in_scope"]
_SCOPE_COLUMNS = ["feed_id", "device_id", "first_day", "last_day", "managed"]


def trees(pages: int) -> Decimal:
    """Trees for a number of pages: `pages / 8333`, as a Decimal with 50 significant digits.

    A local context keeps the precision independent of whatever the caller's thread has set.
    """
    with localcontext() as ctx:
        ctx.prec = _DECIMAL_PRECISION
        return Decimal(operator.index(pages)) / Decimal(TREE_SHEETS)


def format_trees(value: Decimal) -> str:
    """Show a tree count to 2 decimals, halves rounded up (e.g. ``"1.40"``)."""
    with localcontext() as ctx:
        ctx.prec = _DECIMAL_PRECISION
        return format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


@dataclass(frozen=True)
class AccountingResult:
    """Everything `compute_deposits` derives from one set of readings.

    - ``deposits``: feed_id (int64), day (datetime64[ns]), pages (int64). One row per feed
      and per day in [activation, through], zero-page days included; sorted by feed_id, day.
    - ``device_pages``: feed_id, device_id, day, pages (int64). One row per in-scope device
      and per reading dated in [activation, through]; sorted by feed_id, device_id, day.
    - ``devices``: feed_id, device_id, managed (bool), in_scope (bool), initial_count (Int64,
      NA while the device has no baseline), latest_count (Int64, NA without a reading in
      [activation - 31 days, through]), life_count (int64, pages on days in
      [activation, through]), first_day (datetime64[ns], the day counting started; NaT
      without a baseline), latest_day (datetime64[ns], the date of latest_count's reading).
      Every device of the feed, in scope or not, appears once; sorted by feed_id,
      device_id.
    - ``anomalies``: feed_id, device_id, day, kind (``"meter_reset"``), previous_count,
      count (int64). Resets of devices in scope that day only, since only their pages reach
      a deposit; sorted by feed_id, device_id, day.
    - ``resets``: feed_id, device_id, day, previous_count, count, in_scope: every counted
      meter reset, in scope or not. A device's pages since its baseline telescope to
      ``latest - initial + sum(previous_count of its resets)``, which is what lets a
      caller keep LifeCount exact while recomputing only recent days.
    """

    deposits: pd.DataFrame
    device_pages: pd.DataFrame
    devices: pd.DataFrame
    anomalies: pd.DataFrame
    resets: pd.DataFrame


# ---------------------------------------------------------------------------------------
# Day handling. Internally a day is an int64 count of days since 1970-01-01, so "A - 31"
# and "D - 1" are plain integer arithmetic on whole arrays.


def _day_numbers(values: Any) -> np.ndarray:
    """Day numbers of a date-like column; refuses missing days rather than guessing."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not (
        pd.api.types.is_datetime64_dtype(series.dtype)
        or isinstance(series.dtype, pd.DatetimeTZDtype)
    ):
        series = pd.to_datetime(series)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        # A reading's day is the customer's local calendar day, already decided upstream.
        series = series.dt.tz_localize(None)
    if series.isna().any():
        raise ValueError("day values must not be missing")
    return series.to_numpy().astype("datetime64[D]").astype(np.int64)


def _day_number(value: date | pd.Timestamp) -> int:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError("a day must not be missing")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return int(np.datetime64(stamp.normalize().date(), "D").astype(np.int64))


def _as_datetimes(day_numbers: np.ndarray) -> np.ndarray:
    return np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")


# ---------------------------------------------------------------------------------------
# Inputs.


@dataclass(frozen=True)
class _Feeds:
    ids: np.ndarray  # int64, one per feed
    index: pd.Index
    activation: np.ndarray  # day numbers
    scope_all: np.ndarray  # bool


def _read_feeds(feeds: pd.DataFrame) -> _Feeds:
    # Feed positions in feed_id order make every output sort by feed_id whatever the
    # input order.
    feeds = feeds.assign(feed_id=feeds["feed_id"].astype(np.int64)).sort_values(
        "feed_id", kind="stable"
    )
    ids = feeds["feed_id"].to_numpy(dtype=np.int64)
    index = pd.Index(ids)
    if not index.is_unique:
        raise ValueError("feeds must hold one row per feed_id")
    scope = feeds["scope"].astype(str).to_numpy() if len(feeds) else np.array([], dtype=str)
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown feed scope(s): {unknown}")
    return _Feeds(
        ids=ids,
        index=index,
        activation=_day_numbers(feeds["activation_date"]),
        scope_all=scope == "all",
    )


def _horizons(feeds: _Feeds, through: date | pd.Timestamp | pd.Series) -> np.ndarray:
    if isinstance(through, pd.Series):
        by_feed = through.copy()
        by_feed.index = by_feed.index.astype(np.int64)
        if not by_feed.index.is_unique:
            raise ValueError("through must hold one day per feed_id")
        aligned = by_feed.reindex(feeds.index)
        if aligned.isna().any():
            missing = feeds.ids[aligned.isna().to_numpy()].tolist()
            raise ValueError(f"through has no day for feed(s) {missing}")
        return _day_numbers(aligned.reset_index(drop=True))
    return np.full(len(feeds.ids), _day_number(through), dtype=np.int64)


@dataclass(frozen=True)
class _Readings:
    """Readings of known feeds in [A - 31, through], sorted by feed, device, day."""

    feed: np.ndarray  # position in _Feeds
    device: np.ndarray  # code into device_ids
    device_ids: pd.Index
    day: np.ndarray
    count: np.ndarray


def _read_readings(readings: pd.DataFrame, feeds: _Feeds, horizon: np.ndarray) -> _Readings:
    feed = feeds.index.get_indexer(readings["feed_id"].to_numpy(dtype=np.int64))
    device, device_ids = pd.factorize(readings["device_id"])
    # Codes in device_id order make every output sort by device_id whatever the input
    # order; ranking the few distinct ids is far cheaper than sorting while factorizing.
    by_name = np.argsort(np.asarray(device_ids), kind="stable")
    rank = np.empty(len(by_name), dtype=np.int64)
    rank[by_name] = np.arange(len(by_name))
    device, device_ids = rank[device], device_ids.take(by_name)
    day = _day_numbers(readings["day"])
    count = readings["life_count"].to_numpy(dtype=np.int64)

    known = feed >= 0
    safe_feed = np.where(known, feed, 0)
    # Readings dated before A - 31 are ignored entirely (rule 3), and those after the
    # horizon are not known yet as far as this computation goes.
    keep = (
        known
        & (day >= feeds.activation[safe_feed] - BASELINE_LOOKBACK_DAYS)
        & (day <= horizon[safe_feed])
    )
    feed, device, day, count = feed[keep], device[keep], day[keep], count[keep]

    if not _sorted_rows(feed, device, day):
        order = np.lexsort((count, day, device, feed))
        feed, device, day, count = feed[order], device[order], day[order], count[order]

    # The same day collected twice yields the same reading, which is harmless; two
    # different counts for one device-day would make the result depend on row order.
    same_day = (feed[1:] == feed[:-1]) & (device[1:] == device[:-1]) & (day[1:] == day[:-1])
    if same_day.any():
        if (count[1:][same_day] != count[:-1][same_day]).any():
            raise ValueError("readings hold conflicting life counts for the same device and day")
        unique = np.concatenate(([True], ~same_day))
        feed, device, day, count = feed[unique], device[unique], day[unique], count[unique]

    return _Readings(
        feed=feed, device=device, device_ids=pd.Index(device_ids), day=day, count=count
    )


def _sorted_rows(feed: np.ndarray, device: np.ndarray, day: np.ndarray) -> bool:
    """Whether the rows are already in (feed, device, day) order, as a store's primary key
    returns them: then the sort, the costliest step at fleet scale, can be skipped."""
    if len(feed) < 2:
        return True
    d_feed = np.diff(feed)
    same_feed = d_feed == 0
    d_device = np.diff(device)
    same_device = same_feed & (d_device == 0)
    return bool(
        (d_feed >= 0).all()
        and (d_device[same_feed] >= 0).all()
        and (np.diff(day)[same_device] >= 0).all()
    )


def _read_devices(devices: pd.DataFrame, feeds: _Feeds) -> pd.DataFrame:
    table = devices.loc[:, ["feed_id", "device_id", "managed"]].copy()
    table["feed_id"] = table["feed_id"].astype(np.int64)
    table = table[feeds.index.get_indexer(table["feed_id"].to_numpy()) >= 0]
    table["managed"] = table["managed"].fillna(False).astype(bool)
    # "As last seen": if a device was listed twice, its last row is the latest sighting.
    return table.drop_duplicates(["feed_id", "device_id"], keep="last")


# ---------------------------------------------------------------------------------------
# The computation.


def compute_deposits(
    readings: pd.DataFrame,
    feeds: pd.DataFrame,
    devices: pd.DataFrame,
    through: date | pd.Timestamp | pd.Series,
    scope_history: pd.DataFrame | None = None,
) -> AccountingResult:
    """Apply the contract's accounting rules 1 to 5 to the readings of several feeds at once.

    ``readings`` holds feed_id, device_id, day and life_count (Mono + Color at the end of
    that day), at most one life count per feed, device and day; ``feeds`` holds feed_id,
    activation_date and scope (``"all"`` or ``"managed"``); ``devices`` holds feed_id,
    device_id and managed as last seen (a device missing from it is unmanaged). ``through``
    is the last day computed, for every feed or as a Series indexed by feed_id.

    ``scope_history`` (feed_id, device_id, first_day, last_day, managed; non-overlapping
    runs of days per device) is rule 1's record of the IsManaged that the first collection
    covering each day saw: with it, a device of a ``managed`` feed is in scope on a day when
    a run covering that day says managed, and out of scope on days no run covers. Without
    it every day takes the flag as last seen from ``devices``.

    Pages land only on dates that have a reading: the pages printed over a gap are the
    difference to the previous reading, which is exactly the sum of the per-day differences
    of `count(X, D)` over the gap. The computation is vectorised over all feeds and devices.
    """
    feed_table = _read_feeds(feeds)
    horizon = _horizons(feed_table, through)
    rows = _read_readings(readings, feed_table, horizon)
    activation = feed_table.activation[rows.feed]

    n = len(rows.day)
    starts_group = np.ones(n, dtype=bool)
    starts_group[1:] = (rows.feed[1:] != rows.feed[:-1]) | (rows.device[1:] != rows.device[:-1])

    # Each reading's predecessor is the previous reading of the same device. For a device's
    # first reading at or after A that is its latest reading in [A - 31, A - 1], i.e. the
    # baseline; a device without one has its own first reading as predecessor, so it
    # counts 0 pages that day (rule 3's fallback).
    previous = np.empty_like(rows.count)
    previous[1:] = rows.count[:-1]
    previous[starts_group] = rows.count[starts_group]
    delta = rows.count - previous
    counted = rows.day >= activation
    reset = counted & (delta < 0)
    # A meter that went backwards restarted from zero, so its whole count is new pages.
    pages = np.where(counted, np.where(delta < 0, rows.count, delta), 0)

    group_of_row = np.cumsum(starts_group) - 1
    group_devices = _device_summary(rows, feed_table, horizon, starts_group, counted, pages)
    devices_out, group_in_scope = _with_scope(group_devices, devices, feed_table)
    if scope_history is None:
        in_scope = group_in_scope[group_of_row] if n else np.zeros(0, dtype=bool)
    else:
        in_scope = _scope_on_reading_days(rows, feed_table, scope_history)

    paid = counted & in_scope
    device_pages = pd.DataFrame(
        {
            "feed_id": feed_table.ids[rows.feed[paid]],
            "device_id": rows.device_ids.take(rows.device[paid]),
            "day": _as_datetimes(rows.day[paid]),
            "pages": pages[paid].astype(np.int64),
        },
        columns=_DEVICE_PAGE_COLUMNS,
    )

    flagged = reset & in_scope
    anomalies = pd.DataFrame(
        {
            "feed_id": feed_table.ids[rows.feed[flagged]],
            "device_id": rows.device_ids.take(rows.device[flagged]),
            "day": _as_datetimes(rows.day[flagged]),
            "kind": pd.Series(["meter_reset"] * int(flagged.sum()), dtype=str),
            "previous_count": previous[flagged].astype(np.int64),
            "count": rows.count[flagged].astype(np.int64),
        },
        columns=_ANOMALY_COLUMNS,
    )

    resets = pd.DataFrame(
        {
            "feed_id": feed_table.ids[rows.feed[reset]],
            "device_id": rows.device_ids.take(rows.device[reset]),
            "day": _as_datetimes(rows.day[reset]),
            "previous_count": previous[reset].astype(np.int64),
            "count": rows.count[reset].astype(np.int64),
            "in_scope": in_scope[reset].astype(bool),
        },
        columns=_RESET_COLUMNS,
    )

    deposits = _deposits(feed_table, horizon, rows.feed[paid], rows.day[paid], pages[paid])
    return AccountingResult(
        deposits=deposits,
        device_pages=device_pages.reset_index(drop=True),
        devices=devices_out,
        anomalies=anomalies.reset_index(drop=True),
        resets=resets.reset_index(drop=True),
    )


def _scope_on_reading_days(
    rows: _Readings, feeds: _Feeds, scope_history: pd.DataFrame
) -> np.ndarray:
    """Rule 1 per reading: scope ``all``, or a recorded run of days says managed."""
    in_scope = feeds.scope_all[rows.feed].copy() if len(rows.day) else np.zeros(0, dtype=bool)
    history = scope_history.loc[:, _SCOPE_COLUMNS]
    if history.empty or in_scope.all():
        return in_scope
    feed = feeds.index.get_indexer(history["feed_id"].to_numpy(dtype=np.int64))
    device = rows.device_ids.get_indexer(history["device_id"])
    keep = (feed >= 0) & (device >= 0)
    feed, device = feed[keep], device[keep]
    first = _day_numbers(history["first_day"])[keep]
    last = _day_numbers(history["last_day"])[keep]
    managed = history["managed"].to_numpy(dtype=bool)[keep]
    if not len(feed):
        return in_scope

    # One sortable number per (feed, device, day): the run holding a reading's day is the
    # last run of that device starting on or before it.
    n_devices = len(rows.device_ids)
    base = min(int(first.min()), int(rows.day.min()) if len(rows.day) else 0)
    span = max(int(last.max()), int(rows.day.max()) if len(rows.day) else 0) - base + 1
    run_key = (feed.astype(np.int64) * n_devices + device) * span + (first - base)
    order = np.argsort(run_key, kind="stable")
    run_key, last, managed = run_key[order], last[order], managed[order]
    run_device = run_key // span

    row_device = rows.feed.astype(np.int64) * n_devices + rows.device
    row_key = row_device * span + (rows.day - base)
    at = np.searchsorted(run_key, row_key, side="right") - 1
    safe = np.maximum(at, 0)
    covered = (at >= 0) & (run_device[safe] == row_device) & (last[safe] >= rows.day)
    return in_scope | (covered & managed[safe])


def _device_summary(
    rows: _Readings,
    feeds: _Feeds,
    horizon: np.ndarray,
    starts_group: np.ndarray,
    counted: np.ndarray,
    pages: np.ndarray,
) -> pd.DataFrame:
    """Baseline, latest count, life count and first day of every device that has readings."""
    n = len(rows.day)
    first = np.flatnonzero(starts_group)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _summary_frame(feeds, rows, empty, empty, empty, empty, empty, empty, empty, empty)
    last = np.append(first[1:], n) - 1
    group_feed = rows.feed[first]
    activation = feeds.activation[group_feed]

    # Rows are sorted by day, so a device's readings before A come first.
    before_activation = np.add.reduceat((~counted).astype(np.int64), first)
    baseline_row = first + np.maximum(before_activation - 1, 0)
    life = np.add.reduceat(pages.astype(np.int64), first)
    first_day = np.where(before_activation > 0, activation, rows.day[first])
    # Until the horizon reaches A - 1 the count on A - 1 is not known, so neither is the
    # baseline: a later reading in the look-back window could still replace it.
    has_baseline = horizon[group_feed] >= activation - 1
    return _summary_frame(
        feeds,
        rows,
        group_feed,
        rows.device[first],
        rows.count[baseline_row],
        has_baseline,
        rows.count[last],
        life,
        first_day,
        rows.day[last],
    )


def _summary_frame(
    feeds: _Feeds,
    rows: _Readings,
    group_feed: np.ndarray,
    group_device: np.ndarray,
    baseline: np.ndarray,
    has_baseline: np.ndarray,
    latest: np.ndarray,
    life: np.ndarray,
    first_day: np.ndarray,
    latest_day: np.ndarray,
) -> pd.DataFrame:
    has_baseline = has_baseline.astype(bool)
    first_days = pd.Series(_as_datetimes(first_day)).where(has_baseline)
    return pd.DataFrame(
        {
            "feed_id": feeds.ids[group_feed],
            "device_id": rows.device_ids.take(group_device),
            "initial_count": pd.arrays.IntegerArray(baseline.astype(np.int64), mask=~has_baseline),
            "latest_count": pd.array(latest.astype(np.int64), dtype="Int64"),
            "life_count": life.astype(np.int64),
            "first_day": first_days.astype("datetime64[ns]").to_numpy(),
            "latest_day": _as_datetimes(latest_day),
        }
    )


def _with_scope(
    group_devices: pd.DataFrame, devices: pd.DataFrame, feeds: _Feeds
) -> tuple[pd.DataFrame, np.ndarray]:
    """Attach managed and in-scope flags; add listed devices that have no readings.

    Returns the device frame and the in-scope flag of each device with readings, in the
    order of ``group_devices`` (the order its rows were grouped in).
    """
    listed = _read_devices(devices, feeds)
    merged = group_devices.merge(
        listed, on=["feed_id", "device_id"], how="left", sort=False, validate="one_to_one"
    )
    merged["managed"] = merged["managed"].fillna(False).astype(bool)

    known = merged[["feed_id", "device_id"]].assign(_seen=True)
    silent = listed.merge(known, on=["feed_id", "device_id"], how="left")
    silent = silent[silent["_seen"].isna()].drop(columns="_seen")
    silent = silent.assign(
        initial_count=pd.array([pd.NA] * len(silent), dtype="Int64"),
        latest_count=pd.array([pd.NA] * len(silent), dtype="Int64"),
        life_count=np.zeros(len(silent), dtype=np.int64),
        first_day=pd.Series(pd.NaT, index=silent.index, dtype="datetime64[ns]"),
        latest_day=pd.Series(pd.NaT, index=silent.index, dtype="datetime64[ns]"),
    )

    out = pd.concat([merged, silent], ignore_index=True) if len(silent) else merged
    feed_pos = feeds.index.get_indexer(out["feed_id"].to_numpy(dtype=np.int64))
    out["in_scope"] = feeds.scope_all[feed_pos] | out["managed"].to_numpy(dtype=bool)
    out = out.astype(
        {
            "feed_id": np.int64,
            "managed": bool,
            "in_scope": bool,
            "initial_count": "Int64",
            "latest_count": "Int64",
            "life_count": np.int64,
            "first_day": "datetime64[ns]",
            "latest_day": "datetime64[ns]",
        }
    )
    group_in_scope = out["in_scope"].to_numpy(dtype=bool)[: len(group_devices)]
    out = out[_DEVICE_COLUMNS].sort_values(["feed_id", "device_id"], kind="stable")
    return out.reset_index(drop=True), group_in_scope


def _deposits(
    feeds: _Feeds,
    horizon: np.ndarray,
    paid_feed: np.ndarray,
    paid_day: np.ndarray,
    paid_pages: np.ndarray,
) -> pd.DataFrame:
    """Sum device pages into one row per feed and day in [A, through], zeros included."""
    days_per_feed = np.maximum(horizon - feeds.activation + 1, 0)
    offsets = np.concatenate(([0], np.cumsum(days_per_feed)))
    total = int(offsets[-1])
    feed_of_row = np.repeat(np.arange(len(feeds.ids)), days_per_feed)
    day = feeds.activation[feed_of_row] + (np.arange(total) - offsets[:-1][feed_of_row])

    pages = np.zeros(total, dtype=np.int64)
    slot = offsets[:-1][paid_feed] + (paid_day - feeds.activation[paid_feed])
    np.add.at(pages, slot, paid_pages.astype(np.int64))

    return pd.DataFrame(
        {"feed_id": feeds.ids[feed_of_row], "day": _as_datetimes(day), "pages": pages},
        columns=_DEPOSIT_COLUMNS,
    )


# ---------------------------------------------------------------------------------------
# Helpers for callers.


def window_readings(readings: pd.DataFrame, feeds: pd.DataFrame, start: date) -> pd.DataFrame:
    """Keep only the readings needed to recompute days from ``start`` on.

    Per device: its latest reading dated in [A - 31, start - 1], if any, plus every
    reading dated ``start`` or later. `compute_deposits` on the result gives the same
    deposits, device pages and anomalies for days >= ``start`` as on all readings (the
    device summary, which looks further back, may differ). Readings of feeds not in
    ``feeds`` are dropped, as `compute_deposits` would ignore them anyway.
    """
    feed_table = _read_feeds(feeds)
    first_day = _day_number(start)
    feed = feed_table.index.get_indexer(readings["feed_id"].to_numpy(dtype=np.int64))
    device, _ = pd.factorize(readings["device_id"])
    day = _day_numbers(readings["day"])

    known = feed >= 0
    activation = feed_table.activation[np.where(known, feed, 0)]
    keep = known & (day >= first_day)

    # The latest earlier reading carries count(X, start - 1), which is all the later days
    # need to know about the past.
    earlier = np.flatnonzero(
        known & (day < first_day) & (day >= activation - BASELINE_LOOKBACK_DAYS)
    )
    if len(earlier):
        order = earlier[np.lexsort((day[earlier], device[earlier], feed[earlier]))]
        last_of_device = np.ones(len(order), dtype=bool)
        last_of_device[:-1] = (feed[order][1:] != feed[order][:-1]) | (
            device[order][1:] != device[order][:-1]
        )
        keep[order[last_of_device]] = True
    return readings.iloc[np.flatnonzero(keep)]


def monthly_pages(deposits: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Sum deposits per account and calendar month over all the account's feeds (rule 6).

    ``accounts`` maps feed_id to account, one account per feed; deposits of feeds without
    an account are left out. Returns account, month (``"YYYY-MM"``) and pages (int64),
    sorted by account and month.
    """
    mapping = accounts.loc[:, ["feed_id", "account"]]
    if mapping["feed_id"].duplicated().any():
        raise ValueError("accounts must map each feed_id to one account")
    mapping = mapping.astype({"feed_id": np.int64})
    merged = deposits.loc[:, ["feed_id", "day", "pages"]].astype({"feed_id": np.int64})
    merged = merged.merge(mapping, on="feed_id", how="inner")
    days = pd.to_datetime(merged["day"])
    merged["_month"] = days.dt.year.astype(np.int64) * 100 + days.dt.month.astype(np.int64)
    summed = (
        merged.groupby(["account", "_month"], sort=True)["pages"]
        .sum()
        .astype(np.int64)
        .reset_index()
    )
    digits = summed["_month"].astype(str)
    summed["month"] = digits.str[:4] + "-" + digits.str[4:]
    return summed[["account", "month", "pages"]].reset_index(drop=True)
