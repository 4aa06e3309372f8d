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
from releaf_pipeline.defs.resources import ClockResource, MPSMonitorResource, StoreResource
from releaf_pipeline.lib.store.collection import feed_day_statuses
from releaf_pipeline.lib.store.registry import FeedSpec, add_feeds, add_server
from releaf_pipeline.lib.store.reports import month_report

NOW = "2026-10-12T03:00:00+00:00"


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
    }


def _metadata(result, asset: str) -> dict:
    (mat,) = [m for m in result.asset_materializations_for_node(asset)][:1]
    return {k: v.value for k, v in mat.metadata.items()}


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
    assert bad in meta["feeds_not_collected"] and "server_error" in meta["feeds_not_collected"]
    statuses = {
        (r.feed_id, r.status)
        for r in feed_day_statuses(store.engine(), date(2026, 10, 5), date(2026, 10, 5))
    }
    assert sorted(s for _, s in statuses) == ["collected"] * 3 + ["failed"]
    pages = _metadata(result, "daily_deposits")
    assert pages["pages"] > 0 and "acct-1" not in pages["pages_per_account"]
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
    rows = feed_day_statuses(store.engine(), date(2026, 10, 5), date(2026, 10, 5))
    assert {r.status for r in rows} == {"paused"}
    assert all("health check" in r.reason for r in rows)
    assert month_report(store.engine(), "2026-10") == []


def test_a_partition_range_is_one_run(store, registered):
    from releaf_pipeline.defs.jobs import collection_job

    defs = dg.Definitions(
        assets=[meter_readings, daily_deposits], jobs=[collection_job], resources=_resources(store)
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
