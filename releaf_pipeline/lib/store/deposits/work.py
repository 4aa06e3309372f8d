"""Which feeds a deposit update recomputes, from which day, and in which batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS
from releaf_pipeline.lib.store.registry import FeedRecord

FEEDS_PER_BATCH = 2000
# About 250 MiB of frames per batch at most, whatever the length of the history.
READINGS_PER_BATCH = 400_000
DEVICES_PER_FEED_ESTIMATE = 10


@dataclass
class DepositSummary:
    """What a deposit update did."""

    feeds: int = 0
    days_written: int = 0
    anomalies_new: int = 0
    readings_loaded: int = 0
    feeds_left_dirty: int = 0


@dataclass(frozen=True)
class Work:
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


def pending_work(feed_list: list[FeedRecord], *, everything: bool = False) -> list[Work]:
    """The feeds whose deposits must be recomputed, and from which day."""
    work = []
    for f in feed_list:
        if f.synced_through is None or f.synced_through < f.activation_date:
            continue
        if everything:
            work.append(Work(f, f.activation_date, True))
        elif f.dirty_from is not None:
            start = max(f.dirty_from, f.activation_date)
            work.append(Work(f, start, start == f.activation_date))
    return work


def batches(work: list[Work]) -> list[list[Work]]:
    """Feeds in groups whose readings fit the memory budget, those that load from the same
    day together (one query per distinct day)."""
    out: list[list[Work]] = []
    current: list[Work] = []
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
