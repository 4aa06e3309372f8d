"""The real dagster-daemon on a temporary DAGSTER_HOME (SQLite), with the repository's
queued instance: it starts the runs commands submit, one at a time when the queue says
so, heals a missing day, and fails a run whose worker died with it, then catches up its
days with no one acting."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.alert_receivers import WebhookReceiver
from releaf_pipeline_tests.e2e.runs import (
    TODAY,
    collecting,
    command_run,
    daemon,
    daemon_log,
    instance_file,
    register,
    spawn_collect,
    status,
    until,
)
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.long]

WAIT_SECONDS = 240
SLOW = 3.0
"""Seconds the simulator takes per request while a run must stay in its collection step
(meanwhile another command starts)."""
ACTIVATION = "2026-10-12"
LAST_CAUGHT_UP = date(2026, 10, 14)
QUEUED = dg.DagsterRunStatus.QUEUED
QUICK_MONITORING = ("poll_interval_seconds: 60", "poll_interval_seconds: 2")


@pytest.fixture
def small_sim(tmp_path: Path) -> Iterator[Simulator]:
    """Two customers of three devices, at the pipeline's date."""
    fleet = Fleet(FleetConfig(customers=2, devices_per_customer=3))
    with Simulator(fleet, today=TODAY, workdir=tmp_path / "sim") as server:
        yield server


def _events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list:
    return instance.get_records_for_run(run_id, of_type=kind).records


def test_daemon_launches_the_catchup_run_for_a_missing_day(home, sim, releaf, monkeypatch):
    now = "2026-10-10T03:00:00+00:00"
    sim.set_today(date(2026, 10, 10))
    monkeypatch.setenv("RELEAF_NOW", now)
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    assert (
        releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle)).code
        == 0
    )
    code = sim.fleet.customer_codes[0]
    r = releaf("feed", "add", "--server", "east", "--customer-code", code, "--account", "a",
               "--activation-date", "2026-10-01", "--scope", "all")  # fmt: skip
    assert r.code == 0, r.err
    # 2026-10-05 is never collected as a partition: the daemon must notice.
    assert releaf("collect", "--start", "2026-10-01", "--end", "2026-10-04").code == 0
    assert releaf("collect", "--start", "2026-10-06", "--end", "2026-10-08").code == 0
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")

    instance_file(home)
    env = {"RELEAF_NOW": now, "RELEAF_CATCHUP_SECONDS": "5", "RELEAF_HEALTH_CHECK_SECONDS": "5"}
    with daemon(home, **env) as proc, dg.DagsterInstance.get() as instance:

        def caught_up() -> dg.DagsterRun | None:
            assert proc.poll() is None, daemon_log(home)
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"releaf/catchup": "missing"}))
            return runs[0] if runs and runs[0].is_finished else None

        run = until("a catch-up run ends", caught_up, WAIT_SECONDS)
        assert isinstance(run, dg.DagsterRun)
        assert run.status == dg.DagsterRunStatus.SUCCESS, daemon_log(home)
        assert run.tags["dagster/asset_partition_range_start"] == "2026-10-05"
        assert run.tags["dagster/asset_partition_range_end"] == "2026-10-05"
        assert run.tags.get("dagster/sensor_name") == "catchup_sensor"
        assert "2026-10-05" in instance.get_materialized_partitions(dg.AssetKey("meter_readings"))


