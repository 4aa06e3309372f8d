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
import time as clock
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
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
"""`DONE/TOTAL` feeds of a collection run in progress; the command waiting for it shows it."""
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
    return next_cron_tick(cron, midnight - timedelta(seconds=1))


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
    """How a run ended."""

    run_id: str
    success: bool
    failure: str | None = None
    """Why it failed, in one line: the failed step and its error (None when it succeeded)."""


class RunStopped(Exception):
    """The command was stopped by SIGINT or SIGTERM; its run was asked to terminate. Exits
    130 or 143, as a shell does for a command killed by that signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


Progress = Callable[[dg.DagsterRun], None]
"""Called while a command waits for its run, about once a second, with the run as it is."""

POLL_SECONDS = 0.2
NO_DAEMON_NOTICE_SECONDS = 30
"""A run still queued after this long, on an instance whose daemon does not answer, is
said to be waiting for one."""


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
        with warnings.catch_warnings(), _signals_stop() as stopped:
            # Single-run backfills are beta, partitioned checks a preview: design choices,
            # nothing a user can act on.
            warnings.simplefilter("ignore", category=dg.BetaWarning)
            warnings.simplefilter("ignore", category=dg.PreviewWarning)
            run = submit_run(
                instance, self._open(), location=CODE_LOCATION, job_name=job_name,
                run_config=config, tags=run_tags,
            )  # fmt: skip
            run = _wait(instance, run, stopped, progress, notice)
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


def execute(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    *,
    run_config: dg.RunConfig | None = None,
    tags: dict[str, str] | None = None,
    partition_key: str | None = None,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Submit one run to the instance and wait for it: `Launcher.execute`, with a
    launcher of its own."""
    with Launcher(instance) as launcher:
        return launcher.execute(
            defs, job_name, run_config=run_config, tags=tags, partition_key=partition_key,
            progress=progress, notice=notice,
        )  # fmt: skip


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


@contextmanager
def _signals_stop() -> Iterator[list[int]]:
    """SIGINT and SIGTERM are noted (in the list yielded) instead of raising in the middle
    of a store or instance call; the wait loop acts on them."""
    stopped: list[int] = []

    def note(signum: int, _frame: object) -> None:
        stopped.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    stopped: list[int],
    progress: Progress | None,
    notice: Callable[[str], None] | None,
) -> dg.DagsterRun:
    """Wait for `run` to end; on a signal, have the instance terminate it first."""
    began = clock.monotonic()
    told = False
    while True:
        current = instance.get_run_by_id(run.run_id) or run
        # Before the run's end: a Ctrl-C may have ended the run first (the terminal
        # signals its run worker too), and the command still stops as signalled.
        if stopped:
            _terminate(instance, current, stopped[0])
        if current.is_finished:
            return current
        if progress is not None:
            progress(current)
        queued_for = clock.monotonic() - began
        if (
            not told
            and notice is not None
            and current.status == dg.DagsterRunStatus.QUEUED
            and queued_for > NO_DAEMON_NOTICE_SECONDS
            and not _daemon_running(instance)
        ):
            told = True
            notice(
                f"run {current.run_id} is queued and no dagster-daemon runs on this instance "
                "to start it: start one (`make daemon`), or stop this command and cancel the "
                "run in the Dagster UI"
            )
        clock.sleep(POLL_SECONDS)


def _terminate(instance: dg.DagsterInstance, run: dg.DagsterRun, signum: int) -> None:
    """Ask the instance to end `run` (a queued run is canceled; a started one terminated
    through its launcher), wait up to a minute for it to end, then raise `RunStopped`."""
    name = signal.Signals(signum).name
    # Its code server gone, the run cannot be reached: it is marked canceled below.
    with suppress(dg.DagsterError):
        instance.run_coordinator.cancel_run(run.run_id)
    deadline = clock.monotonic() + 60
    while clock.monotonic() < deadline:
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.is_finished:
            break
        clock.sleep(POLL_SECONDS)
    else:
        instance.report_run_canceled(run, message=f"releaf stopped by {name}")
    raise RunStopped(
        f"stopped by {name}: run {run.run_id} was terminated; run the command again to "
        "collect what it had not",
        128 + signum,
    )


def _daemon_running(instance: dg.DagsterInstance) -> bool:
    """Whether a daemon dequeues this instance's runs (its heartbeat is recent)."""
    kind = "QUEUED_RUN_COORDINATOR"
    status = instance.get_daemon_statuses([kind]).get(kind)
    return bool(status is not None and status.healthy)


NOT_STARTED_GRACE_SECONDS = 120
"""A run created but not submitted for this long never will be (its launch failed)."""
SILENT_RUN_SECONDS = 600
"""A started run whose log has been silent this long has lost its worker: a collection
logs its progress every 30 seconds. The daemon's run monitoring fails it at its time
limit; the catch-up and a replay do not wait for it meanwhile."""


def run_alive(instance: dg.DagsterInstance, record: dg.RunRecord, now: float) -> bool:
    """Whether `record`'s unfinished run may still end by itself: not a run whose launch
    failed (never submitted after NOT_STARTED_GRACE_SECONDS), nor one whose worker is gone
    (its log silent for SILENT_RUN_SECONDS). Judged from the instance alone, never from a
    host name or a process id."""
    status = record.dagster_run.status
    if status == dg.DagsterRunStatus.QUEUED:
        return True
    if status == dg.DagsterRunStatus.NOT_STARTED:
        return now - record.create_timestamp.timestamp() < NOT_STARTED_GRACE_SECONDS
    latest = instance.get_records_for_run(record.dagster_run.run_id, limit=1, ascending=False)
    last = latest.records[0].timestamp if latest.records else record.update_timestamp.timestamp()
    return now - last < SILENT_RUN_SECONDS


def run_failure(instance: dg.DagsterInstance, run_id: str) -> str:
    """Why run `run_id` failed, in one line: the first failed step and its error, or the
    run's own failure (terminated, canceled, lost its worker)."""
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
    run = instance.get_run_by_id(run_id)
    status = run.status.value.lower() if run is not None else "lost"
    # Run monitoring says why it ends a run (its time limit) as it starts canceling it;
    # the failure it then records says only that the run was marked failed.
    canceling = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_CANCELING, limit=1
    ).records
    for kind in (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED):
        records = instance.get_records_for_run(run_id, of_type=kind, limit=1).records
        if records and records[0].event_log_entry.message:
            message = records[0].event_log_entry.message
            if kind == dg.DagsterEventType.RUN_FAILURE and canceling:
                message = f"{canceling[0].event_log_entry.message} {message}"
            return f"the run {status}: {' '.join(message.split())}"
    return f"the run {status} before any step failed"


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
    return execute(
        defs,
        COLLECTION_JOB,
        instance,
        run_config=request.run_config(now),
        tags=tags,
        partition_key=request.partition_key,
        progress=progress,
        notice=notice,
    )
