"""Giving back what dead runs hold: runs left in progress by a `releaf` process of this
host that no longer exists, and slots still held by runs that have ended."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason

from releaf_pipeline.lib.safe_text import safe_logger
from releaf_pipeline.run_guard.pools import HOST_TAG, PID_TAG, PROCESS_RUN_TAG, slot_holders

log = safe_logger(__name__)


_IN_PROGRESS = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    # A killed process its parent has not waited for yet is a zombie: dead all the same.
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _dead_process(run: dg.DagsterRun, host: str) -> int | None:
    """The pid of the releaf process of this host that executed `run`, if it is gone."""
    tags = run.tags
    if tags.get(PROCESS_RUN_TAG) != run.run_id or tags.get(HOST_TAG) != host:
        return None
    try:
        pid = int(tags.get(PID_TAG, ""))
    except ValueError:
        return None
    # A reused pid only makes a dead run look alive: the command then waits, never wrongly
    # ends a live run.
    return None if pid == os.getpid() or _pid_alive(pid) else pid


def _end_dead_run(instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int) -> str | None:
    current = instance.get_run_by_id(run.run_id)
    if current is None or current.is_finished:
        return None  # another command got there first
    host = run.tags.get(HOST_TAG)
    why = f"the releaf process that ran it (pid {pid} on {host}) is gone"
    if current.status == dg.DagsterRunStatus.CANCELING:
        instance.report_run_canceled(current, f"{why}; marked canceled")
        ended = "canceled"
    else:
        instance.report_run_failed(
            current,
            f"{why}; marked failed and its pool slots freed by releaf pid {os.getpid()}",
            JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
        )
        ended = "failed"
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return (
        f"releaf: run {run.run_id} ({run.job_name}) was left {current.status.value} by "
        f"releaf pid {pid} on {host}, which is gone: marked {ended} and its pool slots freed"
    )


def _free_ended_holders(instance: dg.DagsterInstance, pool: str) -> list[str]:
    notes = []
    for run_id in slot_holders(instance, pool):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            notes.append(
                f"releaf: freed the {pool} pool slots still held by run {run_id} "
                f"({run.job_name}), which ended {run.status.value}"
            )
    return notes


def reap_dead_holders(instance: dg.DagsterInstance, pools: Sequence[str] = ()) -> list[str]:
    """Give back what dead runs hold: every run left in progress by a `releaf` process of
    this host that no longer exists is marked failed (canceled, if it was canceling) and
    its pool slots freed; slots of `pools` still held by runs that have ended are freed.
    Returns one line per run, each also logged as a warning."""
    host = socket.gethostname()
    notes = []
    filters = dg.RunsFilter(statuses=_IN_PROGRESS, tags={HOST_TAG: host})
    for run in instance.get_runs(filters=filters):
        pid = _dead_process(run, host)
        note = _end_dead_run(instance, run, pid) if pid is not None else None
        if note:
            notes.append(note)
    if instance.event_log_storage.supports_global_concurrency_limits:
        for pool in pools:
            notes += _free_ended_holders(instance, pool)
    for note in notes:
        log.warning(note)
    return notes
