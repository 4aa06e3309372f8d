"""`releaf nightly`: one night, in-process, exactly as the daemon would run it.

The server health sensor, the nightly schedule's run, every run the catch-up sensor
requests (again until it asks for nothing new), then the monthly close for any month
that closes, all through the same Definitions and recorded in the instance at DAGSTER_HOME.
The night's time reaches every sensor, schedule and run through the clock resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import dagster as dg

from releaf_pipeline.launch import (
    CATCHUP_TAG,
    COLLECTION_JOB,
    MONTHLY_CLOSE_JOB,
    PARTITION_TAG,
    RUN_KEY_TAG,
    SCHEDULE_TAG,
    SENSOR_TAG,
    TRIGGER_TAG,
    clock_config,
    execute,
    night_time,
    requested_days,
)

__all__ = ["Night", "NightRun", "night_time", "replay_night"]

MAX_CATCHUP_ROUNDS = 5


@dataclass
class NightRun:
    """One run the night launched."""

    run_id: str
    trigger: str
    start: str
    end: str
    success: bool
    failure: str | None = None
    """Why it failed, in one line."""


@dataclass
class Night:
    """What a replayed night did."""

    day: date
    at: datetime
    server_health: str = ""
    runs: list[NightRun] = field(default_factory=list)


def _already_launched(instance: dg.DagsterInstance, run_key: str | None) -> bool:
    if not run_key:
        return False
    return bool(instance.get_run_ids(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key})))


def _run(
    instance: dg.DagsterInstance,
    request: dg.RunRequest,
    origin: dict[str, str],
    at: datetime,
    job_name: str = COLLECTION_JOB,
) -> NightRun:
    tags = {**request.tags, **origin}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    run_config = dg.RunConfig(**_run_config_parts(request.run_config))
    run_config.resources.update(clock_config(at))
    from releaf_pipeline.definitions import defs

    result = execute(
        defs,
        job_name,
        instance,
        run_config=run_config,
        tags=tags,
        partition_key=request.partition_key,
    )
    # A single partition's run carries its day as the partition tag, set by `execute`.
    days = requested_days(
        {**tags, PARTITION_TAG: request.partition_key} if request.partition_key else tags
    )
    start, end = (d.isoformat() for d in days) if days else ("", "")
    if job_name != COLLECTION_JOB:
        start = end = (request.partition_key or "")[:7]
    trigger = tags.get(CATCHUP_TAG) or tags.get(TRIGGER_TAG, "")
    return NightRun(result.run_id, trigger, start, end, result.success, result.failure)


def _run_config_parts(config: dg.RunConfig | dict | None) -> dict:
    if isinstance(config, dg.RunConfig):
        return {"ops": dict(config.ops), "resources": dict(config.resources)}
    config = dict(config or {})
    return {"ops": dict(config.get("ops", {})), "resources": dict(config.get("resources", {}))}


def replay_night(day: date, instance: dg.DagsterInstance, *, cron: str = "0 2 * * *") -> Night:
    """Run the night that follows `day`: health checks, `day`'s collection, catch-ups, and
    the monthly close, all at the moment the nightly schedule fires."""
    from releaf_pipeline.definitions import default_resources
    from releaf_pipeline.defs.health.sensors import (
        CATCHUP_SENSOR,
        catchup_sensor,
        server_health_sensor,
    )
    from releaf_pipeline.defs.resources import ClockResource
    from releaf_pipeline.defs.rollup.sensors import MONTHLY_CLOSE_SENSOR, monthly_close_sensor
    from releaf_pipeline.defs.schedules import nightly_schedule

    at = night_time(day, cron)
    night = Night(day, at)
    resources = {**default_resources(), "clock": ClockResource(frozen_at=at.isoformat())}
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        skip = server_health_sensor(ctx)
        night.server_health = getattr(skip, "skip_message", str(skip))
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=at) as ctx:
        request = nightly_schedule(ctx)
    if not _already_launched(instance, request.run_key):
        night.runs.append(_run(instance, request, {SCHEDULE_TAG: "nightly"}, at))
    for _ in range(MAX_CATCHUP_ROUNDS):
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = catchup_sensor(ctx)
        new = [r for r in result.run_requests or [] if not _already_launched(instance, r.run_key)]
        if not new:
            break
        for r in new:
            night.runs.append(_run(instance, r, {SENSOR_TAG: CATCHUP_SENSOR}, at))
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        result = monthly_close_sensor(ctx)
    for r in result.run_requests or []:
        if not _already_launched(instance, r.run_key):
            origin = {SENSOR_TAG: MONTHLY_CLOSE_SENSOR}
            night.runs.append(_run(instance, r, origin, at, MONTHLY_CLOSE_JOB))
    return night
