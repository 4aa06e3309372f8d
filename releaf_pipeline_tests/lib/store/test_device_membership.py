"""A customer's devices are the ones its Device/List lists: the readings of any other device
are kept but set aside, as an anomaly, until a listing shows it; device ids compare
without regard to case; and a store written before this rule has those pages taken out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.mpsmonitor.models import Device, DeviceReadings
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.collection import (
    DUPLICATE_READING,
    UNLISTED_DEVICE,
    device_latest_days,
    save_collection,
)
from releaf_pipeline.lib.store.deposits import update_deposits
from releaf_pipeline.lib.store.deposits.reconcile import reconcile_deposits
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.migrate import upgrade
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.tables import anomalies, deposits, devices, readings
from releaf_pipeline_tests.ground_truth import expected_feed_deposits

A = date(2026, 10, 1)
NOW = datetime(2026, 10, 1, tzinfo=UTC)
GHOST_PAGES_A_DAY = 1_000_020


def d(n: int) -> date:
    return A + timedelta(days=n)


def _counts(first: int, last: int, per_day: int, start: int) -> dict[date, int]:
    return {d(n): start + (n - first) * per_day for n in range(first, last + 1)}


REAL = _counts(-3, 20, 130, 50_000)
GHOST = _counts(-3, 20, GHOST_PAGES_A_DAY, 5_000_000)


def _register(engine) -> None:
    add_server(engine, TokenCipher(Fernet.generate_key()), name="s", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(engine, [FeedSpec("s", "C", "acct", A, "all")], now=NOW)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    _register(engine)
    yield engine
    engine.dispose()


def _night(engine, first: int, last: int, listed: list[str], counts: dict[str, dict]) -> None:
    """A collection of days first..last: Device/List lists `listed`, Counter/List reports
    `counts` (each device's readings, cut to the days fetched)."""
    lo, hi = d(first), d(last)
    save_collection(
        engine, feed=list_feeds(engine)[0],
        device_rows=[Device(name, "C", True, 0) for name in listed],
        reading_rows=[
            DeviceReadings(name, {x: c for x, c in days.items() if lo <= x <= hi})
            for name, days in counts.items()
        ],
        fetched_from=lo, fetched_to=hi, run_id=None, now=NOW,
    )  # fmt: skip
    update_deposits(engine, now=NOW)


def _deposits(engine) -> dict[date, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(deposits.c.day, deposits.c.pages)).all())


def _truth(through: int, **devices_counts: dict[date, int]) -> dict[date, int]:
    cut = {
        name: {x: c for x, c in days.items() if x <= d(through)}
        for name, days in devices_counts.items()
    }
    return expected_feed_deposits(cut, {}, A, "all", d(through))


def _unlisted(engine) -> list[tuple[str, date, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(anomalies.c.device_id, anomalies.c.day, anomalies.c.detail).where(
                    anomalies.c.kind == UNLISTED_DEVICE
                )
            )
        ]


def test_readings_of_a_device_never_listed_are_set_aside_until_a_listing_shows_it(engine):
    # Nights through day 9: Counter/List reports a ghost that Device/List never lists.
    _night(engine, -31, 4, ["real"], {"real": REAL, "GHOST-1": GHOST})
    for night in range(5, 10):
        _night(engine, night - 2, night, ["real"], {"real": REAL, "GHOST-1": GHOST})
    assert _deposits(engine) == _truth(9, real=REAL)
    # One anomaly for the device, naming the days set aside; the feed-days stay collected.
    ((device, day, detail),) = _unlisted(engine)
    assert (device, day) == ("GHOST-1", d(-3))
    assert f"{d(-3)}..{d(9)}" in detail and "13 reading(s)" in detail
    # The ghost does not hold the re-read window back, nor count as the feed's data.
    feed = list_feeds(engine)[0]
    latest = device_latest_days(engine, [feed.id])[feed.id]
    assert latest == [d(9)]
    # A full recompute and a clean re-collect of everything keep it out.
    update_deposits(engine, now=NOW, everything=True)
    _night(engine, -31, 9, ["real"], {"real": REAL, "GHOST-1": GHOST})
    assert _deposits(engine) == _truth(9, real=REAL)
    assert reconcile_deposits(engine, d(0), d(9)) == []

    # A listing shows it (in another case): from then on all its readings count, every
    # day they affect included (rule 8), as one device under the stored spelling.
    _night(engine, 8, 10, ["real", "ghost-1"], {"real": REAL, "Ghost-1": GHOST})
    assert _deposits(engine) == _truth(10, real=REAL, ghost=GHOST)
    with engine.connect() as conn:
        ids = sorted(conn.execute(sa.select(devices.c.device_id)).scalars())
        read = sorted(conn.execute(sa.select(readings.c.device_id).distinct()).scalars())
    assert ids == read == ["GHOST-1", "real"]
    # Listed once is listed for good: a night whose listing misses it still counts it.
    _night(engine, 9, 11, ["real"], {"real": REAL, "GHOST-1": GHOST})
    assert _deposits(engine) == _truth(11, real=REAL, ghost=GHOST)
    update_deposits(engine, now=NOW, everything=True)
    assert _deposits(engine) == _truth(11, real=REAL, ghost=GHOST)
    assert reconcile_deposits(engine, d(0), d(11)) == []


