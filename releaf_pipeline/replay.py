"""`releaf nightly`: one night, as the daemon would run it, at the night's moment.

A run of the server_health job, the nightly schedule's run, every run the catch-up sensor
requests (again until it asks for nothing new), then the monthly close for any month
that closes. The alert sensors are evaluated after the health check, after the night's
collection and at the night's end (the run-failure one for each run of the night that
failed), so a night's alerts are sent as the daemon, ticking every minute, would send
them. The schedule and sensors are evaluated here with the night's time; each run they
ask for is submitted to the instance at DAGSTER_HOME and waited on, tagged as a
replay (`releaf/trigger=replay`, `releaf/replay_of` naming the schedule or sensor it
stands in for), never as the daemon's. The night's time reaches every run through the
clock resource.

A night replayed after an interrupted one collects what that one left: a run of the
night (by its key) counts as done only once it succeeded. A failed or canceled one is run
again; one still in progress (a `releaf` killed while waiting leaves its run going) is
waited for, so that no run of the night is ever run twice at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import dagster as dg

from releaf_pipeline.launch import (
    CATCHUP_TAG,
    COLLECTION_JOB,
    MONTHLY_CLOSE_JOB,
    PARTITION_TAG,
    REPLAY_OF_TAG,
    REPLAY_TRIGGER,
    RUN_KEY_TAG,
    TRIGGER_TAG,
    Launcher,
    clock_config,
    night_time,
    requested_days,
)
from releaf_pipeline.run_watch import run_alive

if TYPE_CHECKING:
    from releaf_pipeline.defs.resources import StoreResource

__all__ = ["Night", "NightRun", "night_time", "replay_night"]

MAX_CATCHUP_ROUNDS = 5
REPLAY_KEY_TAG = "releaf/replay_key"
"""The run key the schedule or sensor gave the run a replay stands in for."""
WAIT_SECONDS = 1.0


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
    alerts: list[str] = field(default_factory=list)
    """What the alert sensors did, one line per tick that said or sent something."""
    alert_failures: list[str] = field(default_factory=list)
    """Alert channels that refused messages (kept for the next tick), one line each."""


@dataclass
class _Launches:
    """Which runs of the night are to be launched, by run key."""

    instance: dg.DagsterInstance
    day: date
    notice: Callable[[str], None] | None = None
    launched: set[str] = field(default_factory=set)

    def due(self, run_key: str | None) -> bool:
        """Whether the run with `run_key` is to be launched now: unless a run with that key
        succeeded, or this replay launched one already (a catch-up that fails is not
        retried in a loop: the next night retries it). A run with that key still in
        progress (the daemon's, or one a killed `releaf` left going) is waited for first,
        as long as it is alive (`run_watch.run_alive`): one whose worker is gone is left to
        run monitoring, and the night's run is launched again."""
        if not run_key:
            return True
        if run_key in self.launched:
            return False
        records = self._records(run_key)
        live = self._alive(records)
        if live:
            if self.notice is not None:
                self.notice(
                    f"waiting for run {live[0].dagster_run.run_id} of the night after "
                    f"{self.day}, still in progress, before deciding whether to run it again"
                )
            while live:
                time.sleep(WAIT_SECONDS)
                records = self._records(run_key)
                live = self._alive(records)
        if any(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records):
            return False
        self.launched.add(run_key)
        return True

    def _alive(self, records: list[dg.RunRecord]) -> list[dg.RunRecord]:
        now = time.time()
        return [
            r for r in records if not r.dagster_run.is_finished and run_alive(self.instance, r, now)
        ]

    def _records(self, run_key: str) -> list[dg.RunRecord]:
        found: dict[str, dg.RunRecord] = {}
        for tag in (REPLAY_KEY_TAG, RUN_KEY_TAG):
            filters = dg.RunsFilter(tags={tag: run_key})
            for r in self.instance.get_run_records(filters=filters):
                found[r.dagster_run.run_id] = r
        return list(found.values())


def _run(
    launcher: Launcher,
    request: dg.RunRequest,
    replay_of: str,
    at: datetime,
    job_name: str = COLLECTION_JOB,
) -> NightRun:
    tags = {**request.tags, TRIGGER_TAG: REPLAY_TRIGGER, REPLAY_OF_TAG: replay_of}
    if request.run_key:
        tags[REPLAY_KEY_TAG] = request.run_key
    run_config = dg.RunConfig(**_run_config_parts(request.run_config))
    run_config.resources.update(clock_config(at))
    from releaf_pipeline.definitions import defs

    result = launcher.execute(
        defs,
        job_name,
        run_config=run_config,
        tags=tags,
        partition_key=request.partition_key,
    )
    # A single partition's run carries its day as the partition tag, set by `Launcher.execute`.
    days = requested_days(
        {**tags, PARTITION_TAG: request.partition_key} if request.partition_key else tags
    )
    start, end = (d.isoformat() for d in days) if days else ("", "")
    if job_name != COLLECTION_JOB:
        start = end = (request.partition_key or "")[:7]
    trigger = tags.get(CATCHUP_TAG) or replay_of
    return NightRun(result.run_id, trigger, start, end, result.success, result.failure)


def _run_config_parts(config: dg.RunConfig | dict | None) -> dict:
    if isinstance(config, dg.RunConfig):
        return {"ops": dict(config.ops), "resources": dict(config.resources)}
    config = dict(config or {})
    return {"ops": dict(config.get("ops", {})), "resources": dict(config.get("resources", {}))}


def _server_health(launcher: Launcher, at: datetime, store: StoreResource, night: Night) -> str:
    """The server_health job at the night's moment; one line on the servers' health. A
    failed run is one of the night's runs (it makes `releaf nightly` exit 1)."""
    from releaf_pipeline.definitions import defs
    from releaf_pipeline.defs.health.fleet import servers_summary
    from releaf_pipeline.defs.health.server_health import SERVER_HEALTH_JOB

    result = launcher.execute(
        defs, SERVER_HEALTH_JOB, run_config=dg.RunConfig(resources=clock_config(at)),
        tags={TRIGGER_TAG: REPLAY_TRIGGER, REPLAY_OF_TAG: "server_health"},
    )  # fmt: skip
    if not result.success:
        night.runs.append(NightRun(result.run_id, "server_health", "", "", False, result.failure))
        return f"the server health check failed: {result.failure}"
    return servers_summary(store.engine())


def _alert_ticks(
    instance: dg.DagsterInstance, resources: dict, night: Night, failed: list[NightRun]
) -> None:
    """Evaluate the alert sensors as the daemon would: the run-failure one for each of
    `failed`, then the one over the health state. A channel that fails is a line of the
    night, never its failure."""
    from releaf_pipeline.defs.alerts import (
        NOT_CONFIGURED,
        RUN_FAILURE_ALERTS,
        AlertChannelFailing,
        alerts_sensor,
        run_failure_alerts,
    )

    ticks = []
    for run in failed:
        dagster_run = instance.get_run_by_id(run.run_id)
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE, limit=1
        ).records
        event = records[0].event_log_entry.dagster_event if records else None
        if dagster_run is None or event is None:
            continue
        ctx = dg.build_run_status_sensor_context(
            sensor_name=RUN_FAILURE_ALERTS, dagster_event=event, dagster_instance=instance,
            dagster_run=dagster_run, resources=resources,
        )  # fmt: skip
        ticks.append(lambda ctx=ctx: run_failure_alerts(ctx))
    ticks.append(lambda: _health_tick(instance, resources, alerts_sensor))
    for tick in ticks:
        try:
            said = tick()
        except AlertChannelFailing as exc:
            if str(exc) not in night.alert_failures:
                night.alert_failures.append(str(exc))
            continue
        text = said.skip_message if isinstance(said, dg.SkipReason) else None
        if text and text != NOT_CONFIGURED and not text.startswith("0 new alert(s); nothing"):
            night.alerts.append(text)


