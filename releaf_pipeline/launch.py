"""The one way a run starts: the Dagster instance, the run tags, typed run requests, and
running them.

The CLI, the demo, the night replay, the schedule and the sensors all build their runs
here, so a run of the collection looks the same whoever started it: the same tags, the
same run config, the same job.
"""

from __future__ import annotations

import fcntl
import sys
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import yaml

# The only imports of Dagster internals: the tags by which one run covers a range of
# partitions (what a single-run backfill sets) have no public name, nor has the cron
# arithmetic the daemon uses to decide when the nightly schedule fires, nor the way to
# record a run executed here as a run of the code location the webserver loads, nor the
# run id a run is created with (its tags name the process executing it).
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_run_id
from dagster._utils.schedules import get_next_cron_tick

from releaf_pipeline.run_guard import guarded_run, process_tags, stop_on_signals

if TYPE_CHECKING:
    from releaf_pipeline.settings import Settings, SettingsError

RANGE_START_TAG = ASSET_PARTITION_RANGE_START_TAG
RANGE_END_TAG = ASSET_PARTITION_RANGE_END_TAG
PARTITION_TAG = "dagster/partition"
RUN_KEY_TAG = "dagster/run_key"
SCHEDULE_TAG = "dagster/schedule_name"
SENSOR_TAG = "dagster/sensor_name"
TRIGGER_TAG = "releaf/trigger"
CATCHUP_TAG = "releaf/catchup"
RUN_SUMMARY_TAG_PREFIX = "releaf/run."
"""Prefix of the tags a collection run gets when it ends: requests, retries, feeds..."""

# The code location as workspace.yaml and [tool.dagster] name it.
DEFINITIONS_MODULE = "releaf_pipeline.definitions"
CODE_LOCATION = "releaf_pipeline"
REPOSITORY = "__repository__"

COLLECTION_JOB = "collection"
MONTHLY_CLOSE_JOB = "monthly_close"

# Written when DAGSTER_HOME has no instance file; the repository's dagster.yaml is richer.
# Run monitoring as there, so that a daemon started on this home later ends dead runs.
DEFAULT_INSTANCE_YAML = """\
# Dagster instance: SQLite storage in this directory (the default).
telemetry:
  enabled: false
# The daemon ends runs that can no longer end by themselves: see the repository's
# dagster.yaml for each value.
run_monitoring:
  enabled: true
  start_timeout_seconds: 900
  cancel_timeout_seconds: 180
  max_runtime_seconds: 21600
  max_resume_run_attempts: 0
  poll_interval_seconds: 60
  free_slots_after_run_end_seconds: 60
"""


class CollectionConfig(dg.Config):
    """Which feeds a collection run collects."""

    feeds: list[str] = []
    """Customer codes to collect (`SERVER/CODE` where codes repeat across servers)."""
    feed_ids: list[int] = []
    """Feed ids to collect (what the catch-up sensor sets). Both empty: every active feed."""
    server: str | None = None
    """The server of the `feeds` named: each is then a customer code of that server."""


