"""`releaf nightly`: one night, in-process, exactly as the daemon would run it.

The server health sensor, the nightly schedule's run, every run the catch-up sensor
requests (again until it asks for nothing new), then the monthly close for any month
that closes, all through the same Definitions and recorded in the instance at DAGSTER_HOME.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
from dagster._utils.schedules import get_next_cron_tick

from releaf_pipeline.defs.settings import NIGHTLY_CRON
from releaf_pipeline.lib.paths import NOW_ENV

# BackfillPolicy is marked beta; a terminal user cannot act on that warning.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

MAX_CATCHUP_ROUNDS = 5


@dataclass
class NightRun:
    """One run the night launched."""

    run_id: str
    trigger: str
    start: str
    end: str
    success: bool


@dataclass
class Night:
    """What a replayed night did."""

    day: date
    at: datetime
    server_health: str = ""
    runs: list[NightRun] = field(default_factory=list)


def night_time(day: date) -> datetime:
    """When the nightly schedule fires for `day`: its first tick after `day` ends."""
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    return get_next_cron_tick(NIGHTLY_CRON, midnight - timedelta(seconds=1), "UTC")


def _already_launched(instance: dg.DagsterInstance, run_key: str | None) -> bool:
    if not run_key:
        return False
    return bool(instance.get_run_ids(filters=dg.RunsFilter(tags={"dagster/run_key": run_key})))


def _execute(
    instance: dg.DagsterInstance,
    request: dg.RunRequest,
    origin: dict[str, str],
    job_name: str = "collection",
) -> NightRun:
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from releaf_pipeline.definitions import defs

    tags = {**request.tags, **origin}
    if request.run_key:
        tags["dagster/run_key"] = request.run_key
    run_config = dict(request.run_config or {})
    run_config.setdefault("loggers", {"console": {"config": {"log_level": "WARNING"}}})
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags=tags,
        partition_key=request.partition_key,
        raise_on_error=False,
    )
    start = tags.get(ASSET_PARTITION_RANGE_START_TAG) or request.partition_key or ""
    end = tags.get(ASSET_PARTITION_RANGE_END_TAG) or request.partition_key or ""
    trigger = tags.get("releaf/catchup") or tags.get("releaf/trigger", "")
    if job_name != "collection":
        start = end = (request.partition_key or "")[:7]
    return NightRun(result.run_id, trigger, start, end, result.success)


def replay_night(day: date, instance: dg.DagsterInstance) -> Night:
    """Run the night that follows `day`: health checks, `day`'s collection, catch-ups."""
    from releaf_pipeline.definitions import default_resources
    from releaf_pipeline.defs.health.sensors import (
        CATCHUP_SENSOR,
        catchup_sensor,
        server_health_sensor,
    )
    from releaf_pipeline.defs.rollup.sensors import MONTHLY_CLOSE_SENSOR, monthly_close_sensor
    from releaf_pipeline.defs.schedules import nightly_schedule

    at = night_time(day)
    # Every run, sensor and resource of this process takes the night's time as now.
    previous = os.environ.get(NOW_ENV)
    os.environ[NOW_ENV] = at.isoformat()
    night = Night(day, at)
    try:
        resources = default_resources()
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            skip = server_health_sensor(ctx)
            night.server_health = getattr(skip, "skip_message", str(skip))
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=at) as ctx:
            request = nightly_schedule(ctx)
        if not _already_launched(instance, request.run_key):
            night.runs.append(_execute(instance, request, {"dagster/schedule_name": "nightly"}))
        for _ in range(MAX_CATCHUP_ROUNDS):
            with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
                result = catchup_sensor(ctx)
            new = [
                r for r in result.run_requests or [] if not _already_launched(instance, r.run_key)
            ]
            if not new:
                break
            for r in new:
                night.runs.append(_execute(instance, r, {"dagster/sensor_name": CATCHUP_SENSOR}))
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = monthly_close_sensor(ctx)
        for r in result.run_requests or []:
            if not _already_launched(instance, r.run_key):
                origin = {"dagster/sensor_name": MONTHLY_CLOSE_SENSOR}
                night.runs.append(_execute(instance, r, origin, "monthly_close"))
    finally:
        if previous is None:
            os.environ.pop(NOW_ENV, None)
        else:
            os.environ[NOW_ENV] = previous
    return night