def _health_tick(instance: dg.DagsterInstance, resources: dict, sensor: object) -> object:
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        return sensor(ctx)  # type: ignore[operator]


def replay_night(
    day: date,
    instance: dg.DagsterInstance,
    *,
    cron: str = "0 2 * * *",
    notice: Callable[[str], None] | None = None,
) -> Night:
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
    launches = _Launches(instance, day, notice)
    resources = {**default_resources(), "clock": ClockResource(frozen_at=at.isoformat())}
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=at, resources=resources
    ) as ctx:
        request = nightly_schedule(ctx)
    # A run of the night still in progress is waited for before the health check writes.
    collect = launches.due(request.run_key)
    with Launcher(instance) as launcher:
        night.server_health = _server_health(launcher, at, resources["store"], night)
        # The daemon's alert sensor sees a server's change before the catch-up collects.
        _alert_ticks(instance, resources, night, [r for r in night.runs if not r.success])
        if collect:
            night.runs.append(_run(launcher, request, "nightly", at))
            # ... and a feed's recovery, with the days to read back, before they are read.
            _alert_ticks(instance, resources, night, [r for r in night.runs[-1:] if not r.success])
        for _ in range(MAX_CATCHUP_ROUNDS):
            with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
                result = catchup_sensor(ctx)
            new = [r for r in result.run_requests or [] if launches.due(r.run_key)]
            if not new:
                break
            for r in new:
                night.runs.append(_run(launcher, r, CATCHUP_SENSOR, at))
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = monthly_close_sensor(ctx)
        for r in result.run_requests or []:
            if launches.due(r.run_key):
                close = _run(launcher, r, MONTHLY_CLOSE_SENSOR, at, MONTHLY_CLOSE_JOB)
                night.runs.append(close)
    # A run already told of (the health check's) is recorded once: its key is taken.
    _alert_ticks(instance, resources, night, [r for r in night.runs if not r.success])
    return night
