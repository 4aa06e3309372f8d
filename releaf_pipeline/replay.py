"""`releaf nightly`: one night, in-process, exactly as the daemon would run it.

A run of the server_health job, the nightly schedule's run, every run the catch-up sensor
requests (again until it asks for nothing new), then the monthly close for any month
that closes, all through the same Definitions and recorded in the instance at DAGSTER_HOME.
The night's time reaches every sensor, schedule and run through the clock resource.

A night replayed after an interrupted one collects what that one left: a run of the
night (by its run key) counts as done only once it succeeded. A failed or canceled one is
run again, and so is one its dead `releaf` process left in progress, once `run_guard` has
ended it and freed its pool slots; one still in progress in a live process stops the
replay (`NightInProgress`), so that no run of the night is ever run twice at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

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
from releaf_pipeline.run_guard import RunGuardError, describe_run, reap_dead_holders

if TYPE_CHECKING:
    from releaf_pipeline.defs.resources import StoreResource

__all__ = ["Night", "NightInProgress", "NightRun", "night_time", "replay_night"]

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


class NightInProgress(RunGuardError):
    """A run of the night is in progress in a process that is alive (another `releaf`, the
    daemon's run launcher, another host): the replay stops rather than run it twice. Exits
    75 (EX_TEMPFAIL: try again later)."""

    exit_code = 75


@dataclass
class _Launches:
    """Which runs of the night are to be launched, by run key."""

    instance: dg.DagsterInstance
    day: date
    launched: set[str] = field(default_factory=set)

    def due(self, run_key: str | None) -> bool:
        """Whether the run with `run_key` is to be launched now: unless a run with that key
        succeeded, or this replay launched one already (a catch-up that fails is not
        retried in a loop: the next night retries it). Raises `NightInProgress` for one
        still in progress: the runs of dead processes were ended when the replay began, so
        its process is alive."""
        if not run_key:
            return True
        if run_key in self.launched:
            return False
        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}))
        if any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs):
            return False
        live = [r for r in runs if not r.is_finished]
        if live:
            raise NightInProgress(
                f"the night after {self.day} is being run elsewhere: "
                f"{describe_run(self.instance, live[0].run_id)}; wait for it to end, then run "
                f"`releaf nightly --date {self.day}` again (if its process is gone, on another "
                "host, terminate the run in the Dagster UI first)"
            )
        self.launched.add(run_key)
        return True


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


def _server_health(instance: dg.DagsterInstance, at: datetime, store: StoreResource) -> str:
    """The server_health job at the night's moment; one line on the servers' health."""
    from releaf_pipeline.definitions import defs
    from releaf_pipeline.defs.health.fleet import servers_summary
    from releaf_pipeline.defs.health.server_health import SERVER_HEALTH_JOB

    result = execute(
        defs, SERVER_HEALTH_JOB, instance, run_config=dg.RunConfig(resources=clock_config(at)),
        tags={TRIGGER_TAG: "nightly"},
    )  # fmt: skip
    if not result.success:
        return f"the server health check failed: {result.failure}"
    return servers_summary(store.engine())


def replay_night(day: date, instance: dg.DagsterInstance, *, cron: str = "0 2 * * *") -> Night:
    """Run the night that follows `day`: health checks, `day`'s collection, catch-ups, and
    the monthly close, all at the moment the nightly schedule fires."""
    from releaf_pipeline.definitions import default_resources
    from releaf_pipeline.defs.health.sensors import (
        CATCHUP_SENSOR,
        catchup_sensor,
    )
    from releaf_pipeline.defs.resources import ClockResource
    from releaf_pipeline.defs.rollup.sensors import MONTHLY_CLOSE_SENSOR, monthly_close_sensor
    from releaf_pipeline.defs.schedules import nightly_schedule

    at = night_time(day, cron)
    night = Night(day, at)
    launches = _Launches(instance, day)
    resources = {**default_resources(), "clock": ClockResource(frozen_at=at.isoformat())}
    # What an interrupted night left in progress is ended first, so that it is run again,
    # and the catch-up sensor does not take its days for busy.
    reap_dead_holders(instance)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=at) as ctx:
        request = nightly_schedule(ctx)
    # Refused before the health check writes anything.
    collect = launches.due(request.run_key)
    night.server_health = _server_health(instance, at, resources["store"])
    if collect:
        night.runs.append(_run(instance, request, {SCHEDULE_TAG: "nightly"}, at))
    for _ in range(MAX_CATCHUP_ROUNDS):
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = catchup_sensor(ctx)
        new = [r for r in result.run_requests or [] if launches.due(r.run_key)]
        if not new:
            break
        for r in new:
            night.runs.append(_run(instance, r, {SENSOR_TAG: CATCHUP_SENSOR}, at))
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        result = monthly_close_sensor(ctx)
    for r in result.run_requests or []:
        if launches.due(r.run_key):
            origin = {SENSOR_TAG: MONTHLY_CLOSE_SENSOR}
            night.runs.append(_run(instance, r, origin, at, MONTHLY_CLOSE_JOB))
    return night
