"""The one way a run starts: the Dagster instance, the run tags, typed run requests, and
submitting them to the instance.

The CLI, the demo, the night replay, the schedule and the sensors all build their runs
here, so a run of the collection looks the same whoever started it: the same tags, the
same run config, the same job. A command never executes a run itself: it submits it to
the instance (its run coordinator and run launcher) and waits for it.
"""

from __future__ import annotations

import fcntl
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import yaml

from releaf_pipeline.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    RUN_COORDINATOR_MODULE,
    next_cron_tick,
    submission_workspace,
    submit_run,
)
from releaf_pipeline.run_watch import (
    Progress,
    RunOutcome,
    run_failure,
    signals_noted,
    wait_for_run,
)

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

MAX_RUNTIME_TAG = "dagster/max_runtime"
"""Seconds after which the daemon's run monitoring fails a run still going."""
PROGRESS_TAG = "releaf/progress"
"""`PROGRESS_TAG.PIECE` = `DONE/TOTAL` feeds of each piece of a collection run in
progress; the command waiting for it shows their sum (`run_progress`)."""
REPLAY_TRIGGER = "replay"
REPLAY_OF_TAG = "releaf/replay_of"
"""The schedule or sensor whose run a `releaf nightly` replay runs in its place."""
SECONDS_PER_FEED = 0.2
"""Added to RELEAF_RUN_MAX_SECONDS per feed a collection run covers, for its time limit: a
night of 10,000 feeds takes under 90 s, so this is far above any live run's need."""

# Written when DAGSTER_HOME has no instance file: runs are launched at once, with no daemon
# needed, by the default run launcher (a subprocess per run). The repository's dagster.yaml
# queues them for the daemon instead, as a deployment does.
DEFAULT_INSTANCE_YAML = f"""\
# Dagster instance: SQLite storage in this directory (the default).
telemetry:
  enabled: false
nux:
  enabled: false
# Runs start at once, without a daemon: each `releaf` command launches its run and waits.
# For a run queue (limits, pools), use the repository's dagster.yaml and a daemon.
run_coordinator:
  module: {RUN_COORDINATOR_MODULE}
  class: DefaultRunCoordinator
# The daemon, when one runs on this home, ends the runs that can no longer end by
# themselves: see the repository's dagster.yaml for each value.
run_monitoring:
  enabled: true
  start_timeout_seconds: 900
  cancel_timeout_seconds: 180
  max_runtime_seconds: 21600
  max_resume_run_attempts: 0
  poll_interval_seconds: 60
  free_slots_after_run_end_seconds: 60
"""


def run_progress(tags: Mapping[str, str]) -> tuple[int, int] | None:
    """Feeds done and feeds planned so far in a collection run, over the pieces that have
    started (None before any has)."""
    done = planned = 0
    seen = False
    for key, value in tags.items():
        if key.startswith(PROGRESS_TAG + "."):
            a, _, b = value.partition("/")
            if a.isdigit() and b.isdigit():
                done, planned, seen = done + int(a), planned + int(b), True
    return (done, planned) if seen else None


class CollectionConfig(dg.Config):
    """Which feeds a collection run collects."""

    feeds: list[str] = []
    """Customer codes to collect (`SERVER/CODE` where codes repeat across servers)."""
    feed_ids: list[int] = []
    """Feed ids to collect (what the catch-up sensor sets). Both empty: every active feed."""
    server: str | None = None
    """The server of the `feeds` named: each is then a customer code of that server."""
    missing_only: bool = False
    """Only the feeds with a day of the range not recorded as collected: what the catch-up
    sets for days whose run did not finish, so that what was collected is not again."""


@dataclass(frozen=True)
class CollectionRequest:
    """One collection run: `meter_readings` and `daily_deposits` for [start, end].

    The days are run as one run over the range, as a single-run backfill is, or, with
    `as_partition` and one day, as that day's partition (what the nightly schedule asks).
    `trigger` says who asked (cli, backfill, nightly, catchup, demo); `reason` why a
    catch-up did.
    """

    start: date
    end: date
    feeds: tuple[str, ...] = ()
    feed_ids: tuple[int, ...] = ()
    server: str | None = None
    missing_only: bool = False
    trigger: str = "cli"
    reason: str | None = None
    run_key: str | None = None
    as_partition: bool = False
    feed_count: int | None = None
    """How many feeds the run collects, for its time limit (None: no limit of its own)."""
    max_seconds: int = 600
    """The time limit's base (RELEAF_RUN_MAX_SECONDS)."""

    @property
    def partition_key(self) -> str | None:
        """The partition of a one-day partition run; None for a run over a range."""
        return self.start.isoformat() if self.as_partition and self.start == self.end else None

    def tags(self) -> dict[str, str]:
        """The run's tags: the range it covers and who asked for it."""
        tags = {TRIGGER_TAG: self.trigger}
        if self.feed_count is not None:
            limit = self.max_seconds + SECONDS_PER_FEED * self.feed_count
            tags[MAX_RUNTIME_TAG] = str(int(limit))
        if self.reason:
            tags[CATCHUP_TAG] = self.reason
        if self.partition_key is None:
            tags[RANGE_START_TAG] = self.start.isoformat()
            tags[RANGE_END_TAG] = self.end.isoformat()
        return tags

    def run_config(self, now: datetime | None = None) -> dg.RunConfig:
        """The run config: the feeds to collect and, to replay a moment, the clock."""
        config = CollectionConfig(
            feeds=list(self.feeds), feed_ids=list(self.feed_ids), server=self.server,
            missing_only=self.missing_only,
        )  # fmt: skip
        return dg.RunConfig(
            ops={"meter_readings": {"ops": {"plan_collection": {"config": config.model_dump()}}}},
            resources=clock_config(now),
        )

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
    return next_cron_tick(cron, midnight - timedelta(seconds=1))


