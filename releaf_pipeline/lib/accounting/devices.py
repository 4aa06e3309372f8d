"""Each device's scope (rule 1) and its counts: baseline, latest, pages since."""

from __future__ import annotations

import numpy as np
import pandas as pd

from releaf_pipeline.lib.accounting.inputs import (
    Feeds,
    Readings,
    as_datetimes,
    day_numbers,
    read_devices,
)

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
_SCOPE_COLUMNS = ["feed_id", "device_id", "first_day", "last_day", "managed"]


def scope_on_reading_days(rows: Readings, feeds: Feeds, scope_history: pd.DataFrame) -> np.ndarray:
    """Rule 1 per reading: scope ``all``, or a recorded run of days says managed."""
    in_scope = feeds.scope_all[rows.feed].copy() if len(rows.day) else np.zeros(0, dtype=bool)
    history = scope_history.loc[:, _SCOPE_COLUMNS]
    if history.empty or in_scope.all():
        return in_scope
    feed = feeds.index.get_indexer(history["feed_id"].to_numpy(dtype=np.int64))
    device = rows.device_ids.get_indexer(history["device_id"])
    keep = (feed >= 0) & (device >= 0)
    feed, device = feed[keep], device[keep]
    first = day_numbers(history["first_day"])[keep]
    last = day_numbers(history["last_day"])[keep]
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


def device_summary(
    rows: Readings,
    feeds: Feeds,
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
    feeds: Feeds,
    rows: Readings,
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
    first_days = pd.Series(as_datetimes(first_day)).where(has_baseline)
    return pd.DataFrame(
        {
            "feed_id": feeds.ids[group_feed],
            "device_id": rows.device_ids.take(group_device),
            "initial_count": pd.arrays.IntegerArray(baseline.astype(np.int64), mask=~has_baseline),
            "latest_count": pd.array(latest.astype(np.int64), dtype="Int64"),
            "life_count": life.astype(np.int64),
            "first_day": first_days.astype("datetime64[ns]").to_numpy(),
            "latest_day": as_datetimes(latest_day),
        }
    )


def with_scope(
    group_devices: pd.DataFrame, devices: pd.DataFrame, feeds: Feeds
) -> tuple[pd.DataFrame, np.ndarray]:
    """Attach managed and in-scope flags; add listed devices that have no readings.

    Returns the device frame and the in-scope flag of each device with readings, in the
    order of ``group_devices`` (the order its rows were grouped in).
    """
    listed = read_devices(devices, feeds)
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
