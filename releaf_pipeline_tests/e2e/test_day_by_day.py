"""Each day in the UI is the store's day, after any rewrite: nights through an outage and
late readings with `releaf nightly` over HTTPS, and operators' changes between nights.

A day's view is what the Dagster instance holds as the latest materialization of each
daily asset's partition and the latest result of each daily check on it; the store's day
is what `releaf report --json` and `releaf feed list` say."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pytest

from releaf_pipeline.launch import night_time
from releaf_pipeline.simulator.config import DeviceOutage, FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds

pytestmark = [pytest.mark.e2e, pytest.mark.long]

FIRST = date(2026, 11, 2)
OUTAGE = date(2026, 11, 4)
LATE_FROM, LATE_UPLOAD = date(2026, 11, 3), date(2026, 11, 7)
LAST = date(2026, 11, 9)
DAILY_CHECKS = {
    "meter_readings": ("feeds_collected", "feeds_fresh"),
    "daily_deposits": ("deposits_complete", "deposits_reconcile", "meter_anomalies"),
}


@pytest.fixture
def fleet() -> Fleet:
    """Two customers; one device of the first is offline from LATE_FROM and uploads the
    days it missed on LATE_UPLOAD, which the nights then move to their own dates."""
    return Fleet(
        FleetConfig(
            customers=2,
            devices_per_customer=4,
            scenarios=False,
            history_start=date(2026, 9, 1),
            history_end=date(2026, 12, 31),
            device_outages=(DeviceOutage(0, 1, LATE_FROM, LATE_UPLOAD),),
        )
    )


@pytest.fixture
def sim(fleet: Fleet, tmp_path) -> Iterator[Simulator]:
    with Simulator(fleet, today=FIRST, workdir=tmp_path / "sim") as server:
        yield server


def feeds_of(fleet: Fleet) -> list[tuple[str, str, date, str]]:
    first, second = fleet.customer_codes
    return [(first, "acct-a", FIRST, "all"), (second, "acct-b", FIRST, "all")]


def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get()


def latest_materialization(asset: str, day: date) -> dg.EventLogRecord:
    with instance() as inst:
        found = inst.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day.isoformat()]),
            limit=1,
        )
    (record,) = found.records
    return record


def latest_figures(asset: str, day: date) -> dict:
    """The metadata of the day's latest materialization of `asset`, as plain values."""
    metadata = latest_materialization(asset, day).asset_materialization.metadata
    out: dict = {}
    for name, value in metadata.items():
        if isinstance(value, dg.TableMetadataValue):
            out[name] = [dict(r.data) for r in value.records]
        else:
            out[name] = value.value
    return out


def latest_checks(asset: str) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(check, day) -> the latest result of each daily check of `asset`, as the UI reads
    them (newest first from the instance's record of check executions)."""
    out: dict[tuple[str, str], dg.AssetCheckEvaluation] = {}
    with instance() as inst:
        for name in DAILY_CHECKS[asset]:
            key = dg.AssetCheckKey(dg.AssetKey(asset), name)
            for record in inst.event_log_storage.get_asset_check_execution_history(
                key, limit=10_000
            ):
                if record.event is not None:
                    evaluation = record.event.dagster_event.event_specific_data
                    out.setdefault((name, evaluation.partition), evaluation)
    return out


def store_days(releaf, month: str) -> dict[date, dict[str, int]]:
    """day -> account -> pages, as `releaf report --json` has them."""
    out: dict[date, dict[str, int]] = {}
    for account in releaf("report", "--month", month, "--json").json()["accounts"]:
        for day, pages in account["days"].items():
            out.setdefault(date.fromisoformat(day), {})[account["account"]] = pages
    return out


def assert_each_day_is_the_stores(releaf, first: date, last: date, feeds: int) -> None:
    """For every day: the latest figures of both assets equal the store, and every daily
    check's latest result on it passes (each day is fully collected)."""
    stored = store_days(releaf, first.strftime("%Y-%m"))
    checks = {a: latest_checks(a) for a in DAILY_CHECKS}
    day = first
    while day <= last:
        deposits = latest_figures("daily_deposits", day)
        per_account = {r["account"]: r["pages"] for r in deposits["pages_per_account"]}
        assert per_account == stored[day], day
        assert deposits["pages"] == sum(stored[day].values()), day
        readings = latest_figures("meter_readings", day)
        assert (readings["feeds_active"], readings["feeds_collected"]) == (feeds, feeds), day
        assert readings["feeds_not_collected"] == [], day
        for asset, names in DAILY_CHECKS.items():
            latest = latest_materialization(asset, day).storage_id
            for name in names:
                result = checks[asset][(name, day.isoformat())]
                # Each result judges the day as it is now shown, not an earlier version.
                assert result.target_materialization_data.storage_id == latest, (day, name)
                # A meter anomaly is a finding, not a missing day; none is in this fleet.
                assert result.passed, (day, name, result.description)
        day += timedelta(days=1)


def test_each_day_shows_the_store_after_an_outage_and_late_readings(
    home, sim, fleet, releaf, monkeypatch
):
    feeds = feeds_of(fleet)
    sim.set_now(night_time(FIRST))
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST, OUTAGE, outage={OUTAGE})

    # The server is down: the day's pages are not a passing zero. Both assets' checks
    # fail on it, at WARN, as the catch-up will collect it once the server is back.
    checks = {a: latest_checks(a) for a in DAILY_CHECKS}
    for asset, name in (
        ("meter_readings", "feeds_collected"),
        ("daily_deposits", "deposits_complete"),
    ):
        result = checks[asset][(name, OUTAGE.isoformat())]
        assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN, name
        assert "2 feed(s) not collected" in result.description
    assert latest_figures("meter_readings", OUTAGE)["feeds_paused"] == 2

    live_nights(releaf, sim, OUTAGE + timedelta(days=1), LAST)

    # The late readings were moved onto their own dates, which the nights before had
    # shown without them: the days' views were rewritten with the store.
    stored = store_days(releaf, "2026-11")
    assert stored[OUTAGE]["acct-a"] > 0 and stored[LATE_FROM]["acct-a"] > 0
    assert_each_day_is_the_stores(releaf, FIRST, LAST, feeds=2)


