"""Deposits from the mirrored readings: load, apply the accounting rules, write changes.

Deposits are a pure function of the mirrored readings, recomputed for the whole of each
feed's mirrored history, so the order and number of collections never matter (rule 7).
Only rows whose value changed are written, in one transaction per batch of feeds (so every
feed-day's deposit, anomalies and device counts change together or not at all).
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
# About 250 MiB of frames per batch at most, whatever the length of the history.
READINGS_PER_BATCH = 400_000
DEVICES_PER_FEED_ESTIMATE = 10
BASELINE_DAYS = 31


@dataclass
class DepositSummary:
    """What a deposit update wrote."""

    feeds: int = 0
    days_written: int = 0
    anomalies_new: int = 0
    pages_by_account_day: dict[tuple[str, date], int] = field(default_factory=dict)


def _frame(conn: sa.Connection, query: sa.Select, dates: tuple[str, ...] = ()) -> pd.DataFrame:
    result = conn.execute(query)
    columns = list(result.keys())
    # Plain tuples: pandas builds a frame from them several times faster than from Rows.
    frame = pd.DataFrame.from_records([tuple(r) for r in result], columns=columns)
    for column in dates:
        frame[column] = pd.to_datetime(frame[column], format="%Y-%m-%d")
    return frame


def _day_text(column: sa.ColumnElement) -> sa.ColumnElement:
    # Dates come back as ISO text and are parsed by pandas in one go: parsing them row
    # by row in the driver layer costs more than the accounting itself.
    return sa.cast(column, sa.String).label(column.name)


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
    for batch in _batches(synced):
        _update_batch(engine, batch, now, report_from, report_to, summary)
    return summary


def _batches(feeds: list[FeedRecord]) -> list[list[FeedRecord]]:
    """Feeds in groups whose mirrored readings fit the memory budget: a year of history
    makes a feed ten times heavier than a month, so batches shrink as history grows."""
    out: list[list[FeedRecord]] = []
    current: list[FeedRecord] = []
    load = 0
    for feed in feeds:
        assert feed.synced_through is not None
        days = (feed.synced_through - feed.activation_date).days + 1 + BASELINE_DAYS
        weight = max(1, days) * DEVICES_PER_FEED_ESTIMATE
        if current and (load + weight > READINGS_PER_BATCH or len(current) >= FEEDS_PER_BATCH):
            out.append(current)
            current, load = [], 0
        current.append(feed)
        load += weight
    if current:
        out.append(current)
    return out


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
                readings.c.feed_id, readings.c.device_id, _day_text(readings.c.day),
                readings.c.life_count,
            ).where(readings.c.feed_id.in_(ids)),
            dates=("day",),
        )  # fmt: skip
        device_df = _frame(
            conn,
            sa.select(devices.c.feed_id, devices.c.device_id, devices.c.managed).where(
                devices.c.feed_id.in_(ids)
            ),
        )
        old_deposits = _frame(
            conn,
            sa.select(deposits.c.feed_id, _day_text(deposits.c.day), deposits.c.pages).where(
                deposits.c.feed_id.in_(ids)
            ),
            dates=("day",),
        )
        old_anomalies = _frame(
            conn,
            sa.select(
                anomalies.c.feed_id, anomalies.c.device_id, _day_text(anomalies.c.day),
                anomalies.c.kind,
            ).where(anomalies.c.feed_id.in_(ids)),
            dates=("day",),
        )  # fmt: skip
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
            {"feed_id": pd.Series(dtype="int64"), "device_id": pd.Series(dtype="object"),
             "day": pd.Series(dtype="datetime64[ns]"), "life_count": pd.Series(dtype="int64")}
        )  # fmt: skip
    if device_df.empty:
        device_df = pd.DataFrame(
            {"feed_id": pd.Series(dtype="int64"), "device_id": pd.Series(dtype="object"),
             "managed": pd.Series(dtype="bool")}
        )  # fmt: skip
    result = compute_deposits(reading_df, feed_df, device_df, through)
    accounts = pd.Series({f.id: f.account for f in batch}, name="account")

    new_dep = result.deposits
    if old_deposits.empty:
        changed = new_dep
    else:
        merged = new_dep.merge(
            old_deposits.rename(columns={"pages": "old_pages"}), on=["feed_id", "day"], how="left"
        )
        changed = merged[merged["old_pages"].isna() | (merged["old_pages"] != merged["pages"])]
    dep_rows = pd.DataFrame(
        {
            "feed_id": changed["feed_id"].astype("int64"),
            "day": changed["day"].dt.date,
            "account": changed["feed_id"].map(accounts),
            "pages": changed["pages"].astype("int64"),
        }
    ).assign(updated_at=now)

    new_anom = result.anomalies
    if not old_anomalies.empty and not new_anom.empty:
        known = new_anom.merge(
            old_anomalies.assign(_known=True), on=["feed_id", "device_id", "day", "kind"],
            how="left",
        )  # fmt: skip
        new_anom = new_anom[known["_known"].isna().to_numpy()]
    anom_rows = pd.DataFrame(
        {
            "feed_id": new_anom["feed_id"].astype("int64"),
            "device_id": new_anom["device_id"],
            "day": new_anom["day"].dt.date,
            "kind": new_anom["kind"].astype(str),
            "previous_count": new_anom["previous_count"].astype("int64"),
            "count": new_anom["count"].astype("int64"),
        }
    ).assign(detected_at=now)

    dev = result.devices
    dev_rows = pd.DataFrame(
        {
            "feed_id": dev["feed_id"].astype("int64"),
            "device_id": dev["device_id"],
            "managed": dev["managed"].astype(bool),
            "initial_count": dev["initial_count"]
            .astype(object)
            .where(dev["initial_count"].notna(), None),
            "latest_count": dev["latest_count"]
            .astype(object)
            .where(dev["latest_count"].notna(), None),
            "life_count": dev["life_count"].astype("int64"),
        }
    )
    with engine.begin() as conn:
        upsert(conn, deposits, _records(dep_rows), ["feed_id", "day"])
        upsert(conn, anomalies, _records(anom_rows), ["feed_id", "device_id", "day", "kind"])
        upsert(conn, devices, _records(dev_rows), ["feed_id", "device_id"])
    summary.feeds += len(batch)
    summary.days_written += len(dep_rows)
    summary.anomalies_new += len(anom_rows)

    day = new_dep["day"].dt.date
    window = new_dep[(day >= report_from) & (day <= report_to)]
    if not window.empty:
        sums = (
            window.assign(account=window["feed_id"].map(accounts), day=window["day"].dt.date)
            .groupby(["account", "day"])["pages"]
            .sum()
        )
        for (account, d), pages in sums.items():
            key = (account, d)
            summary.pages_by_account_day[key] = summary.pages_by_account_day.get(key, 0) + int(
                pages
            )


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values (numpy scalars confuse some drivers)."""
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
