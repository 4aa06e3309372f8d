"""The catch-up waits only for collection runs that can still end: not for a run whose
launch failed and that stays NOT_STARTED (what a UI launch left after a Postgres restart),
and it names the run it waits for."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import dagster as dg
import pytest

from releaf_pipeline import run_watch
from releaf_pipeline.definitions import defs
from releaf_pipeline.defs.health.sensors import busy_days, catchup_sensor
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.lib.store.collection import record_status
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server

FIRST, LAST = date(2026, 10, 6), date(2026, 10, 7)


@pytest.fixture
def store(home, sim) -> StoreResource:
    """East, healthy, with a feed per customer; feed 2 paused on FIRST..LAST."""
    store = StoreResource(home=str(home))
    now = datetime(2026, 9, 1, tzinfo=UTC)
    add_server(
        store.engine(), store.cipher(), name="east", url=sim.url, token=sim.token,
        ca_bundle_pem=sim.ca_bundle.read_text(), dealer_code="D-1042", now=now,
    )  # fmt: skip
    add_feeds(
        store.engine(),
        [FeedSpec("east", c, "a", date(2026, 10, 1), "all") for c in sim.fleet.customer_codes],
        now=now,
    )
    record_status(store.engine(), feed_id=2, first=FIRST, last=LAST, status="paused",
                  reason="server down", run_id=None,
                  now=datetime(2026, 10, 8, tzinfo=UTC))  # fmt: skip
    return store


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """Days 1 to 7 materialized, and a collection run of FIRST..LAST created but never
    launched (left NOT_STARTED)."""
    instance = dg.DagsterInstance.ephemeral()
    for d in range(1, 8):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(dg.AssetKey("meter_readings"), partition=f"2026-10-{d:02}")
        )
    run = instance.create_run_for_job(
        defs.resolve_job_def("collection"),
        tags={
            "dagster/asset_partition_range_start": FIRST.isoformat(),
            "dagster/asset_partition_range_end": LAST.isoformat(),
        },
    )
    assert run.status == dg.DagsterRunStatus.NOT_STARTED
    return instance


def _catchup(instance: dg.DagsterInstance, store: StoreResource) -> dg.SensorResult:
    resources = {
        "store": store,
        "mpsmonitor": MPSMonitorResource(backoff_base_seconds=0.01),
        "clock": ClockResource(frozen_at="2026-10-09T03:00:00Z"),
        "rules": RulesResource(),
    }
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        return catchup_sensor(ctx)


def test_a_run_never_launched_is_busy_only_while_it_may_still_be(instance):
    (run,) = instance.get_runs()
    # Just created: its launch may be under way.
    assert busy_days(instance) == {FIRST: run.run_id, LAST: run.run_id}
    later = time.time() + run_watch.NOT_STARTED_GRACE_SECONDS + 1
    assert busy_days(instance, now=later) == {}


def test_the_catchup_collects_the_days_of_a_run_whose_launch_failed(instance, store, monkeypatch):
    (run,) = instance.get_runs()
    result = _catchup(instance, store)
    assert not result.run_requests
    assert run.run_id in result.skip_reason.skip_message

    # The same run, once older than a launch takes.
    monkeypatch.setattr(run_watch, "NOT_STARTED_GRACE_SECONDS", 0)
    (request,) = _catchup(instance, store).run_requests
    assert request.tags["releaf/catchup"] == "paused"
    assert request.tags["dagster/asset_partition_range_start"] == FIRST.isoformat()
    assert request.tags["dagster/asset_partition_range_end"] == LAST.isoformat()
