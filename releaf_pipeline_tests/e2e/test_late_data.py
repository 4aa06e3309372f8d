"""Data that arrives late, the way real DCAs send it, night after night with `releaf nightly`
over HTTPS: each case compares `releaf report --json` day by day with the ground truth
computed from every reading the simulator will ever serve, and checks the month's
certificate: exactly the month's pages, no adjustment, its period from the activation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from releaf_pipeline.definitions import default_resources
from releaf_pipeline.defs.health.sensors import plan
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.health import feed_health_states, health_history
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import (
    CustomerOutage,
    DeviceOutage,
    FleetConfig,
    ManagedChange,
)
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.conftest import fresh_definitions
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.long]


def late_fleet(**late) -> Fleet:
    """Two customers without the default scenarios, plus the late-data cases asked for."""
    return Fleet(
        FleetConfig(
            customers=2,
            devices_per_customer=5,
            scenarios=False,
            history_start=date(2026, 8, 1),
            history_end=date(2026, 12, 31),
            **late,
        )
    )


@contextmanager
def serving(fleet: Fleet, tmp_path) -> Iterator[Simulator]:
    with Simulator(fleet, today=date(2026, 8, 1), workdir=tmp_path / "sim") as sim:
        yield sim


def check_months(releaf, fleet, feeds, months, seen_at=None) -> dict:
    """`report --json` equals the ground truth, day by day, for each month; returns it."""
    last = max(date.fromisoformat(f"{m}-01") for m in months) + timedelta(days=31)
    truth = expected_account_days(fleet, feeds, last.replace(day=1), None, seen_at)
    for month in months:
        got = releaf("report", "--month", month, "--json").json()
        want = month_view(truth, month)
        assert [(a["account"], a["days"]) for a in got["accounts"]] == [
            (a["account"], a["days"]) for a in want["accounts"]
        ], month
    return truth


def certificate(releaf, account: str, month: str) -> dict:
    certs = releaf("certificates", "list", "--month", month, "--json").json()
    (cert,) = [c for c in certs if c["account"] == account]
    return cert


def month_pages(truth: dict, account: str, month: str) -> int:
    return sum(p for d, p in truth[account].items() if d.strftime("%Y-%m") == month)


def assert_certified(releaf, truth, account, month, *, issued_on, period_start) -> None:
    cert = certificate(releaf, account, month)
    assert cert["pages"] == month_pages(truth, account, month)
    assert cert["adjustment_pages"] == 0
    assert (cert["closed_by"], cert["issued_on"]) == ("complete", issued_on)
    assert cert["period_start"] == period_start


def engine_of(home):
    return make_engine(f"sqlite:///{home / 'releaf.db'}")


# --- case 1: one site's DCA offline while the customer's other devices report -------------


def test_one_offline_device_lands_its_late_pages_on_their_own_dates(
    home, releaf, monkeypatch, tmp_path
):
    fleet = late_fleet(device_outages=(DeviceOutage(0, 1, date(2026, 10, 27), date(2026, 11, 3)),))
    code = fleet.customer_codes[0]
    feeds = [(code, "acct-a", date(2026, 10, 15), "all")]
    with serving(fleet, tmp_path) as sim:
        sim.set_now(night_time(date(2026, 10, 15)))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, date(2026, 10, 15), date(2026, 11, 1))
        # The device has not uploaded yet: October waits, and says for what.
        assert releaf("certificates", "list", "--json").json() == []
        monkeypatch.setenv("RELEAF_NOW", "2026-11-02T09:00:00+00:00")
        waiting = releaf("report", "--month", "2026-10").out
        assert (
            "acct-a waits" in waiting and "1 device(s) without a reading for 2026-10-31" in waiting
        )
        assert "closes with what is known on 2026-11-10" in waiting
        monkeypatch.delenv("RELEAF_NOW")
        live_nights(releaf, sim, date(2026, 11, 2), date(2026, 11, 3))

    truth = check_months(releaf, fleet, feeds, ["2026-10"])
    offline_pages = sum(
        c - fleet.readings(code)[fleet.device_ids(code)[1]][d - timedelta(days=1)]
        for d, c in fleet.readings(code)[fleet.device_ids(code)[1]].items()
        if date(2026, 10, 27) <= d <= date(2026, 10, 31)
    )
    assert offline_pages > 0  # the late pages are October's, not November's
    assert_certified(
        releaf, truth, "acct-a", "2026-10", issued_on="2026-11-03", period_start="2026-10-15"
    )
    # The other devices kept the feed fresh all along.
    assert health_history(engine_of(home), "feed") == []


# --- case 2: a customer whose day ends after the 02:00 UTC night ---------------------------


def test_a_customer_west_of_utc_is_read_the_next_night(home, releaf, monkeypatch, tmp_path):
    fleet = late_fleet(publication_delays=((0, 7.5),))
    code = fleet.customer_codes[0]
    assert fleet.publication_time(code, date(2026, 10, 5)) == datetime(
        2026, 10, 6, 7, 30, tzinfo=UTC
    )
    feeds = [(code, "acct-w", date(2026, 10, 15), "all")]
    with serving(fleet, tmp_path) as sim:
        sim.set_now(night_time(date(2026, 10, 15)))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, date(2026, 10, 15), date(2026, 10, 31))
        # October 31 ends at 07:00 UTC on November 1, after the night: October waits.
        assert releaf("certificates", "list", "--json").json() == []
        live_nights(releaf, sim, date(2026, 11, 1), date(2026, 11, 1))

    truth = check_months(releaf, fleet, feeds, ["2026-10"])
    assert all(p > 0 for d, p in truth["acct-w"].items() if d.weekday() < 5)
    assert_certified(
        releaf, truth, "acct-w", "2026-10", issued_on="2026-11-02", period_start="2026-10-15"
    )
    assert health_history(engine_of(home), "feed") == []
    (listed,) = releaf("feed", "list", "--json").json()
    assert listed["healthy"] is True


# --- case 3: IsManaged changes; a flag change never changes an earlier day -----------------


def test_a_managed_flag_change_applies_from_the_day_it_was_seen(
    home, releaf, monkeypatch, tmp_path
):
    probe = late_fleet()
    code = probe.customer_codes[0]
    flags = probe.managed(code)
    ids = probe.device_ids(code)
    leaving = next(i for i, x in enumerate(ids) if flags[x])
    joining = next(i for i, x in enumerate(ids) if not flags[x])
    fleet = late_fleet(
        managed_changes=(
            ManagedChange(0, leaving, datetime(2026, 10, 6, 12, tzinfo=UTC), False),
            ManagedChange(0, joining, datetime(2026, 10, 12, 12, tzinfo=UTC), True),
        )
    )
    activation = date(2026, 9, 24)
    feeds = [(code, "acct-m", activation, "managed")]
    with serving(fleet, tmp_path) as sim:
        sim.set_now(night_time(activation))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, activation, date(2026, 10, 3))
        september = releaf("report", "--month", "2026-09", "--json").json()
        live_nights(releaf, sim, date(2026, 10, 4), date(2026, 10, 31))

    def seen_at(day: date) -> datetime:
        return night_time(day)

    truth = check_months(releaf, fleet, feeds, ["2026-09", "2026-10"], seen_at)
    # September was certified before either change; nothing about it moved since.
    assert (
        releaf("report", "--month", "2026-09", "--json").json()["accounts"][0]["days"]
        == (september["accounts"][0]["days"])
    )
    assert_certified(
        releaf, truth, "acct-m", "2026-09", issued_on="2026-10-01", period_start="2026-09-24"
    )
    assert_certified(
        releaf, truth, "acct-m", "2026-10", issued_on="2026-11-01", period_start="2026-10-01"
    )
    # The changes mattered: with the flags as last seen, October would differ.
    last_seen = expected_account_days(
        fleet, feeds, date(2026, 10, 31), None, lambda d: night_time(date(2026, 10, 31))
    )
    assert month_pages(last_seen, "acct-m", "2026-10") != month_pages(truth, "acct-m", "2026-10")


# --- cases 4 and 6: activated while the DCA was offline; recovery from before activation ---


def test_activation_during_an_outage_takes_the_baseline_from_the_late_readings(
    home, releaf, monkeypatch, tmp_path
):
    activation = date(2026, 10, 15)
    fleet = late_fleet(
        customer_outages=(CustomerOutage(0, date(2026, 10, 12), date(2026, 10, 22)),)
    )
    code = fleet.customer_codes[0]
    feeds = [(code, "acct-o", activation, "all")]
    with serving(fleet, tmp_path) as sim:
        sim.set_now(night_time(activation))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, activation, date(2026, 10, 31))
        engine = engine_of(home)
        # The feed went stale before its activation and came back on Oct 22: the days
        # to collect again start at the activation, and the night that saw the data
        # again had already fetched them, so nothing is left pending.
        events = [(e.healthy, e.day) for e in health_history(engine, "feed")]
        assert events == [(False, activation), (True, date(2026, 10, 21))]
        (state,) = feed_health_states(engine).values()
        assert state.recollect_from is None

    truth = check_months(releaf, fleet, feeds, ["2026-10"])
    # The first day carries its own pages, not everything printed since the DCA went quiet.
    readings = fleet.readings(code).values()
    since_quiet = sum(r[activation] - r[date(2026, 10, 11)] for r in readings)
    assert truth["acct-o"][activation] == sum(
        r[activation] - r[activation - timedelta(days=1)] for r in readings
    )
    assert truth["acct-o"][activation] < since_quiet
    assert_certified(
        releaf, truth, "acct-o", "2026-10", issued_on="2026-11-01", period_start="2026-10-15"
    )
    # Nothing was left for the catch-up sensor: no re-collection was ever requested.
    with dg.DagsterInstance.get() as instance:
        catchups = [
            r for r in instance.get_runs() if r.tags.get("releaf/replay_of") == "catchup_sensor"
        ]
        nights = [r for r in instance.get_runs() if r.tags.get("releaf/replay_of") == "nightly"]
    assert nights, "the nights were replayed"
    assert [r.tags.get("releaf/catchup") for r in catchups] == []


def test_a_recovery_from_before_activation_clears(home, releaf, monkeypatch, tmp_path):
    """The DCA went quiet long before activation: the days to collect again start at the
    activation, the nights reading back to the baseline window fetch them, and nothing
    stays pending for the catch-up sensor or the month close."""
    activation = date(2026, 10, 8)
    fleet = late_fleet(customer_outages=(CustomerOutage(0, date(2026, 9, 1), date(2026, 10, 20)),))
    code = fleet.customer_codes[0]
    feeds = [(code, "acct-r", activation, "all")]
    with serving(fleet, tmp_path) as sim:
        sim.set_now(night_time(activation))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, activation, date(2026, 10, 31))
        with dg.DagsterInstance.get() as instance:
            assert plan(instance, *_store_and_day(date(2026, 11, 1))).requests == []
        (state,) = feed_health_states(engine_of(home)).values()
        assert state.healthy and state.recollect_from is None

    truth = check_months(releaf, fleet, feeds, ["2026-10"])
    assert_certified(
        releaf, truth, "acct-r", "2026-10", issued_on="2026-11-01", period_start="2026-10-08"
    )


# --- case 5: the month close never races the deposits --------------------------------------


def test_the_close_waits_for_deposits_of_the_latest_collection(home, releaf, monkeypatch, tmp_path):
    from releaf_pipeline.defs.collection.assets import meter_readings

    fleet = late_fleet(device_outages=(DeviceOutage(0, 0, date(2026, 10, 28), date(2026, 11, 2)),))
    code = fleet.customer_codes[0]
    feeds = [(code, "acct-c", date(2026, 10, 20), "all")]
    with serving(fleet, tmp_path) as sim:
        sim.set_now(night_time(date(2026, 10, 20)))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, date(2026, 10, 20), date(2026, 10, 31))
        assert releaf("certificates", "list", "--json").json() == []

        # The night of Nov 1 collects the late readings, and the close runs before the
        # deposits step has: it must wait for the deposits, not certify without them.
        night = night_time(date(2026, 11, 1))
        sim.set_now(night)
        monkeypatch.setenv("RELEAF_NOW", night.isoformat())
        # Loaded now, so the definitions' clock is the night's.
        fresh_definitions()
        from releaf_pipeline.definitions import defs

        with dg.DagsterInstance.get() as instance:
            collected = dg.materialize(
                [meter_readings], partition_key="2026-11-01", resources=default_resources(),
                instance=instance,
            )  # fmt: skip
            assert collected.success
            close = defs.resolve_job_def("monthly_close").execute_in_process(
                instance=instance, partition_key="2026-10-01"
            )
            assert close.success
            (mat,) = close.asset_materializations_for_node("reforestation_certificates")
        assert mat.metadata["issued_now"].value == 0
        waits = [r.data["waits for"] for r in mat.metadata["waiting"].records]
        assert any("wait to be computed from the latest collection" in w for w in waits), waits
        assert releaf("certificates", "list", "--json").json() == []
        monkeypatch.delenv("RELEAF_NOW")

        live_nights(releaf, sim, date(2026, 11, 1), date(2026, 11, 1))

    truth = check_months(releaf, fleet, feeds, ["2026-10"])
    assert_certified(
        releaf, truth, "acct-c", "2026-10", issued_on="2026-11-02", period_start="2026-10-20"
    )


def test_after_a_successful_catchup_nothing_more_is_requested(home, releaf, monkeypatch, tmp_path):
    """A DCA silent for longer than the look-back: the nights no longer re-read it, so its
    recovery is one catch-up run from the day after its last data, and then nothing."""
    activation = date(2026, 9, 10)
    fleet = late_fleet(customer_outages=(CustomerOutage(0, date(2026, 9, 15), date(2026, 10, 24)),))
    code = fleet.customer_codes[0]
    feeds = [(code, "acct-l", activation, "all")]
    with serving(fleet, tmp_path) as sim:
        sim.set_now(night_time(activation))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, activation, date(2026, 10, 31))
        with dg.DagsterInstance.get() as instance:
            recovered = [
                (r.tags["dagster/asset_partition_range_start"], r.status.value)
                for r in instance.get_runs()
                if r.tags.get("releaf/catchup") == "recovered"
            ]
            assert recovered == [("2026-09-15", "SUCCESS")]
            assert plan(instance, *_store_and_day(date(2026, 11, 1))).requests == []
        (state,) = feed_health_states(engine_of(home)).values()
        assert state.healthy and state.recollect_from is None

    # The late readings came after September's grace period: September closed with what
    # was known, and October's certificate carries the rest as its adjustment.
    truth = check_months(releaf, fleet, feeds, ["2026-09", "2026-10"])
    september = certificate(releaf, "acct-l", "2026-09")
    assert (september["closed_by"], september["issued_on"]) == ("grace", "2026-10-10")
    october = certificate(releaf, "acct-l", "2026-10")
    assert october["pages"] == month_pages(truth, "acct-l", "2026-10")
    late = month_pages(truth, "acct-l", "2026-09") - september["pages"]
    assert late > 0 and october["adjustment_pages"] == late
    assert (october["closed_by"], october["issued_on"]) == ("complete", "2026-11-01")


def _store_and_day(day):
    """The catch-up's inputs as the pipeline configures them (DAGSTER_HOME's settings)."""
    resources = default_resources()
    return resources["store"], day, resources["rules"]