@dataclass(frozen=True)
class CollectionRequest:
    """One collection run: `meter_readings` and `daily_deposits` for [start, end].

    The days are run as one run over the range, as a single-run backfill is, or, with
    `as_partition` and one day, as that day's partition (what the nightly schedule asks).
    `trigger` says who asked (cli, backfill, nightly, catch-up, demo); `reason` why a
    catch-up did.
    """

    start: date
    end: date
    feeds: tuple[str, ...] = ()
    feed_ids: tuple[int, ...] = ()
    server: str | None = None
    trigger: str = "cli"
    reason: str | None = None
    run_key: str | None = None
    as_partition: bool = False

    @property
    def partition_key(self) -> str | None:
        """The partition of a one-day partition run; None for a run over a range."""
        return self.start.isoformat() if self.as_partition and self.start == self.end else None

    def tags(self) -> dict[str, str]:
        """The run's tags: the range it covers and who asked for it."""
        tags = {TRIGGER_TAG: self.trigger}
        if self.reason:
            tags[CATCHUP_TAG] = self.reason
        if self.partition_key is None:
            tags[RANGE_START_TAG] = self.start.isoformat()
            tags[RANGE_END_TAG] = self.end.isoformat()
        return tags

    def run_config(self, now: datetime | None = None) -> dg.RunConfig:
        """The run config: the feeds to collect and, to replay a moment, the clock."""
        config = CollectionConfig(
            feeds=list(self.feeds), feed_ids=list(self.feed_ids), server=self.server
        )
        return dg.RunConfig(ops={"meter_readings": config}, resources=clock_config(now))

    def run_request(self) -> dg.RunRequest:
        """The request a schedule or sensor returns for this run."""
        return dg.RunRequest(
            run_key=self.run_key,
            partition_key=self.partition_key,
            run_config=self.run_config(),
            tags=self.tags(),
        )


def clock_config(now: datetime | None) -> dict[str, Any]:
    """Resource config that freezes the clock resource at `now` (nothing when None)."""
    return {} if now is None else {"clock": {"config": {"frozen_at": now.isoformat()}}}


def requested_days(tags: dict[str, str]) -> tuple[date, date] | None:
    """The first and last day a collection run covers, from its tags."""
    first = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
    last = tags.get(RANGE_END_TAG) or first
    if not first or not last:
        return None
    return date.fromisoformat(first), date.fromisoformat(last)


def night_time(day: date, cron: str = "0 2 * * *") -> datetime:
    """When the nightly schedule (`cron`, UTC) fires for `day`: its first tick after `day`
    ends."""
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    return get_next_cron_tick(cron, midnight - timedelta(seconds=1), "UTC")


def prepare_home(settings: Settings) -> Path:
    """DAGSTER_HOME, made if missing, with an instance file if it has none."""
    return _prepare_home(settings.home)