def test_a_command_s_run_is_queued_and_a_second_waits_its_turn(
    home, small_sim, releaf, monkeypatch
):
    register(releaf, small_sim, monkeypatch, activation=ACTIVATION)
    instance_file(home, runs=("max_concurrent_runs: 4", "max_concurrent_runs: 1"))
    small_sim.latency = SLOW
    with dg.DagsterInstance.get() as instance:
        first = spawn_collect(ACTIVATION, "2026-10-15")
        # Queued, it waits for a daemon (whose catch-up then leaves its days to it).
        until("the command's run is queued", lambda: command_run(instance, first, QUEUED))
        with daemon(home):
            first_run = until(
                "the first command's run is in its collection step",
                lambda: collecting(instance, first),
                WAIT_SECONDS,
            )
            second = spawn_collect("2026-10-14", "2026-10-15")

            def queued_behind() -> str | None:
                found = command_run(instance, second, QUEUED)
                return found if found != first_run else None

            second_run = until("the second command's run is queued", queued_behind)
            assert status(instance, first_run) == dg.DagsterRunStatus.STARTED
            small_sim.latency = 0.0
            outcomes = [(p, r, *p.communicate(timeout=WAIT_SECONDS))
                        for p, r in ((first, first_run), (second, second_run))]  # fmt: skip
        for proc, run_id, out, err in outcomes:
            assert proc.returncode == 0, (err, daemon_log(home))
            assert run_id in out
            assert status(instance, run_id) == dg.DagsterRunStatus.SUCCESS
            # Enqueued by the command, then dequeued by the daemon: Dagster 1.13 records the
            # dequeue as the run's STARTING event (it never writes RUN_DEQUEUED).
            (enqueued,) = _events(instance, run_id, dg.DagsterEventType.RUN_ENQUEUED)
            (dequeued,) = _events(instance, run_id, dg.DagsterEventType.RUN_STARTING)
            assert enqueued.storage_id < dequeued.storage_id
        # The second was dequeued only once the first had ended.
        (ended,) = _events(instance, first_run, dg.DagsterEventType.RUN_SUCCESS)
        (dequeued,) = _events(instance, second_run, dg.DagsterEventType.RUN_STARTING)
        assert dequeued.timestamp >= ended.timestamp


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    """A local HTTPS webhook for the daemon's alerts."""
    with WebhookReceiver() as receiver:
        yield receiver


def test_a_run_whose_daemon_was_killed_is_failed_and_its_days_caught_up(
    home, small_sim, releaf, monkeypatch, hook
):
    register(releaf, small_sim, monkeypatch, activation=ACTIVATION)
    instance_file(home, monitoring=QUICK_MONITORING)
    # The daemon's alert sensors tell a webhook (tick every 2 s).
    alerting = {
        "RELEAF_ALERT_WEBHOOK_URL": hook.url,
        "RELEAF_ALERT_WEBHOOK_CA_BUNDLE": str(hook.ca_bundle),
        "RELEAF_ALERT_SECONDS": "2",
    }
    # The runs' time limit: 20 s, and 0.2 s a feed.
    monkeypatch.setenv("RELEAF_RUN_MAX_SECONDS", "20")
    small_sim.latency = SLOW
    with dg.DagsterInstance.get() as instance:
        # Up to the day before yesterday: yesterday is the nightly schedule's to collect.
        command = spawn_collect(ACTIVATION, LAST_CAUGHT_UP.isoformat())
        until("the command's run is queued", lambda: command_run(instance, command, QUEUED))
        with daemon(home, **alerting) as first:
            lost = until(
                "the run is in its collection step",
                lambda: collecting(instance, command),
                WAIT_SECONDS,
            )
            # What a systemd or container restart does: the daemon's whole process tree.
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        small_sim.latency = 0.0
        assert status(instance, lost) == dg.DagsterRunStatus.STARTED

        env = {"RELEAF_CATCHUP_SECONDS": "3", "RELEAF_HEALTH_CHECK_SECONDS": "3600", **alerting}
        with daemon(home, **env) as second:
            # The command waiting for the lost run is told it failed.
            _out, err = command.communicate(timeout=WAIT_SECONDS)
            assert command.returncode == 1, err
            assert status(instance, lost) == dg.DagsterRunStatus.FAILURE
            assert lost in err and "maximum runtime" in err, err

            feeds = [(c, "acct", date.fromisoformat(ACTIVATION), "all")
                     for c in small_sim.fleet.customer_codes]  # fmt: skip
            truth = expected_account_days(small_sim.fleet, feeds, LAST_CAUGHT_UP, as_of=TODAY)
            want = [(a["account"], a["days"]) for a in month_view(truth, "2026-10")["accounts"]]

            def collected() -> bool:
                assert second.poll() is None, daemon_log(home)
                got = releaf("report", "--month", "2026-10", "--json").json()
                return [(a["account"], a["days"]) for a in got["accounts"]] == want

            until("the catch-up collects the lost run's days", collected, WAIT_SECONDS)
            catchups = instance.get_runs(filters=dg.RunsFilter(tags={"releaf/trigger": "catchup"}))
            assert catchups and all(
                r.status == dg.DagsterRunStatus.SUCCESS for r in catchups if r.is_finished
            )

            # The daemon's run_failure_alerts sensor told the webhook of the lost run, once.
            def told() -> list[dict]:
                return [p["event"] for p in hook.delivered if p["event"]["kind"] == "run_failed"]

            (event,) = until("the lost run is told of", told, WAIT_SECONDS)
            assert event["run_id"] == lost and "maximum runtime" in event["error"], event
