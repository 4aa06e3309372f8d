"""Deposits from readings: the contract's rules 2 to 5, vectorised over many feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from releaf_pipeline.lib.accounting.devices import (
    device_summary,
    scope_on_reading_days,
    with_scope,
)
from releaf_pipeline.lib.accounting.inputs import (
    Feeds,
    Readings,
    as_datetimes,
    horizons,
    read_feeds,
    read_readings,
)
from releaf_pipeline.lib.accounting.meters import meter_steps

_DEPOSIT_COLUMNS = ["feed_id", "day", "pages"]
_DEVICE_PAGE_COLUMNS = ["feed_id", "device_id", "day", "pages"]
_ANOMALY_COLUMNS = ["feed_id", "device_id", "day", "kind", "previous_count", "count"]
_RESET_COLUMNS = ["feed_id", "device_id", "day", "previous_count", "count", "in_scope"]
METER_RESET = "meter_reset"
METER_GLITCH = "meter_glitch"


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
    - ``anomalies``: feed_id, device_id, day, kind (``"meter_reset"`` or
      ``"meter_glitch"``), previous_count (the standing count before the reading), count
      (int64). Those of devices in scope that day only, since only their pages reach a
      deposit; sorted by feed_id, device_id, day.
    - ``resets``: feed_id, device_id, day, previous_count, count, in_scope: every counted
      meter reset, in scope or not. A device's pages since its baseline telescope to
      ``standing - initial + sum(previous_count of its resets)``, where the standing count
      is its latest count, or the high before it when its latest reading is a glitch: that
      is what lets a caller keep LifeCount exact while recomputing only recent days.
    - ``glitches``: the same columns for every counted glitch, in scope or not; the
      previous_count of a glitch is the high that stands as the device's count after it.
    """

    deposits: pd.DataFrame
    device_pages: pd.DataFrame
    devices: pd.DataFrame
    anomalies: pd.DataFrame
    resets: pd.DataFrame
    glitches: pd.DataFrame


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
    feed_table = read_feeds(feeds)
    horizon = horizons(feed_table, through)
    rows = read_readings(readings, feed_table, horizon)
    activation = feed_table.activation[rows.feed]

    n = len(rows.day)
    starts_group = np.ones(n, dtype=bool)
    starts_group[1:] = (rows.feed[1:] != rows.feed[:-1]) | (rows.device[1:] != rows.device[:-1])

    # A device's counting starts from its latest reading in [A - 31, A - 1], the baseline;
    # a device without one starts from its own first reading, so it counts 0 pages that
    # day (rule 3's fallback). Each reading then counts against the standing count before
    # it (rule 4).
    counted = rows.day >= activation
    steps = meter_steps(rows.count, starts_group, counted)
    previous = steps.before
    reset, glitch = steps.reset, steps.glitch
    pages = np.where(counted, steps.pages, 0)

    group_of_row = np.cumsum(starts_group) - 1
    group_devices = device_summary(rows, feed_table, horizon, starts_group, counted, pages)
    devices_out, group_in_scope = with_scope(group_devices, devices, feed_table)
    if scope_history is None:
        in_scope = group_in_scope[group_of_row] if n else np.zeros(0, dtype=bool)
    else:
        in_scope = scope_on_reading_days(rows, feed_table, scope_history)

    paid = counted & in_scope
    device_pages = pd.DataFrame(
        {
            "feed_id": feed_table.ids[rows.feed[paid]],
            "device_id": rows.device_ids.take(rows.device[paid]),
            "day": as_datetimes(rows.day[paid]),
            "pages": pages[paid].astype(np.int64),
        },
        columns=_DEVICE_PAGE_COLUMNS,
    )

    flagged = (reset | glitch) & in_scope
    anomalies = _events(feed_table, rows, flagged, previous, in_scope).drop(columns="in_scope")
    anomalies.insert(
        3, "kind", pd.Series(np.where(reset[flagged], METER_RESET, METER_GLITCH), dtype=str)
    )

    deposits = _deposits(feed_table, horizon, rows.feed[paid], rows.day[paid], pages[paid])
    return AccountingResult(
        deposits=deposits,
        device_pages=device_pages.reset_index(drop=True),
        devices=devices_out,
        anomalies=anomalies[_ANOMALY_COLUMNS],
        resets=_events(feed_table, rows, reset, previous, in_scope),
        glitches=_events(feed_table, rows, glitch, previous, in_scope),
    )


def _events(
    feeds: Feeds, rows: Readings, where: np.ndarray, previous: np.ndarray, in_scope: np.ndarray
) -> pd.DataFrame:
    """The readings ``where`` is set, with the standing count before each."""
    return pd.DataFrame(
        {
            "feed_id": feeds.ids[rows.feed[where]],
            "device_id": rows.device_ids.take(rows.device[where]),
            "day": as_datetimes(rows.day[where]),
            "previous_count": previous[where].astype(np.int64),
            "count": rows.count[where].astype(np.int64),
            "in_scope": in_scope[where].astype(bool),
        },
        columns=_RESET_COLUMNS,
    )


def _deposits(
    feeds: Feeds,
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
        {"feed_id": feeds.ids[feed_of_row], "day": as_datetimes(day), "pages": pages},
        columns=_DEPOSIT_COLUMNS,
    )
