"""One batch's deposits recomputed from the mirrored readings, nothing written."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from releaf_pipeline.lib.accounting.compute import AccountingResult, compute_deposits
from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS
from releaf_pipeline.lib.store.deposits.changes import per_feed
from releaf_pipeline.lib.store.deposits.load import (
    METER_GLITCH,
    READING_COLUMNS,
    concat,
    load_batch,
)
from releaf_pipeline.lib.store.deposits.work import Work


@dataclass(frozen=True)
class Recomputed:
    """What the recomputation read and what it derived."""

    data: dict[str, pd.DataFrame]
    result: AccountingResult
    seeds: pd.DataFrame  # READING_COLUMNS plus `standing`, the count the start day counts from
    readings: pd.DataFrame
    by_id: dict[int, Work]


def recompute(
    conn: sa.Connection, batch: list[Work], *, seeds_from_rows: bool = True
) -> Recomputed:
    """The batch's deposits from each feed's start day on.

    `seeds_from_rows` takes a device's latest reading before the start from its row when
    the last computation left it there; without it every seed is read from the readings,
    which is what a check that must not trust the incremental state needs.
    """
    data = load_batch(conn, batch, seeds_from_rows=seeds_from_rows)
    activation = {w.feed.id: w.feed.activation_date for w in batch}
    seeds = data["seeds"]
    if not seeds.empty:
        # A reading before A - 31 is no baseline (rule 3): the device starts afresh.
        earliest = per_feed(seeds, activation) - np.timedelta64(BASELINE_LOOKBACK_DAYS, "D")
        seeds = seeds[seeds["day"].to_numpy() >= earliest]
    seeds = standing_seeds(seeds, data["old_meters"])
    counted_from = seeds.drop(columns="life_count").rename(columns={"standing": "life_count"})
    reading_frame = concat([data["window"], counted_from], READING_COLUMNS).astype(
        {"feed_id": np.int64, "life_count": np.int64}
    )
    reading_frame["day"] = pd.to_datetime(reading_frame["day"])
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
    return Recomputed(data, result, seeds, reading_frame, {w.feed.id: w for w in batch})


def standing_seeds(seeds: pd.DataFrame, meters: pd.DataFrame) -> pd.DataFrame:
    """The seeds with `standing`: a seed reading that was a glitch counts from the high
    that stood after it (the glitch's previous count), any other from its own count.

    The glitch was recorded when the days before the start were last computed, and no
    reading before the start has changed since, or the start would be earlier.
    """
    keys = ["feed_id", "device_id", "day"]
    seeds = seeds.astype({"feed_id": np.int64, "life_count": np.int64}).reset_index(drop=True)
    seeds["day"] = pd.to_datetime(seeds["day"])
    glitches = meters[meters["kind"] == METER_GLITCH]
    if seeds.empty or glitches.empty:
        return seeds.assign(standing=seeds["life_count"])
    high = (
        glitches[[*keys, "previous_count"]]
        .astype({"feed_id": np.int64})
        .assign(day=lambda g: pd.to_datetime(g["day"]))
        .drop_duplicates(keys)
    )
    merged = seeds.merge(high, on=keys, how="left", validate="one_to_one")
    stood = pd.to_numeric(merged["previous_count"]).fillna(merged["life_count"])
    return seeds.assign(standing=stood.to_numpy(dtype=np.int64))
