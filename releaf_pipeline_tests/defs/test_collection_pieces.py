"""The night in pieces, one per MPS Monitor server: a piece that fails holds back no other
server's collection or deposits, and a day whose run did not finish is caught up for the
feeds it left only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings
from releaf_pipeline.defs.health.sensors import plan
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO, step_outputs_io_manager
from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.collection import feed_day_statuses
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.tables import COLLECTED, FAILED
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator

DAY = date(2026, 10, 5)
NOW = "2026-10-06T03:00:00+00:00"
REGISTERED = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
def west(tmp_path) -> Iterator[Simulator]:
    """A second MPS Monitor server, with a fleet and token of its own."""
    fleet = Fleet(FleetConfig(seed=11, customers=3, dealer_code="D-2077"))
    at = datetime.fromisoformat(NOW)
    with Simulator(fleet, token="west-token", now=at, workdir=tmp_path / "west") as server:
        yield server


@pytest.fixture
def store(home) -> StoreResource:
    return StoreResource(home=str(home))


def _register(store: StoreResource, name: str, sim: Simulator, cipher: TokenCipher) -> None:
    engine = store.engine()
    add_server(
        engine, cipher, name=name, url=sim.url, token=sim.token,
        ca_bundle_pem=sim.ca_bundle.read_text(), dealer_code=sim.fleet.config.dealer_code,
        now=REGISTERED,
    )  # fmt: skip
    specs = [
        FeedSpec(name, c, f"acct-{name}", date(2026, 9, 1), "all") for c in sim.fleet.customer_codes
    ]
    add_feeds(engine, specs, now=REGISTERED)


def _collect(store: StoreResource, instance: dg.DagsterInstance, **config: object):
    return dg.materialize(
        [meter_readings, daily_deposits],
        partition_key=DAY.isoformat(),
        instance=instance,
        resources={
            "store": store,
            "mpsmonitor": MPSMonitorResource(backoff_base_seconds=0.01, max_attempts=2),
            "clock": ClockResource(frozen_at=NOW),
            "rules": RulesResource(),
            STEP_OUTPUTS_IO: step_outputs_io_manager,
        },
        run_config={"ops": {"meter_readings": {"ops": {"plan_collection": {"config": config}}}}},
        raise_on_error=False,
    )


def _statuses(store: StoreResource) -> dict[str, tuple[str, str | None]]:
    """Each feed's status of DAY (server/code -> (status, reason))."""
    engine = store.engine()
    names = {f.id: f"{f.server_name}/{f.customer_code}" for f in list_feeds(engine)}
    return {
        names[r.feed_id]: (r.status, r.reason)
        for r in feed_day_statuses(engine, DAY, DAY)
        if r.feed_id in names
    }


def _counter_lists(sim: Simulator) -> int:
    return sum(1 for _, path in sim.request_log if path == COUNTER_LIST_PATH)


def test_each_server_is_a_step_and_a_failing_one_holds_back_no_other(store, sim, west):
    sim.set_now(datetime.fromisoformat(NOW))
    _register(store, "east", sim, store.cipher())
    # West's token was sealed with a key the pipeline no longer has: its piece fails.
    _register(store, "west", west, TokenCipher(Fernet.generate_key()))
    result = _collect(store, dg.DagsterInstance.ephemeral())

    assert result.success
    pieces = sorted(
        e.step_key for e in result.all_events if e.is_step_start and "collect_piece" in e.step_key
    )
    assert pieces == [
        "meter_readings.collect_piece[east_s1]",
        "meter_readings.collect_piece[west_s2]",
    ]
    statuses = _statuses(store)
    east = {k: v for k, v in statuses.items() if k.startswith("east/")}
    failed = {k: v for k, v in statuses.items() if k.startswith("west/")}
    assert len(east) == len(sim.fleet.customer_codes)
    assert {s for s, _ in east.values()} == {COLLECTED}
    assert len(failed) == 3 and {s for s, _ in failed.values()} == {FAILED}
    reason = next(iter(failed.values()))[1]
    assert reason.startswith("secret_key: the piece of west failed: ") and "\n" not in reason
    assert _counter_lists(west) == 0
    # The day is published and its deposits computed with what east gave.
    assert result.asset_materializations_for_node("daily_deposits")
    summary = result.dagster_run.tags
    assert summary["releaf/run.feeds_failed"] == "3"
    assert summary["releaf/run.feeds_collected"] == str(len(east))


def test_a_day_whose_run_did_not_finish_is_caught_up_for_the_feeds_it_left(store, sim, west):
    sim.set_now(datetime.fromisoformat(NOW))
    _register(store, "east", sim, store.cipher())
    _register(store, "west", west, store.cipher())
    # A run that collected east and then stopped: its day has no materialization.
    first = _collect(store, dg.DagsterInstance.ephemeral(), server="east",
                     feeds=list(sim.fleet.customer_codes))  # fmt: skip
    assert first.success
    east_requests = _counter_lists(sim)
    assert east_requests == len(sim.fleet.customer_codes) and _counter_lists(west) == 0

    instance = dg.DagsterInstance.ephemeral()
    requests = plan(instance, store, date(2026, 10, 8), RulesResource()).requests
    missing = [r for r in requests if r.reason == "missing" and r.start <= DAY <= r.end]
    assert len(missing) == 1 and missing[0].missing_only and missing[0].feed_ids == ()

    again = _collect(store, instance, missing_only=True)
    assert again.success
    # East's feeds are not asked again; west's are, once each.
    assert _counter_lists(sim) == east_requests
    assert _counter_lists(west) == 3
    assert {s for s, _ in _statuses(store).values()} == {COLLECTED}
    assert DAY.isoformat() in instance.get_materialized_partitions(dg.AssetKey("meter_readings"))
