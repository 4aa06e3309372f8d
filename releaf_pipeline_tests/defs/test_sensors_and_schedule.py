"""The schedule and sensors with injected times: no sleeps, no wall clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from releaf_pipeline.defs.health.sensors import catchup_sensor
from releaf_pipeline.defs.health.server_health import fleet_health
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.defs.schedules import nightly_schedule
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO, step_outputs_io_manager
from releaf_pipeline.lib.store.collection import record_status
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_servers
from releaf_pipeline.lib.store.tables import servers


def test_nightly_schedule_targets_yesterday_with_a_time_limit_sized_from_its_feeds(store):
    at = datetime(2026, 10, 6, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=at, resources={"store": store, "rules": RulesResource()}
    ) as ctx:
        req = nightly_schedule(ctx)
    assert req.partition_key == "2026-10-05" and req.run_key == "nightly:2026-10-05"
    assert req.tags["releaf/trigger"] == "nightly"
    feeds = len(store_feeds(store))
    assert feeds > 0
    assert req.tags["dagster/max_runtime"] == str(int(600 + 0.2 * feeds))


@pytest.fixture
def store(home, sim) -> StoreResource:
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
    return store


def store_feeds(store: StoreResource) -> list:
    from releaf_pipeline.lib.store.registry import list_feeds

    return list_feeds(store.engine())


def _collection_config(request: dg.RunRequest) -> dict:
    """The config a collection run request gives the step that plans its pieces."""
    ops = request.run_config["ops"]["meter_readings"]["ops"]
    return ops["plan_collection"]["config"]


def _resources(store, when: str):
    return {
        "store": store,
        "mpsmonitor": MPSMonitorResource(backoff_base_seconds=0.01),
        "clock": ClockResource(frozen_at=when),
        "rules": RulesResource(),
        STEP_OUTPUTS_IO: step_outputs_io_manager,
    }


def _fleet_tables(instance) -> tuple[dict, list[dict], list[dict]]:
    event = instance.get_latest_materialization_event(dg.AssetKey("fleet_health"))
    meta = event.asset_materialization.metadata
    counts = {k: v.value for k, v in meta.items() if not isinstance(v, dg.TableMetadataValue)}
    servers = [dict(r.data) for r in meta["servers"].records]
    feeds = [dict(r.data) for r in meta["feeds_in_trouble"].records]
    return counts, servers, feeds


def _health_check(instance, store, when: str) -> dict[str, dg.AssetCheckEvaluation]:
    """The server_health job's one asset, materialized at `when`; its checks' results."""
    result = dg.materialize([fleet_health], instance=instance, resources=_resources(store, when))
    assert result.success
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_the_health_check_marks_outage_and_recovery_and_its_check_turns_red(store, sim):
    instance = dg.DagsterInstance.ephemeral()
    sim.set_outage(True)
    checks = _health_check(instance, store, "2026-10-06T10:00:00Z")
    (server,) = list_servers(store.engine())
    assert server.healthy is False
    assert server.health_since == datetime(2026, 10, 6, 10, tzinfo=UTC)
    red = checks["servers_healthy"]
    assert not red.passed and red.severity == dg.AssetCheckSeverity.ERROR
    assert red.description.startswith("1 server(s) unhealthy: east (")
    # The UI's fleet health says it, with what happens next.
    counts, servers, feeds = _fleet_tables(instance)
    assert counts["servers_unhealthy"] == 1 and counts["feeds_paused"] == len(feeds) > 0
    assert servers[0]["state"] == "unhealthy" and servers[0]["since"].startswith("2026-10-06 10:00")
    assert "paused" in servers[0]["next"]
    assert {f["state"] for f in feeds} == {"paused"}
    assert all("once east answers its health check" in f["next"] for f in feeds)

    sim.set_outage(False)
    checks = _health_check(instance, store, "2026-10-06T10:05:00Z")
    assert checks["servers_healthy"].passed
    (server,) = list_servers(store.engine())
    assert server.healthy and server.health_since == datetime(2026, 10, 6, 10, 5, tzinfo=UTC)
    counts, servers, feeds = _fleet_tables(instance)
    assert counts["servers_unhealthy"] == 0 and servers[0]["state"] == "healthy"
    assert all(f["state"] != "paused" for f in feeds)


def test_catchup_sensor_says_what_it_waits_for(store):
    instance = dg.DagsterInstance.ephemeral()
    for day in [f"2026-10-{d:02}" for d in range(1, 8)]:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(dg.AssetKey("meter_readings"), partition=day)
        )
    engine = store.engine()
    with engine.begin() as conn:
        conn.execute(servers.update().values(healthy=False, health_reason="unreachable"))
    record_status(engine, feed_id=2, first=date(2026, 10, 6), last=date(2026, 10, 7),
                  status="paused", reason="server down", run_id=None,
                  now=datetime(2026, 10, 8, tzinfo=UTC))  # fmt: skip
    with dg.build_sensor_context(
        instance=instance, resources=_resources(store, "2026-10-09T03:00:00Z")
    ) as ctx:
        result = catchup_sensor(ctx)
    assert not result.run_requests
    assert result.skip_reason.skip_message == (
        "2 feed-day(s) (2026-10-06..2026-10-07) wait for east to pass its health check"
    )


def test_catchup_sensor_requests_ranged_runs_only_for_what_needs_it(store):
    instance = dg.DagsterInstance.ephemeral()
    for day in ("2026-10-01", "2026-10-02", "2026-10-06", "2026-10-07"):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(dg.AssetKey("meter_readings"), partition=day)
        )
    engine = store.engine()
    record_status(engine, feed_id=2, first=date(2026, 10, 6), last=date(2026, 10, 7),
                  status="paused", reason="server down", run_id=None,
                  now=datetime(2026, 10, 8, tzinfo=UTC))  # fmt: skip
    with dg.build_sensor_context(
        instance=instance, resources=_resources(store, "2026-10-09T03:00:00Z")
    ) as ctx:
        result = catchup_sensor(ctx)
    got = sorted(
        (
            r.tags["releaf/catchup"],
            r.tags["dagster/asset_partition_range_start"],
            r.tags["dagster/asset_partition_range_end"],
            tuple(_collection_config(r)["feed_ids"]),
            _collection_config(r)["missing_only"],
        )
        for r in result.run_requests
    )
    # Missing days collect only the feeds not collected yet; paused ones name theirs.
    assert got == [
        ("missing", "2026-10-03", "2026-10-05", (), True),
        ("paused", "2026-10-06", "2026-10-07", (2,), False),
    ]
    assert all(r.run_key for r in result.run_requests)


def test_days_paused_twice_in_one_day_are_caught_up_twice(store):
    instance = dg.DagsterInstance.ephemeral()
    for day in [f"2026-10-{d:02}" for d in range(1, 8)]:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(dg.AssetKey("meter_readings"), partition=day)
        )
    engine = store.engine()

    def pause_and_ask(run_id: str, at: str) -> list[str]:
        record_status(engine, feed_id=2, first=date(2026, 10, 6), last=date(2026, 10, 7),
                      status="paused", reason="server down", run_id=run_id,
                      now=datetime(2026, 10, 9, tzinfo=UTC))  # fmt: skip
        with dg.build_sensor_context(instance=instance, resources=_resources(store, at)) as ctx:
            return [r.run_key for r in catchup_sensor(ctx).run_requests]

    (first,) = pause_and_ask("outage-run-1", "2026-10-09T03:00:00Z")
    assert pause_and_ask("outage-run-1", "2026-10-09T03:02:00Z") == [first]
    # Caught up, then paused again by a later run the same day: a new key, so the daemon
    # launches it instead of skipping it as already done.
    (second,) = pause_and_ask("outage-run-2", "2026-10-09T11:00:00Z")
    assert second != first and second.startswith("catchup:paused:2026-10-09:2026-10-06:")
