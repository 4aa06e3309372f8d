"""Incremental deposits equal a recompute of the whole history, over random histories.

Each case lives through nights the way the collector does (the re-read window, late and
missing readings, meter resets and glitches, IsManaged flipping, nights not run, old
ranges collected again) and brings the deposits up to date after some of them. At the
end, recomputing every feed from its baseline must find nothing to change: deposits,
device counts and meter resets and glitches are exactly what the incremental updates
left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.fetch_plan import plan_fetch
from releaf_pipeline.lib.mpsmonitor.models import Device, DeviceReadings
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.collection import device_latest_days, save_collection
from releaf_pipeline.lib.store.deposits import update_deposits
from releaf_pipeline.lib.store.deposits.reconcile import reconcile_deposits
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.tables import anomalies, deposits, devices, feeds

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class _Device:
    counts: dict[date, int] = field(default_factory=dict)
    arrives: dict[date, date] = field(default_factory=dict)  # reading day -> first night seen
    flips: list[tuple[date, bool]] = field(default_factory=list)  # (night, managed from then)
    managed: bool = True

    def managed_on(self, night: date) -> bool:
        flag = self.managed
        for at, value in self.flips:
            if at <= night:
                flag = value
        return flag


def _history(rng: random.Random, activation: date) -> dict[str, _Device]:
    out = {}
    for n in range(rng.randint(1, 4)):
        dev = _Device(managed=rng.random() < 0.6)
        count = rng.randint(0, 50_000)
        first_seen = rng.choice([-40, rng.randint(-40, 25)])
        offline = rng.random() < 0.3
        gap_start = rng.randint(-10, 20)
        # Some devices go silent for a week or two, their readings never uploaded.
        silent = range(0)
        if rng.random() < 0.4:
            quiet_from = rng.randint(-20, 20)
            silent = range(quiet_from, quiet_from + rng.randint(8, 16))
        for offset in range(-40, 30):
            day = activation + timedelta(days=offset)
            count += rng.choice([0, rng.randint(1, 300)])
            if rng.random() < 0.04:
                count = rng.randint(0, 40)  # meter reset
            if offset < first_seen or offset in silent or rng.random() < 0.1:
                continue  # not reporting yet, silent, or a day never uploaded
            # A glitch: the DCA reports a little less than the meter's count, often 1 page.
            dip = rng.choice([1, rng.randint(1, 500)]) if rng.random() < 0.08 else 0
            dev.counts[day] = max(0, count - dip)
            late = offline and gap_start <= offset < gap_start + rng.randint(3, 9)
            lag = rng.randint(2, 12) if late else rng.choice([1, 1, 1, 2])
            dev.arrives[day] = day + timedelta(days=lag)
        if rng.random() < 0.5:
            dev.flips.append((activation + timedelta(days=rng.randint(-5, 25)), not dev.managed))
        out[f"d{n}"] = dev
    return out


def _night(engine, feed, history: dict[str, _Device], start: date, end: date, night: date) -> None:
    latest = device_latest_days(engine, [feed.id]).get(feed.id, [])
    plan = plan_fetch(feed, start, end, latest)
    if plan is None:
        return
    listed = [
        Device(name, "C", dev.managed_on(night), 0)
        for name, dev in history.items()
        if dev.counts and min(dev.counts) < night
    ]
    reading_rows = [
        DeviceReadings(
            name,
            {
                d: c
                for d, c in dev.counts.items()
                if plan.fetch_from <= d <= plan.fetch_to and dev.arrives[d] <= night
            },
        )
        for name, dev in history.items()
    ]
    save_collection(
        engine, feed=feed, device_rows=listed, reading_rows=[r for r in reading_rows if r.counts],
        fetched_from=plan.fetch_from, fetched_to=plan.fetch_to, run_id=None, now=NOW,
    )  # fmt: skip


def _snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {
            "deposits": sorted(
                conn.execute(sa.select(deposits.c.feed_id, deposits.c.day, deposits.c.pages))
            ),
            "devices": sorted(
                conn.execute(
                    sa.select(
                        devices.c.feed_id,
                        devices.c.device_id,
                        devices.c.initial_count,
                        devices.c.latest_count,
                        devices.c.life_count,
                    )
                )
            ),
            "meters": sorted(
                conn.execute(
                    sa.select(
                        anomalies.c.feed_id,
                        anomalies.c.device_id,
                        anomalies.c.day,
                        anomalies.c.kind,
                        anomalies.c.previous_count,
                        anomalies.c.count,
                        anomalies.c.detail,
                    )
                )
            ),
        }


def _live(engine, rng: random.Random) -> None:
    base = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 600))
    specs, histories = [], {}
    for i in range(rng.randint(1, 3)):
        activation = base + timedelta(days=rng.randint(-5, 5))
        specs.append(
            FeedSpec("s", f"C{i}", f"acct-{i % 2}", activation, rng.choice(["all", "managed"]))
        )
        histories[f"C{i}"] = _history(rng, activation)
    add_feeds(engine, specs, now=NOW)
    night = base - timedelta(days=3)
    while night <= base + timedelta(days=32):
        if rng.random() < 0.85:  # some nights are not run at all
            for feed in list_feeds(engine):
                _night(engine, feed, histories[feed.customer_code], night, night, night)
        if rng.random() < 0.15:  # an operator collects an old range again
            first = night - timedelta(days=rng.randint(1, 20))
            for feed in list_feeds(engine):
                _night(engine, feed, histories[feed.customer_code], first, night, night)
        if rng.random() < 0.6:
            update_deposits(engine, now=NOW)
        night += timedelta(days=1)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="s", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    yield engine
    engine.dispose()


@pytest.mark.parametrize("seed", range(24))
def test_incremental_deposits_equal_a_full_recompute(engine, seed):
    rng = random.Random(seed)
    _live(engine, rng)
    update_deposits(engine, now=NOW)
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(feeds.c.dirty_from).where(feeds.c.dirty_from.is_not(None))).all()
            == []
        )
    incremental = _snapshot(engine)

    summary = update_deposits(engine, now=NOW, everything=True)

    assert summary.days_written == 0 and summary.anomalies_new == 0
    assert _snapshot(engine) == incremental
    assert incremental["deposits"], "the case deposited nothing: a test that cannot fail"


def test_a_night_recomputes_only_the_days_that_changed(engine):
    rng = random.Random(1)
    _live(engine, rng)
    update_deposits(engine, now=NOW)
    feed = list_feeds(engine)[0]
    # A reading arriving for the last synced day: only that feed, from that day, is loaded.
    last = feed.synced_through
    listed = [Device("late-device", feed.customer_code, True, 123)]
    save_collection(
        engine, feed=feed, device_rows=listed, fetched_from=last, fetched_to=last, run_id=None,
        reading_rows=[DeviceReadings("late-device", {last: 123})], now=NOW,
    )  # fmt: skip
    summary = update_deposits(engine, now=NOW)
    assert summary.feeds == 1
    assert summary.readings_loaded <= 10


@pytest.mark.parametrize("seed", range(0, 24, 3))
def test_reconciliation_finds_exactly_the_deposits_that_disagree(engine, seed):
    rng = random.Random(seed)
    _live(engine, rng)
    update_deposits(engine, now=NOW)
    with engine.connect() as conn:
        stored = sorted(conn.execute(sa.select(deposits.c.feed_id, deposits.c.day)))
    first, last = stored[0][1], stored[-1][1]
    # Any window of days, not only the whole history, reconciles.
    middle = first + (last - first) / 2
    assert reconcile_deposits(engine, first, last) == []
    assert reconcile_deposits(engine, middle, last) == []

    feed_id, day = rng.choice(stored)
    other_id, other_day = rng.choice([r for r in stored if r != (feed_id, day)])
    with engine.begin() as conn:
        conn.execute(
            deposits.update()
            .where(deposits.c.feed_id == feed_id, deposits.c.day == day)
            .values(pages=deposits.c.pages + 7)
        )
        conn.execute(
            deposits.delete().where(deposits.c.feed_id == other_id, deposits.c.day == other_day)
        )
    found = {(m.feed_id, m.day): m for m in reconcile_deposits(engine, first, last)}
    assert set(found) == {(feed_id, day), (other_id, other_day)}
    assert found[(feed_id, day)].stored == found[(feed_id, day)].expected + 7
    assert found[(other_id, other_day)].stored is None
    one_day = [m for m in found.values() if m.day == day]
    assert reconcile_deposits(engine, day, day) == one_day


def _collect(engine, feed, counts: dict[date, int], first: date, last: date) -> None:
    save_collection(
        engine, feed=feed, device_rows=[Device("x", feed.customer_code, True, 0)],
        reading_rows=[DeviceReadings("x", counts)] if counts else [],
        fetched_from=first, fetched_to=last, run_id=None, now=NOW,
    )  # fmt: skip
    update_deposits(engine, now=NOW)


def _stored(engine, feed_id: int) -> tuple[dict[date, int], tuple, list]:
    with engine.connect() as conn:
        days = dict(
            conn.execute(
                sa.select(deposits.c.day, deposits.c.pages).where(deposits.c.feed_id == feed_id)
            ).all()
        )
        counts = conn.execute(
            sa.select(devices.c.initial_count, devices.c.latest_count, devices.c.life_count)
        ).one()
        meters = conn.execute(
            sa.select(anomalies.c.day, anomalies.c.kind, anomalies.c.previous_count,
                      anomalies.c.count).order_by(anomalies.c.day)
        ).all()  # fmt: skip
    return days, tuple(counts), [tuple(m) for m in meters]


def test_nights_after_a_glitch_count_from_the_high_that_stands(engine):
    a = date(2026, 10, 1)
    add_feeds(engine, [FeedSpec("s", "C", "acct", a, "all")], now=NOW)
    (feed,) = list_feeds(engine)
    day = {k: a + timedelta(days=k) for k in range(-1, 6)}

    # Night after A + 1: a one-page dip, the DCA's stale reading.
    _collect(engine, feed, {day[-1]: 1_000, day[0]: 1_100, day[1]: 1_099}, day[-1], day[1])
    pages, counts, meters = _stored(engine, feed.id)
    assert [pages[day[k]] for k in (0, 1)] == [100, 0]
    assert counts == (1_000, 1_099, 100)  # LatestCount is the reading as read
    assert meters == [(day[1], "meter_glitch", 1_100, 1_099)]

    # A + 2 is late; A + 3 arrives: counted from the high of 1,100, not from 1,099.
    _collect(engine, feed, {day[3]: 1_160}, day[2], day[3])
    pages, counts, _ = _stored(engine, feed.id)
    assert [pages[day[k]] for k in (2, 3)] == [0, 60]
    assert counts == (1_000, 1_160, 160)

    # A + 2 arrives late, itself below the high: a second glitch, still no page twice.
    _collect(engine, feed, {day[2]: 1_090}, day[2], day[2])
    pages, counts, meters = _stored(engine, feed.id)
    assert [pages[day[k]] for k in (1, 2, 3)] == [0, 0, 60]
    assert counts == (1_000, 1_160, 160)
    assert [m[:2] for m in meters] == [(day[1], "meter_glitch"), (day[2], "meter_glitch")]

    # A glitch again on the last day; then a night with no reading, then a reset.
    _collect(engine, feed, {day[4]: 1_159}, day[4], day[4])
    _collect(engine, feed, {}, day[5], day[5])
    assert _stored(engine, feed.id)[1] == (1_000, 1_159, 160)
    _collect(engine, feed, {day[5]: 40}, day[5], day[5])
    pages, counts, meters = _stored(engine, feed.id)
    assert [pages[day[k]] for k in (4, 5)] == [0, 40]
    assert counts == (1_000, 40, 200)
    assert meters[-1] == (day[5], "meter_reset", 1_160, 40)

    # Every night agrees with a recompute of the whole history.
    before = _snapshot(engine)
    assert update_deposits(engine, now=NOW, everything=True).days_written == 0
    assert _snapshot(engine) == before
    assert reconcile_deposits(engine, day[0], day[5]) == []
