"""A customer's devices are the ones its Device/List lists, night after night with
`releaf nightly` over HTTPS: a ghost device in Counter/List and a device re-keyed only in
Counter/List are set aside, through a clean re-collect too, and every day's deposits equal
the ground truth of the listed fleet; once a listing shows the ghost, its readings count
on every day they affect. An answer carrying an identifier that is not one fails only its
feed, and nothing of it is stored."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from releaf_pipeline.lib.store.collection import UNLISTED_DEVICE, feed_day_statuses
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.tables import anomalies, devices, readings
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_feed_deposits

pytestmark = pytest.mark.e2e

ACTIVATION = date(2026, 10, 5)
GHOST = "GHOST-0001"
REKEYED_AS = "REKEYED-0001"
REKEYED_SINCE = date(2026, 10, 9)


def small_fleet() -> Fleet:
    return Fleet(
        FleetConfig(
            customers=2,
            devices_per_customer=5,
            scenarios=False,
            history_start=date(2026, 8, 1),
            history_end=date(2026, 12, 31),
        )
    )


def engine_of(home):
    return make_engine(f"sqlite:///{home / 'releaf.db'}")


def report_days(releaf, month: str) -> dict[str, dict[str, int]]:
    got = releaf("report", "--month", month, "--json").json()
    return {a["account"]: a["days"] for a in got["accounts"]}


def truth_days(feeds, readings_of, through: date) -> dict[str, dict[str, int]]:
    """account -> every day's expected pages, from `readings_of(code)`."""
    return {
        account: {
            d.isoformat(): p
            for d, p in expected_feed_deposits(
                readings_of(code), {}, activation, scope, through
            ).items()
        }
        for code, account, activation, scope in feeds
    }


def test_devices_the_listing_never_shows_are_set_aside_until_it_does(
    home, releaf, monkeypatch, tmp_path
):
    fleet = small_fleet()
    code_a, code_b = fleet.customer_codes
    feeds = [(code_a, "acct-a", ACTIVATION, "all"), (code_b, "acct-b", ACTIVATION, "all")]
    moved = fleet.device_ids(code_a)[1]
    with Simulator(fleet, now=night_time(ACTIVATION), workdir=tmp_path / "sim") as sim:
        register_feeds(releaf, sim, feeds, monkeypatch)
        # A ghost reporting since before the activation (a baseline too), and one of
        # acct-a's listed devices re-keyed in Counter/List only.
        ghost = sim.add_ghost_device(code_a, GHOST, ACTIVATION - timedelta(days=4))
        sim.rekey_device(code_a, moved, REKEYED_AS, REKEYED_SINCE)

        def listed_fleet(code: str) -> dict[str, dict[date, int]]:
            served = fleet.readings(code)
            if code == code_a:
                served[moved] = {d: c for d, c in served[moved].items() if d < REKEYED_SINCE}
            return served

        last = date(2026, 10, 12)
        live_nights(releaf, sim, ACTIVATION, last)
        truth = truth_days(feeds, listed_fleet, last)
        assert report_days(releaf, "2026-10") == truth
        # The ghost is set aside, not dropped: one anomaly each, naming its days.
        engine = engine_of(home)
        with engine.connect() as conn:
            flagged = dict(
                conn.execute(
                    sa.select(anomalies.c.device_id, anomalies.c.detail).where(
                        anomalies.c.kind == UNLISTED_DEVICE
                    )
                ).all()
            )
            kept = conn.execute(
                sa.select(sa.func.count()).where(readings.c.device_id == GHOST)
            ).scalar_one()
        assert sorted(flagged) == [GHOST, REKEYED_AS]
        assert f"{ghost.first}..{last}" in flagged[GHOST]
        assert kept == (last - ghost.first).days + 1
        # Every feed-day was collected: a ghost is no reason to fail a customer.
        statuses = feed_day_statuses(engine, ACTIVATION, last)
        assert {r.status for r in statuses} == {"collected"}

        # A clean re-collect of everything never starts counting them.
        monkeypatch.setenv("RELEAF_NOW", night_time(last).isoformat())
        r = releaf("backfill", "--start", ACTIVATION.isoformat(), "--end", last.isoformat())
        assert r.code == 0, r.err
        monkeypatch.delenv("RELEAF_NOW")
        assert report_days(releaf, "2026-10") == truth

        # The listing shows the ghost: its readings count on every day they affect.
        sim.list_ghost_device(GHOST)
        end = date(2026, 10, 16)
        live_nights(releaf, sim, last + timedelta(days=1), end)

        def with_ghost(code: str) -> dict[str, dict[date, int]]:
            served = listed_fleet(code)
            if code == code_a:
                served[GHOST] = ghost.readings(ghost.first, end, lambda c, d: True)
            return served

        after = truth_days(feeds, with_ghost, end)
        assert report_days(releaf, "2026-10") == after
        assert after["acct-a"][ACTIVATION.isoformat()] > truth["acct-a"][ACTIVATION.isoformat()]
        assert after["acct-b"] == truth_days(feeds, listed_fleet, end)["acct-b"]
    with engine.connect() as conn:
        ids = list(conn.execute(sa.select(devices.c.device_id, devices.c.ever_listed)))
    assert dict(ids)[GHOST] is True and dict(ids)[REKEYED_AS] is False


