"""The accounting benchmark's store, written directly with bulk inserts: what a pipeline
that collected and deposited every night has stored, a night's collection mirrored, and
the deposits taken back out to compute them again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from benchmarks.accounting_data import Accounted, Synthetic
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server
from releaf_pipeline.lib.store.tables import feeds

SERVER = "bench"


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
            "life_count, latest_day, counted_day, listed, ever_listed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 1)",
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


def forget_deposits(engine: sa.Engine) -> None:
    """No deposit stored yet: every feed dirty from its activation, every count unset."""
    raw = engine.raw_connection()
    try:
        raw.execute("DELETE FROM deposits")
        raw.execute("DELETE FROM anomalies")
        raw.execute("UPDATE devices SET initial_count = NULL, latest_count = NULL, life_count = 0")
        raw.execute("UPDATE feeds SET dirty_from = activation_date")
        raw.commit()
    finally:
        raw.close()
