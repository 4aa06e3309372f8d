"""Deposits checked against the readings: a recomputation that writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from releaf_pipeline.lib.store.deposits.changes import dates
from releaf_pipeline.lib.store.deposits.recompute import recompute
from releaf_pipeline.lib.store.deposits.work import Work, batches
from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.registry import list_feeds


@dataclass(frozen=True)
class DepositMismatch:
    """A feed-day whose stored deposit is not what its readings give."""

    feed_id: int
    day: date
    stored: int | None
    expected: int | None


def reconcile_deposits(db: Db, first: date, last: date) -> list[DepositMismatch]:
    """Every feed-day in [first, last] whose stored pages differ from a recomputation.

    Each feed is recomputed from `first` (from its baseline when it activated in the
    range), its seeds read from the readings themselves rather than from the devices'
    rows, so the incremental bookkeeping is checked, not trusted. Feeds whose inputs
    changed since their last deposit update are left out: they are not due yet.
    """
    work = []
    for feed in list_feeds(db):
        through = feed.synced_through
        if through is None or through < first or feed.activation_date > last:
            continue
        if through < feed.activation_date or feed.dirty_from is not None:
            continue
        start = max(first, feed.activation_date)
        work.append(Work(feed, start, start == feed.activation_date))
    out: list[DepositMismatch] = []
    for batch in batches(work):
        with reading(db) as conn:
            computed = recompute(conn, batch, seeds_from_rows=False)
        out += _compare(computed.result.deposits, computed.data["old_deposits"], batch, last)
    return sorted(out, key=lambda m: (m.day, m.feed_id))


def _compare(
    new: pd.DataFrame, old: pd.DataFrame, batch: list[Work], last: date
) -> list[DepositMismatch]:
    start = pd.Series({w.feed.id: pd.Timestamp(w.start) for w in batch})
    keys = ["feed_id", "day"]
    frames = []
    for frame, name in ((new, "expected"), (old, "stored")):
        frame = frame[[*keys, "pages"]].astype({"feed_id": np.int64})
        frame = frame.assign(day=pd.to_datetime(frame["day"]))
        in_range = (frame["day"] >= frame["feed_id"].map(start)) & (
            frame["day"] <= pd.Timestamp(last)
        )
        frames.append(frame[in_range].rename(columns={"pages": name}))
    merged = frames[0].merge(frames[1], on=keys, how="outer")
    differ = merged[
        merged["expected"].isna()
        | merged["stored"].isna()
        | (merged["expected"].fillna(-1) != merged["stored"].fillna(-1))
    ]

    def number(value: float) -> int | None:
        return None if pd.isna(value) else int(value)

    return [
        DepositMismatch(int(f), d, number(s), number(e))
        for f, d, s, e in zip(
            differ["feed_id"].tolist(),
            dates(differ["day"]),
            differ["stored"].tolist(),
            differ["expected"].tolist(),
            strict=True,
        )
    ]
