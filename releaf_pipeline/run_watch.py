"""Waiting on a run submitted to the Dagster instance: how it ended, the command's
signals, its progress, and whether an unfinished run is still alive.

`launch` submits runs and waits on them through these; the catch-up sensor and the night
replay judge other runs with `run_alive`.
"""

from __future__ import annotations

import signal
import threading
import time as clock
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import dagster as dg

from releaf_pipeline.lib.errors import ReleafError


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended."""

    run_id: str
    success: bool
    failure: str | None = None
    """Why it failed, in one line: the failed step and its error (None when it succeeded)."""


class RunStopped(ReleafError):
    """The command was stopped by SIGINT or SIGTERM; its run was asked to terminate. Exits
    130 or 143, as a shell does for a command killed by that signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]


Progress = Callable[[dg.DagsterRun], None]
"""Called while a command waits for its run, about once a second, with the run as it is."""

POLL_SECONDS = 0.2
STOP_SECONDS = 30
"""How long a stopped command gives its run to end before it marks it canceled and exits."""
NO_DAEMON_NOTICE_SECONDS = 30
"""A run still queued after this long, on an instance whose daemon does not answer, is
said to be waiting for one."""


@contextmanager
def signals_noted() -> Iterator[list[int]]:
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


def wait_for_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    stopped: list[int],
    progress: Progress | None,
    notice: Callable[[str], None] | None,
) -> dg.DagsterRun:
    """Wait for `run` to end; on a signal noted in `stopped`, have the instance terminate
    it first (`RunStopped`). `progress` sees the run about once a second; `notice` is told
    once if it stays queued with no daemon to start it."""
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
    through its launcher), wait for it to end, then raise `RunStopped`. All of it within
    STOP_SECONDS: past them (a code server that does not answer), the run is marked
    canceled and left to its launcher and the daemon's run monitoring."""
    name = signal.Signals(signum).name
    deadline = clock.monotonic() + STOP_SECONDS

    def cancel() -> None:
        # Its code server gone, the run cannot be reached: it is marked canceled below.
        with suppress(dg.DagsterError):
            instance.run_coordinator.cancel_run(run.run_id)

    # In a thread of its own: Dagster's request to the code server may wait a minute.
    asking = threading.Thread(target=cancel, name="releaf-cancel-run", daemon=True)
    asking.start()
    asking.join(timeout=STOP_SECONDS)
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


_ONE_LINE_ERRORS = frozenset({"StoreError", "SecretKeyError", "RegistryError", "SettingsError"})
"""Errors whose message is already the one line an operator reads."""


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
            error = data.error
            # Dagster wraps what a step's code or its IO manager raised: the cause says it.
            while error.cause is not None and error.cls_name.startswith("DagsterExecution"):
                error = error.cause
            name = error.cls_name.rsplit(".", 1)[-1]
            # The message is Python's own line for the exception: "module.Class: text".
            head, _, text = error.message.strip().partition(": ")
            message = text if text and head.rsplit(".", 1)[-1] == name else error.message
            why = message if name in _ONE_LINE_ERRORS else f"{name}: {message}"
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