@cache
def _prepare_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(DEFAULT_INSTANCE_YAML)
    return home


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance at DAGSTER_HOME.

    Opening an instance creates and stamps its storage the first time; two commands
    started at once on a fresh DAGSTER_HOME would both do it and leave it broken, so the
    opening is serialised on a lock file next to it.
    """
    home = prepare_home(settings)
    with (home / ".instance.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return dg.DagsterInstance.from_config(str(home))
        except (yaml.YAMLError, dg.DagsterInvalidConfigError) as exc:
            raise instance_config_error(home / "dagster.yaml", exc) from None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def instance_config_error(path: Path, exc: Exception) -> SettingsError:
    """One line for an instance file Dagster cannot read: the file, and what is wrong."""
    from releaf_pipeline.settings import SettingsError

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        what = f"is not YAML{where}: {exc.problem or exc.context}"
    elif isinstance(exc, dg.DagsterInvalidConfigError) and exc.errors:
        # Dagster's message goes on to list every key the file could have.
        what = "is not a Dagster instance configuration: " + exc.errors[0].message.split(
            " Expected:"
        )[0].rstrip(".")
    else:
        what = f"cannot be read: {exc}"
    return SettingsError(f"{path} {what}; fix it, or remove it to get the default one")


@dataclass(frozen=True)
class RunOutcome:
    """How a run this process executed ended."""

    run_id: str
    success: bool
    failure: str | None = None
    """Why it failed, in one line: the failed step and its error (None when it succeeded)."""


def execute(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    *,
    run_config: dg.RunConfig | None = None,
    tags: dict[str, str] | None = None,
    partition_key: str | None = None,
    pool_wait_seconds: float | None = None,
) -> RunOutcome:
    """Run a job of the code location `defs` in this process, recorded in `instance` as a
    run of the code location the webserver and the daemon load (`workspace.yaml`): the UI
    lists it under its job and on the timeline, and can re-execute it.

    The run never waits forever (see `run_guard`): its pool slots are claimed before it
    starts, for at most `pool_wait_seconds` (default `RELEAF_POOL_WAIT_SECONDS`), after
    runs of dead `releaf` processes of this host gave theirs back; SIGINT and SIGTERM end
    it as canceled. Raises `PoolSlotUnavailable` (no slot in time, nothing run) or
    `RunStopped` (a signal), each with a one-line message.

    The terminal gets nothing of the run's log (the caller says what the run did, and
    `failure` why it failed, in one line), unless RELEAF_DEBUG is set: then its warnings
    and errors, stack traces included. The full event log is in the Dagster UI.
    """
    from releaf_pipeline.settings import debug_requested

    job = _reconstructable(job_name)
    config = run_config.to_config_dict() if run_config is not None else {}
    level = "WARNING" if debug_requested() else "CRITICAL"
    config["loggers"] = {"console": {"config": {"log_level": level}}}
    # One process: the steps share the run's process instead of one process each.
    config["execution"] = {"config": {"in_process": {}}}
    run_id = make_new_run_id()
    # Which process executes the run, so that another command can tell when it died.
    run_tags = {**(tags or {}), **process_tags(run_id)}
    if partition_key is not None:
        run_tags[PARTITION_TAG] = partition_key
    if pool_wait_seconds is None:
        from releaf_pipeline.settings import read_settings

        pool_wait_seconds = read_settings().pool_wait_seconds
    with warnings.catch_warnings(), stop_on_signals() as stop:
        # Single-run backfills are marked beta: a design choice, nothing a user can act on.
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        job_def = defs.resolve_job_def(job_name)
        run = instance.create_run_for_job(
            job_def=job_def,
            run_id=run_id,
            run_config=config,
            tags={**job_def.run_tags, **run_tags},
            remote_job_origin=_remote_origin(job_name),
            job_code_origin=job.get_python_origin(),
        )
        result = guarded_run(
            instance,
            run,
            lambda: execute_run(job, run, instance),
            wait_seconds=pool_wait_seconds,
            stop=stop,
        )
    if result.success:
        return RunOutcome(run.run_id, True)
    return RunOutcome(run.run_id, False, run_failure(instance, run.run_id))


def run_failure(instance: dg.DagsterInstance, run_id: str) -> str:
    """Why run `run_id` failed, in one line: the first failed step and its error."""
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event is not None else None
        if data is None:
            continue
        if data.user_failure_data is not None and data.user_failure_data.description:
            why = data.user_failure_data.description
        elif data.error is not None:
            why = f"{data.error.cls_name}: {data.error.message}".strip()
        else:
            why = "no error recorded"
        return f"step {event.step_key} failed: {' '.join(why.split())}"
    return "the run failed before any step did"


def _reconstructable(job_name: str) -> ReconstructableJob:
    return ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, "defs", working_directory=str(Path.cwd())
    ).get_reconstructable_job(job_name)


def _remote_origin(job_name: str) -> RemoteJobOrigin:
    # The origin the webserver and the daemon give the code location of workspace.yaml:
    # the UI files runs under `repository@location`, so a run carrying it is theirs.
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=DEFINITIONS_MODULE,
            working_directory=str(Path.cwd()),
        ),
        location_name=CODE_LOCATION,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, REPOSITORY), job_name)


def collect(
    defs: dg.Definitions,
    request: CollectionRequest,
    instance: dg.DagsterInstance,
    *,
    now: datetime | None = None,
    origin: dict[str, str] | None = None,
) -> RunOutcome:
    """Run one collection; `now` freezes its clock (a replayed night), `origin` adds the
    tags of the schedule or sensor that asked for it."""
    tags = {**request.tags(), **(origin or {})}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    return execute(
        defs,
        COLLECTION_JOB,
        instance,
        run_config=request.run_config(now),
        tags=tags,
        partition_key=request.partition_key,
    )
