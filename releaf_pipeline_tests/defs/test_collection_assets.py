"""The collection assets through Dagster, on an ephemeral instance, against the simulator."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings
from releaf_pipeline.defs.health.freshness import deposits_freshness_checks
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO, step_outputs_io_manager
from releaf_pipeline.lib.store.collection import feed_day_statuses
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server
from releaf_pipeline.lib.store.reports import month_report

NOW = "2026-10-12T03:00:00+00:00"
# The collection job leaves the freshness check to its sensor, so it must be defined.
FRESHNESS = list(deposits_freshness_checks)


@pytest.fixture
def store(home) -> StoreResource:
    return StoreResource(home=str(home))


@pytest.fixture
def registered(store, sim):
    sim.set_today(date(2026, 10, 12))
    engine = store.engine()
    now = datetime(2026, 9, 1, tzinfo=UTC)
    add_server(
        engine, store.cipher(), name="east", url=sim.url, token=sim.token,
        ca_bundle_pem=sim.ca_bundle.read_text(), dealer_code="D-1042", now=now,
    )  # fmt: skip
    specs = [
        FeedSpec("east", code, f"acct-{i}", date(2026, 9, 1), "all")
        for i, code in enumerate(sim.fleet.customer_codes)
    ]
    add_feeds(engine, specs, now=now)
    return sim


def _resources(store):
    return {
        "store": store,
        "mpsmonitor": MPSMonitorResource(backoff_base_seconds=0.01, max_attempts=2),
        "clock": ClockResource(frozen_at=NOW),
        "rules": RulesResource(),
        STEP_OUTPUTS_IO: step_outputs_io_manager,
    }


def _value(v):
    if isinstance(v, dg.TableMetadataValue):
        return [dict(r.data) for r in v.records]
    return v.value


def _metadata(result, asset: str) -> dict:
    (mat,) = [m for m in result.asset_materializations_for_node(asset)][:1]
    return {k: _value(v) for k, v in mat.metadata.items()}


def test_one_failing_feed_does_not_stop_the_others(store, registered):
    bad = registered.fleet.customer_codes[1]
    registered.inject("status", path="/api3/Counter/List", customer=bad, times=2, status=500)
    result = dg.materialize(
        [meter_readings, daily_deposits],
        partition_key="2026-10-05",
        resources=_resources(store),
    )
    assert result.success
    meta = _metadata(result, "meter_readings")
    assert meta["feeds_collected"] == 3 and meta["feeds_failed"] == 1
    (row,) = meta["feeds_not_collected"]
    assert row["customer"] == bad and row["status"] == "failed"
    assert row["reason"].startswith("server_error")
    assert row["next"] == "retried by the catch-up sensor on its next tick"
    statuses = {
        (r.feed_id, r.status)
        for r in feed_day_statuses(store.engine(), date(2026, 10, 5), date(2026, 10, 5))
    }
    assert sorted(s for _, s in statuses) == ["collected"] * 3 + ["failed"]
    pages = _metadata(result, "daily_deposits")
    assert pages["pages"] > 0 and "pages: acct-1" not in pages
    assert "acct-1" not in {r["account"] for r in pages["pages_per_account"]}
    assert pages["pages"] == sum(r["pages"] for r in pages["pages_per_account"])
    # A later run recovers the failed feed-day.
    again = dg.materialize(
        [meter_readings, daily_deposits], partition_key="2026-10-05", resources=_resources(store)
    )
    assert _metadata(again, "meter_readings")["feeds_failed"] == 0
    assert {
        r.status for r in feed_day_statuses(store.engine(), date(2026, 10, 5), date(2026, 10, 5))
    } == {"collected"}


def test_server_outage_pauses_feeds_never_zero(store, registered):
    registered.set_outage(True)
    result = dg.materialize(
        [meter_readings, daily_deposits], partition_key="2026-10-05", resources=_resources(store)
    )
    meta = _metadata(result, "meter_readings")
    assert meta["feeds_paused"] == 4 and meta["feeds_collected"] == 0
    assert {r["next"] for r in meta["feeds_not_collected"]} == {
        "re-collected by the catch-up sensor once east passes its health check"
    }
    rows = feed_day_statuses(store.engine(), date(2026, 10, 5), date(2026, 10, 5))
    assert {r.status for r in rows} == {"paused"}
    assert all("health check" in r.reason for r in rows)
    assert month_report(store.engine(), "2026-10") == []


def test_a_partition_range_is_one_run(store, registered):
    from releaf_pipeline.defs.jobs import collection_job

    defs = dg.Definitions(
        assets=[meter_readings, daily_deposits],
        asset_checks=FRESHNESS,
        jobs=[collection_job],
        resources=_resources(store),
    )
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("collection").execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2026-09-01",
            ASSET_PARTITION_RANGE_END_TAG: "2026-09-30",
        },
    )
    assert result.success
    assert len(instance.get_runs()) == 1
    for key in ("meter_readings", "daily_deposits"):
        done = instance.get_materialized_partitions(dg.AssetKey(key))
        assert len(done) == 30 and "2026-09-15" in done
    assert {a.account for a in month_report(store.engine(), "2026-09")} == {
        "acct-0", "acct-1", "acct-2", "acct-3"
    }  # fmt: skip


def test_each_day_of_a_ranged_run_carries_its_own_numbers(store, registered):
    from releaf_pipeline.defs.jobs import collection_job

    registered.inject("status", path="/api3/Counter/List", times=1, status=503)
    defs = dg.Definitions(
        assets=[meter_readings, daily_deposits],
        asset_checks=FRESHNESS,
        jobs=[collection_job],
        resources=_resources(store),
    )
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("collection").execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2026-09-01",
            ASSET_PARTITION_RANGE_END_TAG: "2026-09-30",
        },
    )
    assert result.success
    per_account = {
        (a.account, d): p
        for a in month_report(store.engine(), "2026-09")
        for d, p in a.days.items()
    }
    totals: dict[date, int] = {}
    for (_, d), p in per_account.items():
        totals[d] = totals.get(d, 0) + p
    deposits = {
        m.partition: {k: _value(v) for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("daily_deposits")
    }
    assert len(deposits) == 30, "one materialization per day, not one per run"
    for key, meta in deposits.items():
        day = date.fromisoformat(key)
        assert meta["pages"] == totals.get(day, 0)
        for account in ("acct-0", "acct-1", "acct-2", "acct-3"):
            assert meta[f"pages: {account}"] == per_account.get((account, day), 0)
    assert len({meta["pages"] for meta in deposits.values()}) > 10, "a varying daily series"

    readings = {
        m.partition: {k: _value(v) for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("meter_readings")
    }
    assert len(readings) == 30
    assert all(
        m["feeds_collected"] == 4 and m["feeds_not_collected"] == [] for m in readings.values()
    )
    assert "requests" not in readings["2026-09-15"], "run-wide figures stay with the run"
    tags = instance.get_run_by_id(result.run_id).tags
    # The 503 was retried once: the run's tags count it, as its log does.
    assert tags["releaf/run.retries"] == "1"
    assert int(tags["releaf/run.requests"]) >= 5
    assert tags["releaf/run.feeds_collected"] == "4"


def test_checks_judge_each_day_of_a_ranged_run(store, registered):
    from releaf_pipeline.defs.collection.checks import deposits_reconcile, meter_anomalies
    from releaf_pipeline.defs.health.checks import feeds_collected, feeds_fresh
    from releaf_pipeline.defs.jobs import collection_job

    defs = dg.Definitions(
        assets=[meter_readings, daily_deposits],
        asset_checks=[
            feeds_fresh,
            feeds_collected,
            deposits_reconcile,
            meter_anomalies,
            *FRESHNESS,
        ],
        jobs=[collection_job],
        resources=_resources(store),
    )
    job = defs.resolve_job_def("collection")
    instance = dg.DagsterInstance.ephemeral()
    ranged = job.execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2026-09-01",
            ASSET_PARTITION_RANGE_END_TAG: "2026-09-05",
        },
    )
    assert ranged.success
    found = {(e.check_name, e.partition): e for e in ranged.get_asset_check_evaluations()}
    days = [f"2026-09-0{d}" for d in range(1, 6)]
    for check in ("feeds_fresh", "feeds_collected", "deposits_reconcile", "meter_anomalies"):
        assert {p for c, p in found if c == check} == set(days), check
    assert all(found[("feeds_collected", d)].passed for d in days)
    assert all(found[("deposits_reconcile", d)].passed for d in days)

    registered.set_outage(True)

    def feeds_collected_on(day: str):
        run = job.execute_in_process(instance=instance, partition_key=day)
        assert run.success
        # The run also shows again the days it rewrote or that fell past the look-back.
        (evaluation,) = [
            e
            for e in run.get_asset_check_evaluations()
            if e.check_name == "feeds_collected" and e.partition == day
        ]
        assert not evaluation.passed
        rows = [r.data for r in evaluation.metadata["feeds_not_collected"].records]
        assert {r["customer"] for r in rows} == set(registered.fleet.customer_codes)
        assert all(r["status"] == "paused" for r in rows)
        assert f"4 feed(s) not collected on {day}" in evaluation.description
        return evaluation, rows

    # Within the look-back the catch-up will retry: a warning, saying what it waits for.
    evaluation, rows = feeds_collected_on("2026-10-05")
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert {r["next"] for r in rows} == {
        "re-collected by the catch-up sensor once east passes its health check"
    }
    # Past it (the clock says 2026-10-12; 35 days back), a person must act: an error.
    evaluation, rows = feeds_collected_on("2026-09-06")
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert all(r["next"].startswith("past the 35-day catch-up look-back") for r in rows)


def test_days_the_server_has_not_lived_are_not_collected(store, registered):
    from releaf_pipeline.lib.store.registry import list_feeds

    # The pipeline's clock says 2026-10-12 03:00; the server's says 2026-10-09 20:00.
    registered.set_now(datetime(2026, 10, 9, 20, tzinfo=UTC))
    result = dg.materialize(
        [meter_readings, daily_deposits],
        partition_key="2026-10-10",
        resources=_resources(store),
    )
    assert result.success
    rows = feed_day_statuses(store.engine(), date(2026, 10, 10), date(2026, 10, 10))
    assert {r.status for r in rows} == {"paused"} and len(rows) == 4
    assert all("not over on east yet" in r.reason for r in rows)
    assert all(f.synced_through is None or f.synced_through <= date(2026, 10, 8)
               for f in list_feeds(store.engine()))  # fmt: skip
    assert all(
        d < date(2026, 10, 9) for a in month_report(store.engine(), "2026-10") for d in a.days
    )

    # A range across the server's day: the days it lived are collected, the rest wait.
    from releaf_pipeline.defs.jobs import collection_job

    defs = dg.Definitions(
        assets=[meter_readings, daily_deposits],
        asset_checks=FRESHNESS,
        jobs=[collection_job],
        resources=_resources(store),
    )
    ranged = defs.resolve_job_def("collection").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2026-10-05",
            ASSET_PARTITION_RANGE_END_TAG: "2026-10-10",
        },
    )
    assert ranged.success
    statuses = {
        (r.day, r.status) for r in feed_day_statuses(store.engine(), date(2026, 10, 5),
                                                      date(2026, 10, 10))
    }  # fmt: skip
    assert statuses == {(date(2026, 10, d), "collected") for d in range(5, 9)} | {
        (date(2026, 10, 9), "paused"), (date(2026, 10, 10), "paused")
    }  # fmt: skip
    assert all(f.synced_through == date(2026, 10, 8) for f in list_feeds(store.engine()))


def test_a_truncated_store_is_refused_not_started_over(store, registered, home):
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize(
        [meter_readings], partition_key="2026-10-05", resources=_resources(store),
        instance=instance,
    )  # fmt: skip
    assert first.success
    store.engine().dispose()
    (home / "releaf.db").write_bytes(b"")
    for leftover in home.glob("releaf.db-*"):
        leftover.unlink()
    again = dg.materialize(
        [meter_readings], partition_key="2026-10-06",
        resources={**_resources(store), "store": StoreResource(home=str(home) + "/")},
        instance=instance, raise_on_error=False,
    )  # fmt: skip
    assert not again.success
    (failure,) = again.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert (
        message.startswith(f"the store {home / 'releaf.db'} has no schema") and "\n" not in message
    )
    assert "has no schema, but this Dagster instance has runs" in message
    import sqlite3

    with sqlite3.connect(home / "releaf.db") as conn:
        tables = conn.execute("select name from sqlite_master").fetchall()
    assert tables == [], "no new schema in its place"