@pytest.mark.parametrize(
    "device_id",
    [
        pytest.param("7" * 10_000, id="ten-thousand-characters"),
        pytest.param("\x1b]0;pwned\x07\x1b[2J", id="escape-sequences"),
        pytest.param("x'); DROP TABLE readings; --", id="sql-text-with-spaces"),
        pytest.param("d\u00e9vice-\u202e1", id="non-ascii"),
    ],
)
def test_an_answer_with_a_bad_device_id_fails_only_its_feed_and_stores_nothing(
    home, releaf, monkeypatch, tmp_path, device_id
):
    fleet = small_fleet()
    code_a, code_b = fleet.customer_codes
    feeds = [(code_a, "acct-a", ACTIVATION, "all"), (code_b, "acct-b", ACTIVATION, "all")]
    bad_night = ACTIVATION + timedelta(days=1)
    with Simulator(fleet, now=night_time(ACTIVATION), workdir=tmp_path / "sim") as sim:
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, ACTIVATION)
        # One device of acct-a's customer reported under the bad id, all night long.
        sim.rekey_device(code_a, fleet.device_ids(code_a)[0], device_id, date(2026, 1, 1))
        sim.set_now(night_time(bad_night))
        r = releaf("nightly", "--date", bad_night.isoformat())
        assert r.code == 1, (r.out, r.err)
        sim.clear_faults()
        # The error names the field, and the terminal gets nothing of the raw value.
        assert "'DeviceId' must be 1 to 64 printable ASCII characters" in r.err
        assert "\x1b" not in r.out + r.err and "\u202e" not in r.out + r.err
        assert device_id[:20] not in r.out + r.err
        engine = engine_of(home)
        statuses = {
            (s.feed_id, s.day): (s.status, s.reason)
            for s in feed_day_statuses(engine, bad_night, bad_night)
        }
        (hit,) = [k for k, (status, _) in statuses.items() if status == "failed"]
        assert statuses[hit][1].startswith("invalid_response:")
        assert sorted(status for status, _ in statuses.values()) == ["collected", "failed"]
        with engine.connect() as conn:
            ids = set(conn.execute(sa.select(devices.c.device_id)).scalars())
            ids |= set(conn.execute(sa.select(readings.c.device_id)).scalars())
        assert device_id not in ids
        assert all(i.isascii() and i.isprintable() and " " not in i for i in ids)

        # Once the server answers properly, the day is collected and exact.
        live_nights(releaf, sim, bad_night + timedelta(days=1), bad_night + timedelta(days=1))
        last = bad_night + timedelta(days=1)
        assert report_days(releaf, "2026-10") == truth_days(feeds, fleet.readings, last)
