"""The accounting benchmark's data: synthetic readings of a month (numpy, seeded) and the
deposits the contract's rules make of them, computed apart from the pipeline to check it
and to fill a store as the pipeline would have left it."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import numpy as np
import pandas as pd

MONTH = "2026-10"
FIRST = date(2026, 10, 1)
LAST = date(2026, 10, 31)
FEEDS_PER_ACCOUNT = 2
MANAGED_SHARE = 0.7
MANAGED_SCOPE_SHARE = 0.2
MISSING_SHARE = 0.01
RESETS_PER_DEVICE = 0.001


class Synthetic:
    """Readings of `n_feeds` x `n_devices` devices, one a day, for `history_days` days
    through LAST (the feeds' activation) and the baseline day before them."""

    def __init__(
        self, n_feeds: int, n_devices: int, history_days: int = 31, seed: int = 11
    ) -> None:
        rng = np.random.default_rng(seed)
        self.n_feeds = n_feeds
        self.activation = LAST - timedelta(days=history_days - 1)
        self.feed_ids = np.arange(1, n_feeds + 1, dtype=np.int64)
        self.accounts = [f"acct-{(i - 1) // FEEDS_PER_ACCOUNT:05d}" for i in self.feed_ids]
        self.scopes = np.where(rng.random(n_feeds) < MANAGED_SCOPE_SHARE, "managed", "all")
        n_dev = n_feeds * n_devices
        id_rng = np.random.default_rng(seed + 1)
        words = id_rng.integers(0, 2**63, size=(n_dev, 2), dtype=np.int64)
        self.device_ids = np.array(
            [str(uuid.UUID(int=(int(a) << 64) | int(b), version=4)) for a, b in words],
            dtype=object,
        )
        self.device_feed = np.repeat(self.feed_ids, n_devices)
        self.managed = rng.random(n_dev) < MANAGED_SHARE

        first_day = self.activation - timedelta(days=1)
        self.days = [first_day + timedelta(days=k) for k in range((LAST - first_day).days + 1)]
        n_days = len(self.days)
        weekday = np.array([d.weekday() < 5 for d in self.days])
        busy = rng.integers(20, 401, size=(n_dev, n_days))
        quiet = np.where(rng.random((n_dev, n_days)) < 0.1, rng.integers(1, 16, (n_dev, n_days)), 0)
        pages = np.where(weekday[None, :], busy, quiet)
        start = rng.integers(10_000, 500_000, size=n_dev)
        counts = start[:, None] + np.cumsum(pages, axis=1)
        # A few meters restart from zero during the month (recorded as anomalies).
        resets = np.flatnonzero(rng.random(n_dev) < RESETS_PER_DEVICE)
        for dev in resets:
            k = int(rng.integers(2, n_days))
            counts[dev, k:] -= counts[dev, k - 1]
        present = rng.random((n_dev, n_days)) >= MISSING_SHARE
        present[:, 0] = True  # every device has its baseline
        self.counts = counts
        self.present = present

    def frame(self, last: date) -> pd.DataFrame:
        """Readings dated through `last`, as `compute_deposits` takes them."""
        upto = self.days.index(last) + 1
        present = self.present[:, :upto]
        dev, k = np.nonzero(present)
        day_values = np.array(self.days[:upto], dtype="datetime64[D]").astype("datetime64[ns]")
        return pd.DataFrame(
            {
                "feed_id": self.device_feed[dev],
                "device_id": self.device_ids[dev],
                "day": day_values[k],
                "life_count": self.counts[dev, k],
            }
        )

    def rows_for(self, day: date) -> list[tuple[int, str, str, int]]:
        """(feed_id, device_id, day, life_count) of one day, as the store keeps them."""
        k = self.days.index(day)
        dev = np.flatnonzero(self.present[:, k])
        iso = day.isoformat()
        return [
            (int(f), d, iso, int(c))
            for f, d, c in zip(
                self.device_feed[dev], self.device_ids[dev], self.counts[dev, k], strict=True
            )
        ]

    def feed_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "feed_id": self.feed_ids,
                "activation_date": [self.activation] * self.n_feeds,
                "scope": self.scopes,
            }
        )

    def device_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"feed_id": self.device_feed, "device_id": self.device_ids, "managed": self.managed}
        )


class Accounted:
    """What the pipeline has stored once the deposits of days 1..k are computed: pages per
    device and day by the contract's rules (baseline on day 0, pages over a missing
    reading land on the next one, a meter that went backwards counts its new count)."""

    def __init__(self, data: Synthetic, upto: int) -> None:
        counts = data.counts[:, : upto + 1]
        present = data.present[:, : upto + 1]
        days = np.arange(counts.shape[1])
        last_seen = np.maximum.accumulate(np.where(present, days[None, :], 0), axis=1)
        held = np.take_along_axis(counts, last_seen, axis=1)
        delta = counts[:, 1:] - held[:, :-1]
        reset = present[:, 1:] & (delta < 0)
        self.pages = np.where(present[:, 1:], np.where(delta < 0, counts[:, 1:], delta), 0)
        self.reset_dev, self.reset_k = np.nonzero(reset)
        self.reset_previous = held[:, :-1][reset]
        self.reset_count = counts[:, 1:][reset]
        self.latest = held[:, -1]
        self.latest_k = last_seen[:, -1]
        in_scope = (data.scopes[data.device_feed - 1] == "all") | data.managed
        n_feeds, n_days = data.n_feeds, self.pages.shape[1]
        scoped = np.where(in_scope[:, None], self.pages, 0)
        self.deposits = scoped.reshape(n_feeds, -1, n_days).sum(axis=1)
        self.in_scope = in_scope
