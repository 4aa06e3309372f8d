"""The accounting's inputs as arrays: days as numbers, feeds, readings and devices.

Internally a day is an int64 count of days since 1970-01-01, so "A - 31" and "D - 1" are
plain integer arithmetic on whole arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS, SCOPES


def day_numbers(values: Any) -> np.ndarray:
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


def day_number(value: date | pd.Timestamp) -> int:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError("a day must not be missing")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return int(np.datetime64(stamp.normalize().date(), "D").astype(np.int64))


def as_datetimes(day_numbers: np.ndarray) -> np.ndarray:
    return np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")


@dataclass(frozen=True)
class Feeds:
    ids: np.ndarray  # int64, one per feed
    index: pd.Index
    activation: np.ndarray  # day numbers
    scope_all: np.ndarray  # bool


def read_feeds(feeds: pd.DataFrame) -> Feeds:
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
    return Feeds(
        ids=ids,
        index=index,
        activation=day_numbers(feeds["activation_date"]),
        scope_all=scope == "all",
    )


def horizons(feeds: Feeds, through: date | pd.Timestamp | pd.Series) -> np.ndarray:
    if isinstance(through, pd.Series):
        by_feed = through.copy()
        by_feed.index = by_feed.index.astype(np.int64)
        if not by_feed.index.is_unique:
            raise ValueError("through must hold one day per feed_id")
        aligned = by_feed.reindex(feeds.index)
        if aligned.isna().any():
            missing = feeds.ids[aligned.isna().to_numpy()].tolist()
            raise ValueError(f"through has no day for feed(s) {missing}")
        return day_numbers(aligned.reset_index(drop=True))
    return np.full(len(feeds.ids), day_number(through), dtype=np.int64)


@dataclass(frozen=True)
class Readings:
    """Readings of known feeds in [A - 31, through], sorted by feed, device, day."""

    feed: np.ndarray  # position in Feeds
    device: np.ndarray  # code into device_ids
    device_ids: pd.Index
    day: np.ndarray
    count: np.ndarray


def read_readings(readings: pd.DataFrame, feeds: Feeds, horizon: np.ndarray) -> Readings:
    feed = feeds.index.get_indexer(readings["feed_id"].to_numpy(dtype=np.int64))
    device, device_ids = pd.factorize(readings["device_id"])
    # Codes in device_id order make every output sort by device_id whatever the input
    # order; ranking the few distinct ids is far cheaper than sorting while factorizing.
    by_name = np.argsort(np.asarray(device_ids), kind="stable")
    rank = np.empty(len(by_name), dtype=np.int64)
    rank[by_name] = np.arange(len(by_name))
    device, device_ids = rank[device], device_ids.take(by_name)
    day = day_numbers(readings["day"])
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

    return Readings(feed=feed, device=device, device_ids=pd.Index(device_ids), day=day, count=count)


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


def read_devices(devices: pd.DataFrame, feeds: Feeds) -> pd.DataFrame:
    table = devices.loc[:, ["feed_id", "device_id", "managed"]].copy()
    table["feed_id"] = table["feed_id"].astype(np.int64)
    table = table[feeds.index.get_indexer(table["feed_id"].to_numpy()) >= 0]
    table["managed"] = table["managed"].fillna(False).astype(bool)
    # "As last seen": if a device was listed twice, its last row is the latest sighting.
    return table.drop_duplicates(["feed_id", "device_id"], keep="last")
