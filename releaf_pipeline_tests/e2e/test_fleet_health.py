"""`fleet_health` turns red and green with the fleet, over HTTPS against the simulator: a
stale feed warns until an operator pauses it, a server that stops answering fails its
check on the night's health run, and the next night's passes once it answers again."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from releaf_pipeline.definitions import defs
from releaf_pipeline.launch import Launcher, clock_config
from releaf_pipeline.replay import night_time
from releaf_pipeline_tests.e2e.nights import register_feeds

pytestmark = pytest.mark.e2e

FLEET_HEALTH = dg.AssetKey("fleet_health")
ACTIVATION = date(2026, 9, 25)


def latest_check(name: str) -> dg.AssetCheckEvaluation:
    """The check's latest result; it must be the latest materialization's (as the UI
    pairs them: of the same run), or the UI would show it as not evaluated."""
    with dg.DagsterInstance.get() as instance:
        record = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(FLEET_HEALTH, name)
        )
        materialized = instance.get_latest_materialization_event(FLEET_HEALTH)
    assert record is not None and materialized is not None
    assert record.run_id == materialized.run_id, "the check's result is of an older one"
    return record.evaluation


def day_check(day: str) -> dg.AssetCheckEvaluation:
    """The latest result of `meter_readings:feeds_collected` on `day`."""
    key = dg.AssetCheckKey(dg.AssetKey("meter_readings"), "feeds_collected")
    with dg.DagsterInstance.get() as instance:
        for record in instance.event_log_storage.get_asset_check_execution_history(key, 1000):
            if record.event is not None:
                evaluation = record.event.dagster_event.event_specific_data
                if evaluation.partition == day:
                    return evaluation
    raise AssertionError(f"no result of feeds_collected on {day}")


def fleet_counts() -> dict[str, object]:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(FLEET_HEALTH)
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def at_night_after(day: date, sim, monkeypatch) -> None:
    moment = night_time(day)
    sim.set_now(moment)
    monkeypatch.setenv("RELEAF_NOW", moment.isoformat())


def test_fleet_health_checks_turn_red_and_green_with_the_fleet(home, sim, fleet, releaf,
                                                               monkeypatch):  # fmt: skip
    stale, _resetting, _adding, plain = fleet.customer_codes
    feeds = [(stale, "acct-a", ACTIVATION, "all"), (plain, "acct-c", ACTIVATION, "all")]
    at_night_after(date(2026, 10, 1), sim, monkeypatch)
    register_feeds(releaf, sim, feeds, monkeypatch)
    assert latest_check("servers_healthy").passed  # checked by `server add`

    # The stale customer's DCA is offline from Sep 28: a collection finds it stale.
    r = releaf("collect", "--start", ACTIVATION.isoformat(), "--end", "2026-10-01")
    assert r.code == 0, r.err
    warn = latest_check("feeds_healthy")
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert f"{stale} on east (stale: " in warn.description and plain not in warn.description

    # Paused by an operator, it is no longer a warning: at once, with no run.
    assert releaf("feed", "pause", stale).code == 0
    assert latest_check("feeds_healthy").passed
    assert fleet_counts()["feeds_paused_by_operator"] == 1

    # The server stops answering: the night's health run fails the check, naming it.
    at_night_after(date(2026, 10, 2), sim, monkeypatch)
    sim.set_outage(True)
    r = releaf("nightly", "--date", "2026-10-02")
    assert r.code == 1 and "1 server(s) checked; east: " in r.out, (r.out, r.err)
    red = latest_check("servers_healthy")
    assert not red.passed and red.severity == dg.AssetCheckSeverity.ERROR
    assert red.description.startswith("1 server(s) unhealthy: east (")
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="server_health"))
    assert run.status == dg.DagsterRunStatus.SUCCESS

    # The day the server was down waits for it to pass its health check.
    assert "once east passes its health check" in day_check("2026-10-02").description

    # It answers again: the schedule's next health run says at once that the catch-up
    # takes the day, before any collection.
    sim.set_outage(False)
    with dg.DagsterInstance.get() as instance, Launcher(instance) as launcher:
        health_run = launcher.execute(
            defs, "server_health",
            run_config=dg.RunConfig(resources=clock_config(night_time(date(2026, 10, 2)))),
        )  # fmt: skip
    assert health_run.success, health_run.failure
    assert latest_check("servers_healthy").passed
    waiting = day_check("2026-10-02")
    assert not waiting.passed and "by the catch-up sensor on its next tick" in waiting.description

    # The next night's health run passes, and the paused day is collected by the catch-up.
    at_night_after(date(2026, 10, 3), sim, monkeypatch)
    r = releaf("nightly", "--date", "2026-10-03")
    assert r.code == 0 and "1 server(s) checked; all healthy" in r.out, (r.out, r.err)
    assert latest_check("servers_healthy").passed
    assert latest_check("feeds_healthy").passed
