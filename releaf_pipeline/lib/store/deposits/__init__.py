"""Deposits from the mirrored readings: recompute what changed, write what differs.

Every change of a feed's deposit inputs (a reading added or changed, a day's scope
recorded, new days synced, the activation moved) records the earliest day it affects in
`feeds.dirty_from`. The deposits are recomputed from that day only, seeded by each
device's latest reading before it: `count(X, S - 1)` is all the later days need to know
about the past, so the result is exactly what a recompute of the whole history gives
(rule 7), and a night's cost follows the feeds and days that changed, not the length of
the history. A dirty day on or before activation recomputes the feed from its baseline.

A glitch (rule 4) leaves the device's high standing as its count: a device whose latest
reading before S was a glitch is seeded with the high its `meter_glitch` anomaly records.
LifeCount is kept exact the same way: a device's pages since its baseline telescope to
`standing - initial + (the previous counts of its meter resets)`, and every counted reset
and glitch is kept as an anomaly (out-of-scope ones say so), so the days before S need no
reloading.

Writes go in one transaction per batch of feeds; a feed is marked clean only if its
inputs did not change while it was being computed, so a collection that lands meanwhile
is never lost and the month close can tell when deposits are up to date.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import sqlalchemy as sa

from releaf_pipeline.lib.store.deposits.changes import (
    changed_deposits,
    device_counts,
    meter_changes,
)
from releaf_pipeline.lib.store.deposits.load import EPOCH
from releaf_pipeline.lib.store.deposits.recompute import recompute
from releaf_pipeline.lib.store.deposits.work import (
    DepositSummary,
    Work,
    batches,
    pending_work,
)
from releaf_pipeline.lib.store.engine import Db, execute_many, reading, upsert, writing
from releaf_pipeline.lib.store.feed_accounts import account_histories
from releaf_pipeline.lib.store.registry import list_feeds
from releaf_pipeline.lib.store.stale_days import DEPOSIT_VIEWS, mark_days
from releaf_pipeline.lib.store.tables import anomalies, deposits, devices, feeds


def update_deposits(
    db: Db,
    *,
    now: datetime,
    feed_ids: list[int] | None = None,
    everything: bool = False,
) -> DepositSummary:
    """Bring the deposits, anomalies and device counts of every dirty feed up to date.

    `feed_ids` limits the update to those feeds; `everything` recomputes every synced feed
    from its baseline (the slow, obviously-right path the incremental one must agree with).
    """
    summary = DepositSummary()
    for batch in batches(pending_work(list_feeds(db, feed_ids), everything=everything)):
        _update_batch(db, batch, now, summary)
    return summary


def _update_batch(db: Db, batch: list[Work], now: datetime, summary: DepositSummary) -> None:
    with reading(db) as conn:
        computed = recompute(conn, batch)
        histories = account_histories(conn, [w.feed for w in batch])
    data, result, by_id = computed.data, computed.result, computed.by_id
    start = {w.feed.id: w.start for w in batch}
    activation = {w.feed.id: w.feed.activation_date for w in batch}
    seeds, reading_frame, device_frame = computed.seeds, computed.readings, data["devices"]
    summary.readings_loaded += len(reading_frame)

    dep_rows = changed_deposits(result.deposits, data["old_deposits"], start, histories, now)
    # A full recompute owns every reset of the feed, even one dated before a moved
    # activation; an incremental one only those from its start day.
    window = {w.feed.id: (EPOCH if w.full else w.start) for w in batch}
    old_meters = data["old_meters"]
    add_meters, drop_meters, reset_totals = meter_changes(
        result.resets, result.glitches, old_meters, window, now
    )
    known_meters = set(
        zip(old_meters["feed_id"].astype(np.int64).tolist(), old_meters["device_id"],
            old_meters["day"].dt.date.tolist(), old_meters["kind"].tolist(), strict=True)
    )  # fmt: skip
    dev_rows = device_counts(
        result.devices, device_frame, seeds, result.glitches, reset_totals, by_id
    )

    full_ids = [w.feed.id for w in batch if w.full]
    # The days whose pages or anomalies this batch rewrites: their view is published again.
    rewritten = {*dep_rows["day"], *(r["day"] for r in (*add_meters, *drop_meters))}
    with writing(db) as conn:
        if full_ids:
            # The days before a moved activation, whose deposits go below.
            rewritten.update(
                conn.execute(
                    sa.select(deposits.c.day)
                    .distinct()
                    .join(feeds, feeds.c.id == deposits.c.feed_id)
                    .where(feeds.c.id.in_(full_ids), deposits.c.day < feeds.c.activation_date)
                ).scalars()
            )
            # The activation may have moved later: days before it hold no deposit.
            execute_many(
                conn,
                deposits.delete().where(
                    deposits.c.feed_id == sa.bindparam("f"), deposits.c.day < sa.bindparam("a")
                ),
                [{"f": fid, "a": activation[fid]} for fid in full_ids],
            )
        upsert(conn, deposits, dep_rows, ["feed_id", "day"])
        mark_days(conn, rewritten, DEPOSIT_VIEWS)
        if drop_meters:
            execute_many(
                conn,
                anomalies.delete().where(
                    anomalies.c.feed_id == sa.bindparam("f"),
                    anomalies.c.device_id == sa.bindparam("d"),
                    anomalies.c.day == sa.bindparam("day"),
                    anomalies.c.kind == sa.bindparam("k"),
                ),
                drop_meters,
            )
        upsert(conn, anomalies, add_meters, ["feed_id", "device_id", "day", "kind"])
        if dev_rows:
            execute_many(
                conn,
                devices.update()
                .where(
                    devices.c.feed_id == sa.bindparam("f"),
                    devices.c.device_id == sa.bindparam("d"),
                )
                .values(
                    initial_count=sa.bindparam("initial"),
                    latest_count=sa.bindparam("latest"),
                    life_count=sa.bindparam("life"),
                    counted_day=sa.bindparam("counted", type_=sa.Date),
                ),
                dev_rows,
            )
        # Clean only if no collection changed the inputs meanwhile; otherwise the next run
        # picks the feed up again from the earlier of both days.
        execute_many(
            conn,
            feeds.update()
            .where(feeds.c.id == sa.bindparam("f"), feeds.c.inputs_version == sa.bindparam("v"))
            .values(dirty_from=None),
            [{"f": w.feed.id, "v": w.feed.inputs_version} for w in batch],
        )
        left = conn.execute(
            sa.select(sa.func.count()).where(
                feeds.c.id.in_([w.feed.id for w in batch]), feeds.c.dirty_from.is_not(None)
            )
        ).scalar_one()
    summary.feeds += len(batch)
    summary.days_written += len(dep_rows["feed_id"])
    summary.anomalies_new += sum(
        1
        for r in add_meters
        if (r["feed_id"], r["device_id"], r["day"], r["kind"]) not in known_meters
    )
    summary.feeds_left_dirty += left
