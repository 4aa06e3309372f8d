"""Accounting at scale, without HTTP: `compute_deposits`, `daily_deposits` and `monthly_pages`.

Synthetic readings (N feeds x D devices, one reading a day for `--history-days` days
through the end of October 2026, 31 by default: the month, plus the baseline day before)
are generated with numpy and written to a fresh SQLite store with bulk inserts, together
with what the pipeline would have stored by the month's second-to-last night: every
device's row and scope history, and the deposits, device counts and meter resets of every
earlier day (computed with numpy by the contract's rules, exactly). Then the pipeline's own
functions are timed:

- `compute_deposits` alone, on in-memory frames of every reading;
- what the `daily_deposits` asset does on the month's last night: the 31st's readings just
  mirrored (as the collection leaves them: each feed dirty from that day), `update_deposits`
  and the partition's own pages, with its parts timed (`benchmarks.phases`);
- the same from scratch (no deposit stored yet: every feed recomputed from its baseline and
  every day written), with `--from-scratch`;
- what the `monthly_pages` asset computes: `month_report` and `feed_month_pages`.

Run as `python -m benchmarks.accounting --feeds N --workdir DIR`; prints one JSON object.
The benchmark runner starts it as a process of its own so that its peak RSS is measured
per size; `peak_rss_mib_after` says which phase raised it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from benchmarks.phases import Timings, instrument_deposits, instrument_engine_begin
from releaf_pipeline.lib.accounting import compute_deposits
from releaf_pipeline.lib.store.deposits import update_deposits
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.registry import FeedSpec, add_feeds, add_server
from releaf_pipeline.lib.store.reports import account_day_pages, feed_month_pages, month_report
from releaf_pipeline.lib.store.tables import feeds

MONTH = "2026-10"
FIRST = date(2026, 10, 1)
LAST = date(2026, 10, 31)
SERVER = "bench"
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


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = fn()
    return time.perf_counter() - began, value


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


def fill_store(engine: sa.Engine, data: Synthetic, through: date) -> None:
    """Register the feeds and bulk-insert what a pipeline that collected and deposited
    every day through `through` has stored."""
    now = datetime.now(UTC)
    add_server(
        engine,
        _NoCipher(),
        name=SERVER,
        url="https://mpsmonitor.invalid",
        token="unused",
        ca_bundle_pem=None,
        dealer_code="D-1042",
        now=now,
    )
    specs = [
        FeedSpec(SERVER, f"C{fid:06d}", account, data.activation, str(scope))
        for fid, account, scope in zip(data.feed_ids, data.accounts, data.scopes, strict=True)
    ]
    add_feeds(engine, specs, now=now)
    with engine.begin() as conn:
        ids = dict(conn.execute(sa.select(feeds.c.customer_code, feeds.c.id)).all())
    assert [ids[f"C{fid:06d}"] for fid in data.feed_ids] == list(data.feed_ids)
    upto = data.days.index(through)
    done = Accounted(data, upto)
    stamp, a_iso, t_iso = now.isoformat(), data.activation.isoformat(), through.isoformat()
    day_iso = [d.isoformat() for d in data.days]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO devices (feed_id, device_id, managed, initial_count, latest_count, "
            "life_count, latest_day, counted_day, listed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [
                (int(f), d, int(m), int(i), int(c), int(life), day_iso[int(k)], day_iso[int(k)])
                for f, d, m, i, c, life, k in zip(
                    data.device_feed, data.device_ids, data.managed, data.counts[:, 0],
                    done.latest, done.pages.sum(axis=1), done.latest_k, strict=True,
                )
            ],
        )  # fmt: skip
        cur.executemany(
            "INSERT INTO device_scope (feed_id, device_id, first_day, last_day, managed) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (int(f), d, a_iso, t_iso, int(m))
                for f, d, m in zip(data.device_feed, data.device_ids, data.managed, strict=True)
            ],
        )
        for day in data.days[: upto + 1]:
            cur.executemany(
                "INSERT INTO readings (feed_id, device_id, day, life_count) VALUES (?, ?, ?, ?)",
                data.rows_for(day),
            )
        feed_list = data.feed_ids.tolist()
        for k in range(upto):
            pages = done.deposits[:, k].tolist()
            cur.executemany(
                "INSERT INTO deposits (feed_id, day, account, pages, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(f, day_iso[k + 1], data.accounts[f - 1], pages[f - 1], stamp) for f in feed_list],
            )
        cur.executemany(
            "INSERT INTO anomalies (feed_id, device_id, day, kind, previous_count, count, "
            "detail, detected_at) VALUES (?, ?, ?, 'meter_reset', ?, ?, ?, ?)",
            [
                (int(data.device_feed[d]), data.device_ids[d], day_iso[int(k) + 1], int(p),
                 int(c), None if done.in_scope[d] else "out of scope", stamp)
                for d, k, p, c in zip(
                    done.reset_dev, done.reset_k, done.reset_previous, done.reset_count,
                    strict=True,
                )
            ],
        )  # fmt: skip
        cur.execute("UPDATE feeds SET synced_through = ?, inputs_version = 1", (t_iso,))
        cur.execute("COMMIT")
    finally:
        raw.close()


def mirror_day(engine: sa.Engine, data: Synthetic, day: date) -> None:
    """What a night's collection leaves behind: the day's readings, each device's latest
    reading date and scope history extended, the feed synced through the day and dirty
    from it (the deposits must take the new day in)."""
    iso = day.isoformat()
    rows = data.rows_for(day)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO readings (feed_id, device_id, day, life_count) VALUES (?, ?, ?, ?)",
            rows,
        )
        cur.executemany(
            "UPDATE devices SET latest_day = ? WHERE feed_id = ? AND device_id = ?",
            [(iso, f, d) for f, d, _iso, _c in rows],
        )
        cur.execute("UPDATE device_scope SET last_day = ?", (iso,))
        cur.execute(
            "UPDATE feeds SET synced_through = ?, dirty_from = ?, "
            "inputs_version = inputs_version + 1",
            (iso, iso),
        )
        cur.execute("COMMIT")
    finally:
        raw.close()


def redo_night(engine: sa.Engine, day: date) -> None:
    """Put the store back as the night's collection left it: the day's deposits not yet
    computed (each device's count as of the night before), every feed dirty from the day."""
    iso = day.isoformat()
    raw = engine.raw_connection()
    try:
        raw.execute("DELETE FROM deposits WHERE day = ?", (iso,))
        raw.execute(
            "UPDATE devices SET counted_day = (SELECT r.day FROM readings r WHERE "
            "r.feed_id = devices.feed_id AND r.device_id = devices.device_id AND r.day < ? "
            "ORDER BY r.day DESC LIMIT 1)",
            (iso,),
        )
        raw.execute("UPDATE feeds SET dirty_from = ?, inputs_version = inputs_version + 1", (iso,))
        raw.commit()
    finally:
        raw.close()


class _NoCipher:
    """Stands in for `TokenCipher`: the accounting never opens a token."""

    def encrypt(self, token: str) -> str:
        return "not-a-token"


def daily_deposits_step(engine: sa.Engine, day_from: date, day_to: date) -> dict[str, Any]:
    """What the `daily_deposits` asset does for [day_from, day_to]: the deposits of every
    dirty feed brought up to date, then the partition's own pages per account."""
    began = time.perf_counter()
    summary = update_deposits(engine, now=datetime.now(UTC))
    deposits_seconds = time.perf_counter() - began
    pages = account_day_pages(engine, day_from, day_to)
    return {
        "update_deposits_seconds": round(deposits_seconds, 3),
        "feeds": summary.feeds,
        "days_written": summary.days_written,
        "readings_loaded": summary.readings_loaded,
        "pages": sum(pages.values()),
    }


def monthly_pages_step(engine: sa.Engine) -> dict[str, Any]:
    """What the `monthly_pages` asset computes, phase by phase."""
    t_report, accounts = _timed(lambda: month_report(engine, MONTH))
    t_feeds, per_feed = _timed(lambda: feed_month_pages(engine, MONTH))
    out: dict[str, Any] = {
        "accounts": len(accounts),
        "pages": sum(a.pages for a in accounts),
        "month_report_seconds": round(t_report, 3),
        "feed_month_pages_seconds": round(t_feeds, 3),
        "feed_rows": len(per_feed),
    }
    return out


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(
    n_feeds: int,
    n_devices: int,
    workdir: Path,
    *,
    history_days: int = 31,
    compute_alone: bool = True,
    from_scratch: bool = True,
    repeat: int = 3,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "feeds": n_feeds,
        "devices_per_feed": n_devices,
        "history_days": history_days,
        "month": MONTH,
    }
    # The process's peak RSS so far, after each phase: which phase raised it.
    peak: dict[str, float] = {}
    t, data = _timed(lambda: Synthetic(n_feeds, n_devices, history_days))
    out["generate_seconds"] = round(t, 3)
    out["activation_date"] = data.activation.isoformat()
    peak["generated"] = _rss_mib()

    if compute_alone:
        # compute_deposits alone, on every reading (and the baseline day), in memory.
        frame = data.frame(LAST)
        out["readings"] = len(frame)
        through = pd.Series([pd.Timestamp(LAST)] * n_feeds, index=pd.Index(data.feed_ids))
        feed_df, device_df = data.feed_frame(), data.device_frame()
        began = time.perf_counter()
        result = compute_deposits(frame, feed_df, device_df, through)
        out["compute_deposits_seconds"] = round(time.perf_counter() - began, 3)
        out["deposit_rows"] = len(result.deposits)
        out["anomalies"] = len(result.anomalies)
        del frame, result
        peak["compute_deposits_alone"] = _rss_mib()

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "releaf.db"
    engine = make_engine(f"sqlite:///{db}")
    # Every night up to the month's second-to-last is already collected and deposited...
    t, _ = _timed(lambda: fill_store(engine, data, LAST - timedelta(days=1)))
    out["fill_store_seconds"] = round(t, 3)
    peak["store_filled"] = _rss_mib()
    t, _ = _timed(lambda: mirror_day(engine, data, LAST))
    out["mirror_last_day_seconds"] = round(t, 3)
    # ... then the month's last night: its readings just mirrored, deposits brought up to date.
    timings = Timings()
    instrument_deposits(timings)
    instrument_engine_begin(timings, engine, "update_deposits: transactions (statements + commit)")
    t, info = _timed(lambda: daily_deposits_step(engine, LAST, LAST))
    out["daily_deposits_last_night_phases"] = timings.report(reset=True)
    # The same night again (its deposits taken back out) a few times: the median is
    # what is compared across sizes and histories.
    times = [t]
    for _ in range(repeat - 1):
        redo_night(engine, LAST)
        times.append(_timed(lambda: daily_deposits_step(engine, LAST, LAST))[0])
    timings.report(reset=True)
    out["daily_deposits_last_night_seconds"] = round(sorted(times)[len(times) // 2], 3)
    out["daily_deposits_last_night_runs_seconds"] = [round(x, 3) for x in times]
    out["daily_deposits_last_night"] = info
    expected = int(Accounted(data, len(data.days) - 1).deposits[:, -1].sum())
    if info["pages"] != expected:
        raise SystemExit(f"the last night deposited {info['pages']} pages, not {expected}")
    peak["daily_deposits_last_night"] = _rss_mib()
    t, monthly = _timed(lambda: monthly_pages_step(engine))
    out["monthly_pages_seconds"] = round(t, 3)
    out["monthly_pages"] = monthly
    peak["monthly_pages"] = _rss_mib()

    if from_scratch:
        # The same from scratch: no deposit stored yet, every day of the history written.
        raw = engine.raw_connection()
        try:
            raw.execute("DELETE FROM deposits")
            raw.execute("DELETE FROM anomalies")
            raw.execute(
                "UPDATE devices SET initial_count = NULL, latest_count = NULL, life_count = 0"
            )
            raw.execute("UPDATE feeds SET dirty_from = activation_date")
            raw.commit()
        finally:
            raw.close()
        timings.report(reset=True)
        t, info = _timed(lambda: daily_deposits_step(engine, FIRST, LAST))
        out["daily_deposits_from_scratch_seconds"] = round(t, 3)
        out["daily_deposits_from_scratch"] = info
        out["daily_deposits_from_scratch_phases"] = timings.report(reset=True)
        peak["daily_deposits_from_scratch"] = _rss_mib()
        out["accounting_from_scratch_seconds"] = round(
            out["daily_deposits_from_scratch_seconds"] + out["monthly_pages_seconds"], 3
        )

    out["accounting_seconds"] = round(
        out["daily_deposits_last_night_seconds"] + out["monthly_pages_seconds"], 3
    )
    out["store_bytes"] = sum(p.stat().st_size for p in workdir.glob("releaf.db*"))
    out["peak_rss_mib_after"] = peak
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accounting")
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument(
        "--history-days", type=int, default=31, help="days of readings mirrored (31: the month)"
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--no-compute-alone", action="store_true", help="skip compute_deposits on its own"
    )
    parser.add_argument(
        "--no-from-scratch", action="store_true", help="skip the deposits from scratch"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="nights measured (the median is reported)"
    )
    args = parser.parse_args(argv)
    if args.history_days < 31:
        parser.error("--history-days must be at least 31 (the month)")
    result = run(
        args.feeds,
        args.devices,
        args.workdir,
        history_days=args.history_days,
        compute_alone=not args.no_compute_alone,
        from_scratch=not args.no_from_scratch,
        repeat=max(1, args.repeat),
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