@cache
def prepare_home(home: Path) -> Path:
    """DAGSTER_HOME, made if missing, with an instance file if it has none."""
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
    home = prepare_home(settings.home)
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


class Launcher:
    """Submits runs to the Dagster instance and waits for them, from one workspace of the
    code location `workspace.yaml` names: its code server is started on the first run and
    stopped when the launcher closes, so a command's runs share it. Use as a context
    manager."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self._stack = ExitStack()
        self._workspace: Any = None

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def execute(
        self,
        defs: dg.Definitions,
        job_name: str,
        *,
        run_config: dg.RunConfig | None = None,
        tags: dict[str, str] | None = None,
        partition_key: str | None = None,
        progress: Progress | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> RunOutcome:
        """Submit a run of `job_name` to the Dagster instance and wait for it to end.

        The run is created from the code location `workspace.yaml` names (so the UI lists
        it under its job and can re-execute it) and submitted as `dagster job launch`
        does: an instance with a run queue queues it and the daemon's run launcher starts
        it; one without launches it at once with its run launcher. `defs` is where the
        job is looked up first, so a name it lacks is refused before anything is recorded.

        While the run is waited on, `progress` sees it about once a second, and `notice`
        is told once if it stays queued with no daemon to dequeue it. SIGINT or SIGTERM
        asks the instance to terminate the run and raises `RunStopped`. A command killed
        outright leaves its run to its launcher and to the daemon's run monitoring.

        The terminal gets nothing of the run's log (the caller says what the run did, and
        `failure` why it failed, in one line) unless RELEAF_DEBUG is set: then its
        warnings and errors. The full event log is in the Dagster UI.
        """
        from releaf_pipeline.settings import debug_requested

        defs.resolve_job_def(job_name)
        config = run_config.to_config_dict() if run_config is not None else {}
        level = "WARNING" if debug_requested() else "CRITICAL"
        config["loggers"] = {"console": {"config": {"log_level": level}}}
        run_tags = dict(tags or {})
        if partition_key is not None:
            run_tags[PARTITION_TAG] = partition_key
        instance = self.instance
        with warnings.catch_warnings(), signals_noted() as stopped:
            # Single-run backfills are beta, partitioned checks a preview: design choices,
            # nothing a user can act on.
            warnings.simplefilter("ignore", category=dg.BetaWarning)
            warnings.simplefilter("ignore", category=dg.PreviewWarning)
            run = submit_run(
                instance, self._open(), location=CODE_LOCATION, job_name=job_name,
                run_config=config, tags=run_tags,
            )  # fmt: skip
            run = wait_for_run(instance, run, stopped, progress, notice)
        if run.status == dg.DagsterRunStatus.SUCCESS:
            return RunOutcome(run.run_id, True)
        return RunOutcome(run.run_id, False, run_failure(instance, run.run_id))

    def _open(self) -> Any:
        if self._workspace is None:
            # The code server, and the run workers it starts, are in the terminal's process
            # group: started with SIGINT ignored, a Ctrl-C reaches this command alone (which
            # has the run terminated through the instance), not the server that must
            # answer that request. A Ctrl-C while the server starts is not noted.
            with _sigint_ignored():
                self._workspace = self._stack.enter_context(
                    submission_workspace(
                        self.instance, DEFINITIONS_MODULE, CODE_LOCATION, str(Path.cwd())
                    )
                )
        return self._workspace


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored meanwhile (in the main thread only: no other may set handlers); a
    process started meanwhile inherits that."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def collect(
    defs: dg.Definitions,
    request: CollectionRequest,
    instance: dg.DagsterInstance,
    *,
    now: datetime | None = None,
    origin: dict[str, str] | None = None,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Run one collection through the instance; `now` freezes its clock (a replayed
    night), `origin` adds tags saying who asked for it."""
    tags = {**request.tags(), **(origin or {})}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    with Launcher(instance) as launcher:
        return launcher.execute(
            defs, COLLECTION_JOB, run_config=request.run_config(now), tags=tags,
            partition_key=request.partition_key, progress=progress, notice=notice,
        )  # fmt: skip
