"""The catch-up sensor."""

import time
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD
from releaf_pipeline.defs.jobs import collection_job
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.partitions import PARTITIONS_START
from releaf_pipeline.defs.resources import ClockResource, RulesResource, StoreResource
from releaf_pipeline.launch import CollectionRequest, requested_days
from releaf_pipeline.lib.catchup import (
    CatchupRequest,
    contiguous_ranges,
    plan_catchup,
    waiting_for,
)
from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.store.collection import feed_day_statuses
from releaf_pipeline.lib.store.health import feed_health_states
from releaf_pipeline.lib.store.registry import list_feeds, list_servers
from releaf_pipeline.run_watch import run_alive

CATCHUP_SENSOR = "catchup_sensor"
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_COLLECTED_ASSETS = {dg.AssetKey("meter_readings"), dg.AssetKey("daily_deposits")}


def busy_days(instance: dg.DagsterInstance, now: float | None = None) -> dict[date, str]:
    """Days covered by a queued or running collection that is alive, each with the run:
    the `collection` job's runs and materializations launched from the UI alike."""
    now = time.time() if now is None else now
    days: dict[date, str] = {}
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_ACTIVE)):
        run = record.dagster_run
        if not _collects(run) or not run_alive(instance, record, now):
            continue
        covered = requested_days(run.tags)
        if covered is not None:
            for d in days_between(*covered):
                days.setdefault(d, run.run_id)
    return days


def _collects(run: dg.DagsterRun) -> bool:
    if run.job_name == collection_job.name:
        return True
    return bool(run.asset_selection and _COLLECTED_ASSETS & set(run.asset_selection))


@dataclass(frozen=True)
class CatchupPlan:
    """What the catch-up sensor requests now, or why it requests nothing."""

    requests: list[CatchupRequest]
    waits: list[str]
    feeds: int = 0
    """Active feeds: the size of a request naming none."""


def plan(
    instance: dg.DagsterInstance, store: StoreResource, today: date, rules: RulesResource
) -> CatchupPlan:
    """The catch-up sensor's requests now, and what the rest waits for."""
    engine = store.engine()
    lookback = rules.lookback_days
    feeds = {f.id: f for f in list_feeds(engine)}
    lookback_start = today - timedelta(days=lookback)
    statuses = [
        (r.feed_id, r.day, r.status, r.failure_kind, r.run_id)
        for r in feed_day_statuses(engine, lookback_start, today, problems_only=True)
    ]
    materialized = {
        date.fromisoformat(k)
        for k in instance.get_materialized_partitions(dg.AssetKey("meter_readings"))
    }
    server_healthy = {s.id: bool(s.healthy) for s in list_servers(engine)}
    busy = busy_days(instance)
    requests = plan_catchup(
        today=today,
        feeds=feeds,
        server_healthy=server_healthy,
        feed_days=statuses,
        feed_health=feed_health_states(engine),
        materialized=materialized,
        busy=busy,
        first_partition=date.fromisoformat(PARTITIONS_START),
        lookback_days=lookback,
    )
    waits = waiting_for(
        today=today, feeds=feeds, server_healthy=server_healthy, feed_days=statuses, busy=busy,
        lookback_days=lookback,
    )  # fmt: skip
    return CatchupPlan(requests, waits + _being_collected(busy, lookback_start, waits), len(feeds))


def _being_collected(busy: dict[date, str], since: date, waits: list[str]) -> list[str]:
    """One sentence per live collection covering days of the window that no other wait
    names: those days are not "collected" yet, they are being collected."""
    by_run: dict[str, list[date]] = {}
    for day, run_id in sorted(busy.items()):
        if day >= since:
            by_run.setdefault(run_id, []).append(day)
    out = []
    for run_id, days in sorted(by_run.items()):
        if any(run_id in w for w in waits):
            continue
        spans = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in contiguous_ranges(days))
        out.append(f"{len(days)} day(s) ({spans}) are being collected by run {run_id}")
    return out


def to_run_request(req: CatchupRequest, feeds: int, max_seconds: int) -> dg.RunRequest:
    """The collection run for one catch-up request, tagged with its reason; its time limit
    sized from its feeds (`feeds`: every active feed, for a request naming none)."""
    return CollectionRequest(
        req.start, req.end, feed_ids=req.feed_ids, missing_only=req.missing_only,
        trigger="catchup", reason=req.reason, run_key=req.key,
        feed_count=len(req.feed_ids) or feeds,
        max_seconds=max_seconds,
    ).run_request()  # fmt: skip


@dg.sensor(
    name=CATCHUP_SENSOR,
    job=collection_job,
    minimum_interval_seconds=SETTINGS_AT_LOAD.catchup_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Requests ranged collections for paused or failed feed-days, feeds that recovered, "
        "and days missing in the look-back window."
    ),
)
def catchup_sensor(
    context: dg.SensorEvaluationContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> dg.SensorResult:
    """Heals the pipeline after outages without a person starting a backfill."""
    found = plan(context.instance, store, clock.now().date(), rules)
    for r in found.requests:
        safe_log(context).info(
            f"catch-up ({r.reason}): {r.start}..{r.end}, feeds {r.feed_ids or 'all'}"
        )
    if not found.requests:
        reason = "; ".join(found.waits) or (
            f"nothing to catch up: every feed-day of the last {rules.lookback_days} days is "
            "collected"
        )
        return dg.SensorResult(skip_reason=reason)
    requests = [to_run_request(r, found.feeds, rules.run_max_seconds) for r in found.requests]
    return dg.SensorResult(run_requests=requests)
