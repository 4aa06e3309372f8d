"""Deposits from the mirrored readings: load, apply the accounting rules, write changes.

Deposits are a pure function of the mirrored readings, recomputed for the whole of each
feed's mirrored history, so the order and number of collections never matter (rule 7).
Only rows whose value changed are written, one transaction per feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.accounting import compute_deposits
from releaf_pipeline.lib.store.engine import upsert
from releaf_pipeline.lib.store.registry import FeedRecord
from releaf_pipeline.lib.store.tables import anomalies, deposits, devices, readings

FEEDS_PER_BATCH = 500


@dataclass
class DepositSummary:
    """What a deposit update wrote."""

    feeds: int = 0
    days_written: int = 0
    anomalies_new: int = 0
    pages_by_account_day: dict[tuple[str, date], int] = field(default_factory=dict)


def _frame(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    result = conn.execute(query)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def update_deposits(
    engine: Engine,
    feeds: list[FeedRecord],
    *,
    now: datetime,
    report_from: date,
    report_to: date,
) -> DepositSummary:
    """Recompute and store deposits, anomalies and device counts for `feeds`.

    The summary's pages cover the days from `report_from` to `report_to`.
    """
    summary = DepositSummary()
    synced = [f for f in feeds if f.synced_through is not None]
    for i in range(0, len(synced), FEEDS_PER_BATCH):
        batch = synced[i : i + FEEDS_PER_BATCH]
        _update_batch(engine, batch, now, report_from, report_to, summary)
    return summary


def _update_batch(
    engine: Engine,
    batch: list[FeedRecord],
    now: datetime,
    report_from: date,
    report_to: date,
    summary: DepositSummary,
) -> None:
    ids = [f.id for f in batch]
    with engine.connect() as conn:
        reading_df = _frame(
            conn,
            sa.select(
                readings.c.feed_id, readings.c.device_id, readings.c.day, readings.c.life_count
            ).where(readings.c.feed_id.in_(ids)),
        )
        device_df = _frame(
            conn,
            sa.select(devices.c.feed_id, devices.c.device_id, devices.c.managed).where(
                devices.c.feed_id.in_(ids)
            ),
        )
        old_deposits = _frame(
            conn,
            sa.select(deposits.c.feed_id, deposits.c.day, deposits.c.pages).where(
                deposits.c.feed_id.in_(ids)
            ),
        )
        old_anomalies = _frame(
            conn,
            sa.select(
                anomalies.c.feed_id, anomalies.c.device_id, anomalies.c.day, anomalies.c.kind
            ).where(anomalies.c.feed_id.in_(ids)),
        )
    feed_df = pd.DataFrame(
        {
            "feed_id": ids,
            "activation_date": [f.activation_date for f in batch],
            "scope": [f.scope for f in batch],
        }
    )
    through = pd.Series(
        [pd.Timestamp(f.synced_through) for f in batch], index=pd.Index(ids, name="feed_id")
    )
    if reading_df.empty:
        reading_df = pd.DataFrame(
            {
                "feed_id": pd.Series(dtype="int64"),
                "device_id": pd.Series(dtype="object"),
                "day": pd.Series(dtype="datetime64[ns]"),
                "life_count": pd.Series(dtype="int64"),
            }
        )
    if device_df.empty:
        device_df = pd.DataFrame(
            {
                "feed_id": pd.Series(dtype="int64"),
                "device_id": pd.Series(dtype="object"),
                "managed": pd.Series(dtype="bool"),
            }
        )
    result = compute_deposits(reading_df, feed_df, device_df, through)

    new_dep = result.deposits.assign(day=lambda d: pd.to_datetime(d["day"]).dt.date)
    accounts = {f.id: f.account for f in batch}
    if not old_deposits.empty:
        old_deposits["day"] = pd.to_datetime(old_deposits["day"]).dt.date
    merged = new_dep.merge(
        old_deposits.rename(columns={"pages": "old_pages"}), on=["feed_id", "day"], how="left"
    )
    changed = merged[merged["old_pages"].isna() | (merged["old_pages"] != merged["pages"])]
    # Rows past a feed's horizon cannot exist: deposits are only computed up to it.

    new_anom = result.anomalies.assign(day=lambda d: pd.to_datetime(d["day"]).dt.date)
    if not old_anomalies.empty:
        old_anomalies["day"] = pd.to_datetime(old_anomalies["day"]).dt.date
        seen = set(
            zip(
                old_anomalies.feed_id,
                old_anomalies.device_id,
                old_anomalies.day,
                old_anomalies.kind,
                strict=True,
            )
        )
    else:
        seen = set()

    dev = result.devices
    for feed in batch:
        fid = feed.id
        dep_rows = [
            {
                "feed_id": fid,
                "day": r.day,
                "account": accounts[fid],
                "pages": int(r.pages),
                "updated_at": now,
            }
            for r in changed[changed["feed_id"] == fid].itertuples(index=False)
        ]
        anom_rows = [
            {
                "feed_id": fid,
                "device_id": r.device_id,
                "day": r.day,
                "kind": r.kind,
                "previous_count": int(r.previous_count),
                "count": int(r.count),
                "detected_at": now,
            }
            for r in new_anom[new_anom["feed_id"] == fid].itertuples(index=False)
            if (fid, r.device_id, r.day, r.kind) not in seen
        ]
        dev_rows = [
            {
                "feed_id": fid,
                "device_id": r.device_id,
                "managed": bool(r.managed),
                "initial_count": None if pd.isna(r.initial_count) else int(r.initial_count),
                "latest_count": None if pd.isna(r.latest_count) else int(r.latest_count),
                "life_count": int(r.life_count),
            }
            for r in dev[dev["feed_id"] == fid].itertuples(index=False)
        ]
        with engine.begin() as conn:
            upsert(conn, deposits, dep_rows, ["feed_id", "day"])
            upsert(conn, anomalies, anom_rows, ["feed_id", "device_id", "day", "kind"])
            upsert(conn, devices, dev_rows, ["feed_id", "device_id"])
        summary.feeds += 1
        summary.days_written += len(dep_rows)
        summary.anomalies_new += len(anom_rows)

    window = new_dep[(new_dep["day"] >= report_from) & (new_dep["day"] <= report_to)]
    for r in window.itertuples(index=False):
        key = (accounts[r.feed_id], r.day)
        summary.pages_by_account_day[key] = summary.pages_by_account_day.get(key, 0) + int(r.pages)