def test_operator_changes_show_on_the_days_they_change_at_once(
    home, sim, fleet, releaf, monkeypatch
):
    feeds = feeds_of(fleet)
    code = feeds[0][0]
    sim.set_now(night_time(FIRST))
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST, OUTAGE, outage={OUTAGE})
    monkeypatch.setenv("RELEAF_NOW", night_time(OUTAGE).isoformat())

    # Paused by an operator while its outage day is missing: that day names it, at
    # ERROR (only a person brings it back), on both assets.
    assert releaf("feed", "pause", code).code == 0
    rows = latest_figures("meter_readings", OUTAGE)["feeds_not_collected"]
    assert {(r["customer"], r["status"]) for r in rows} == {
        (code, "paused by operator"),
        (feeds[1][0], "paused"),
    }
    assert latest_figures("meter_readings", OUTAGE)["feeds_paused_by_operator"] == 1
    for asset, name in (
        ("meter_readings", "feeds_collected"),
        ("daily_deposits", "deposits_complete"),
    ):
        result = latest_checks(asset)[(name, OUTAGE.isoformat())]
        assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR, (
            result.description
        )
        assert f"{code} on east paused by operator" in result.description
        assert f"releaf feed resume east/{code}" in result.description
    # A day it was collected on still counts it, as collected.
    before = latest_figures("meter_readings", FIRST)
    assert (before["feeds_active"], before["feeds_collected"]) == (2, 2)

    # Resumed: the catch-up will collect the day again, so it is back to WARN.
    assert releaf("feed", "resume", code).code == 0
    result = latest_checks("meter_readings")[("feeds_collected", OUTAGE.isoformat())]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN

    # The feed's deposits move to another account from a day on: the days' per-account
    # figures move with them at once, as `releaf report` has them.
    moved = FIRST + timedelta(days=1)
    r = releaf("feed", "update", code, "--account", "acct-new", "--from", moved.isoformat())
    assert r.code == 0, r.err
    stored = store_days(releaf, "2026-11")
    assert "acct-new" in stored[moved] and "acct-a" not in stored[moved]
    for day in (FIRST, moved, OUTAGE - timedelta(days=1)):
        deposits = latest_figures("daily_deposits", day)
        assert {r["account"]: r["pages"] for r in deposits["pages_per_account"]} == stored[day]


def materializations(asset: str, day: date) -> int:
    with instance() as inst:
        found = inst.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day.isoformat()]),
            limit=1000,
        )
    return len(found.records)


def before_last() -> dict:
    """The latest check results of the days before LAST."""
    return {
        a: {k: v for k, v in latest_checks(a).items() if k[1] < LAST.isoformat()}
        for a in DAILY_CHECKS
    }


def test_a_day_rewritten_the_same_is_not_published_again(home, sim, fleet, releaf, monkeypatch):
    feeds = feeds_of(fleet)
    sim.set_now(night_time(FIRST))
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST, LAST)
    earlier = LAST - timedelta(days=2)
    shown = {a: materializations(a, earlier) for a in DAILY_CHECKS}
    checks = before_last()

    # Collecting LAST again re-reads the days before it, which the store rewrites with
    # the same readings: their views already show them, so nothing is published again.
    monkeypatch.setenv("RELEAF_NOW", night_time(LAST).isoformat())
    assert releaf("collect", "--start", LAST.isoformat()).code == 0
    assert {a: materializations(a, earlier) for a in DAILY_CHECKS} == shown
    assert before_last() == checks
    assert_each_day_is_the_stores(releaf, FIRST, LAST, feeds=2)

    # A day whose view does change is published again, figures and checks alike.
    r = releaf(
        "feed", "update", feeds[0][0], "--account", "acct-new", "--from", earlier.isoformat()
    )
    assert r.code == 0, r.err
    assert {a: materializations(a, earlier) for a in DAILY_CHECKS} == {
        "meter_readings": shown["meter_readings"],
        "daily_deposits": shown["daily_deposits"] + 1,
    }
    assert_each_day_is_the_stores(releaf, FIRST, LAST, feeds=2)