def test_a_device_rekeyed_only_in_the_counter_list_is_not_counted_twice(engine):
    # From day 5 the listed device's Counter/List row comes under a new id only.
    old = {x: c for x, c in REAL.items() if x < d(5)}
    new = {x: c for x, c in REAL.items() if x >= d(5)}
    _night(engine, -31, 4, ["dev-7"], {"dev-7": REAL})
    for night in range(5, 10):
        _night(engine, night - 2, night, ["dev-7"], {"dev-7": old, "dev-7-rekeyed": new})
    # The listed device's pages wait for its next reading; none are counted twice.
    assert _deposits(engine) == _truth(9, dev7=old)
    assert [device for device, _, _ in _unlisted(engine)] == ["dev-7-rekeyed"]


def test_ids_differing_only_in_case_are_one_device_spelled_as_stored(engine):
    _night(engine, -31, 3, ["Dev-A"], {"Dev-A": REAL})
    _night(engine, 2, 5, ["DEV-A"], {"dev-a": REAL})
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(devices.c.device_id)).scalars()) == ["Dev-A"]
        assert set(conn.execute(sa.select(readings.c.device_id)).scalars()) == {"Dev-A"}
    assert _deposits(engine) == _truth(5, dev=REAL)
    assert _unlisted(engine) == []


def test_two_readings_for_one_date_are_an_anomaly_and_the_higher_counts(engine):
    low = REAL[d(2)] - 90
    save_collection(
        engine, feed=list_feeds(engine)[0], device_rows=[Device("dev-1", "C", True, 0)],
        reading_rows=[DeviceReadings("dev-1", {x: c for x, c in REAL.items() if x <= d(4)},
                                     duplicates={d(2): (low, REAL[d(2)])})],
        fetched_from=d(-31), fetched_to=d(4), run_id=None, now=NOW,
    )  # fmt: skip
    update_deposits(engine, now=NOW)
    assert _deposits(engine) == _truth(4, dev=REAL)
    with engine.connect() as conn:
        (flag,) = conn.execute(
            sa.select(anomalies.c.device_id, anomalies.c.day, anomalies.c.previous_count,
                      anomalies.c.count, anomalies.c.detail)
            .where(anomalies.c.kind == DUPLICATE_READING)
        ).all()  # fmt: skip
    assert flag[:4] == ("dev-1", d(2), low, REAL[d(2)])
    assert f"the higher, {REAL[d(2)]:,}, stands" in flag.detail


def test_the_migration_takes_pages_of_never_listed_devices_out_of_a_store(tmp_path):
    """A store written before the rule holds a ghost's readings and deposits: upgraded,
    the ghost is set aside and the deposits are recomputed without it."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    upgrade(old, "0006")
    t = sa.table
    c = sa.column
    with old.begin() as conn:
        # Registered as the code of that schema did: the registry of today writes columns
        # later migrations add.
        conn.execute(
            t("servers", c("id"), c("name"), c("url"), c("token_sealed"), c("dealer_code"),
              c("created_at")).insert(),
            {"id": 1, "name": "s", "url": "https://x", "token_sealed": "sealed",
             "dealer_code": "D", "created_at": NOW},
        )  # fmt: skip
        conn.execute(
            t("feeds", c("id"), c("server_id"), c("customer_code"), c("account"),
              c("activation_date"), c("scope"), c("created_at")).insert(),
            {"id": 1, "server_id": 1, "customer_code": "C", "account": "acct",
             "activation_date": A, "scope": "all", "created_at": NOW},
        )  # fmt: skip
        conn.execute(
            t("devices", c("feed_id"), c("device_id"), c("managed"), c("life_count"),
              c("listed"), c("latest_day")).insert(),
            [{"feed_id": 1, "device_id": name, "managed": True, "life_count": 0,
              "listed": name == "real", "latest_day": d(9)} for name in ("real", "GHOST-1")],
        )  # fmt: skip
        conn.execute(
            t("device_scope", c("feed_id"), c("device_id"), c("first_day"), c("last_day"),
              c("managed")).insert(),
            {"feed_id": 1, "device_id": "real", "first_day": d(-31), "last_day": d(9),
             "managed": True},
        )  # fmt: skip
        conn.execute(
            t("readings", c("feed_id"), c("device_id"), c("day"), c("life_count")).insert(),
            [{"feed_id": 1, "device_id": name, "day": x, "life_count": n}
             for name, days in (("real", REAL), ("GHOST-1", GHOST))
             for x, n in days.items() if x <= d(9)],
        )  # fmt: skip
        conn.execute(t("feeds", c("id"), c("synced_through")).update().values(synced_through=d(9)))
        # The deposits as the old code left them: the ghost's pages included.
        polluted = _truth(9, real=REAL, ghost=GHOST)
        assert polluted != _truth(9, real=REAL)
        conn.execute(
            t("deposits", c("feed_id"), c("day"), c("account"), c("pages"),
              c("updated_at")).insert(),
            [{"feed_id": 1, "day": x, "account": "acct", "pages": p, "updated_at": NOW}
             for x, p in polluted.items()],
        )  # fmt: skip
    old.dispose()

    engine = make_engine(url)  # upgrades to the newest schema
    update_deposits(engine, now=NOW)
    assert _deposits(engine) == _truth(9, real=REAL)
    with engine.connect() as conn:
        flags = dict(conn.execute(sa.select(devices.c.device_id, devices.c.ever_listed)).all())
    assert flags == {"real": True, "GHOST-1": False}
    engine.dispose()
