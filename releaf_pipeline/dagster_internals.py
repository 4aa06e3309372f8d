"""The only names taken from Dagster's private modules, each with why it has no public one.

Dagster 1.13 gives these no public name. They are kept here, and nowhere else, so that a
Dagster upgrade that moves or changes one breaks this module alone, and
`releaf_pipeline_tests/test_dagster_internals.py` says which.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import dagster as dg

# The materialization a partitioned check's result judges: without it the UI counts the
# result against none and shows the partition's check as missing (partitioned checks are
# a preview feature of 1.13).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# A workspace of the code location workspace.yaml names, as `dagster job launch` loads it:
# the instance's run launcher starts a run from the code location's gRPC server, and
# Dagster names no public way to submit a run to the instance from Python.
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager

# The tags by which one run covers a range of partitions: what a single-run backfill sets.
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import BaseWorkspaceRequestContext, WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget, ModuleTarget

RUN_COORDINATOR_MODULE = "dagster._core.run_coordinator"
"""Where an instance file names Dagster's run coordinators: the one that launches each run
at once has no public module."""
SYNC_RUN_LAUNCHER_MODULE = SyncInMemoryRunLauncher.__module__
"""Where an instance file names Dagster's run launcher that executes each run in the
process submitting it: it has no public module."""
NOOP_COMPUTE_LOGS_MODULE = NoOpComputeLogManager.__module__
"""Where an instance file names Dagster's compute log manager that captures nothing: it
has no public module."""
ONE_FILE_EVENT_LOG_MODULE = ConsolidatedSqliteEventLogStorage.__module__
"""Where an instance file names Dagster's SQLite event log that keeps every run's events in
one file, not a file per run: it has no public module."""

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "NOOP_COMPUTE_LOGS_MODULE",
    "ONE_FILE_EVENT_LOG_MODULE",
    "RUN_COORDINATOR_MODULE",
    "SYNC_RUN_LAUNCHER_MODULE",
    "AssetCheckEvaluationTargetMaterializationData",
    "is_valid_cron",
    "new_report_id",
    "next_cron_tick",
    "report_check_evaluation",
    "submission_workspace",
    "submit_run",
]


def is_valid_cron(cron: str) -> bool:
    """Whether the daemon's cron parser accepts `cron`."""
    from dagster._utils.schedules import is_valid_cron_string

    return is_valid_cron_string(cron)


def next_cron_tick(cron: str, after: datetime, timezone: str = "UTC") -> datetime:
    """The first tick of `cron` after `after`, as the daemon computes it (raises
    ValueError for a cron that names no date that exists)."""
    from dagster._utils.schedules import get_next_cron_tick

    return get_next_cron_tick(cron, after, timezone)


@contextmanager
def submission_workspace(
    instance: dg.DagsterInstance, module: str, location: str, working_directory: str
) -> Iterator[BaseWorkspaceRequestContext]:
    """The code location `location` (module `module`), served by a gRPC code server this
    process starts and stops, as `dagster job launch -m MODULE` does. Kept open while a
    run it launched is waited on: the default run launcher terminates a run through it.

    An instance whose run launcher executes each run in the submitting process (Dagster's
    synchronous launcher, for tests) needs no code server: the location is loaded here."""
    target: InProcessWorkspaceLoadTarget | ModuleTarget
    if isinstance(instance.run_launcher, SyncInMemoryRunLauncher):
        origin = LoadableTargetOrigin(module_name=module, working_directory=working_directory)
        target = InProcessWorkspaceLoadTarget(
            InProcessCodeLocationOrigin(origin, location_name=location)
        )
    else:
        target = ModuleTarget(
            module_name=module,
            attribute=None,
            working_directory=working_directory,
            location_name=location,
        )
    with WorkspaceProcessContext(
        instance, target, code_server_log_level="warning"
    ) as process_context:
        yield process_context.create_request_context()


def submit_run(
    instance: dg.DagsterInstance,
    workspace: BaseWorkspaceRequestContext,
    *,
    location: str,
    job_name: str,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str],
) -> dg.DagsterRun:
    """Create a run of `job_name` from the workspace's code location and submit it to the
    instance's run coordinator (queued, or launched at once), as `dagster job launch`
    does; returns the run as created."""
    code_location = workspace.get_code_location(location)
    (repository,) = code_location.get_repositories().values()
    remote_job = repository.get_full_job(job_name)
    plan = code_location.get_execution_plan(
        remote_job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
    ).execution_plan_snapshot
    run = instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=run_config,
        resolved_op_selection=None,
        step_keys_to_execute=plan.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**remote_job.tags, **tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repository.asset_graph,
    )
    return instance.submit_run(run.run_id, workspace)


def new_report_id() -> str:
    """An id to file a batch of results reported outside any run under (no run has it)."""
    return f"runless-{uuid.uuid4().hex}"


def report_check_evaluation(
    instance: dg.DagsterInstance, evaluation: dg.AssetCheckEvaluation, report_id: str
) -> None:
    """Record a check's result outside any run, as `report_runless_asset_event` does, but
    filed under `report_id` (from `new_report_id`, at most one result per check and
    partition each).

    Dagster 1.13 files every runless result under one run id and keeps at most one result
    per (check, run id, partition): the second runless result for a partition breaks that
    unique index. Filed under an id of their own, a day's results can be reported again
    each time an operator changes the day, each newer than the last.
    """
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.instance.utils import RUNLESS_JOB_NAME

    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
            event_specific_data=evaluation,
            job_name=RUNLESS_JOB_NAME,
        ),
        run_id=report_id,
    )


def forget_loaded_jobs() -> None:
    """Drop the job Dagster keeps from the last run executed in this process (a cache of
    one, process-wide, keyed by the code pointer and job name): a process that loads the
    definitions again for another home, as the tests do, must not run the previous home's
    resources. A run worker or a `releaf` command serves one home and never needs it."""
    from dagster._core.definitions.reconstruct import ReconstructableJob

    ReconstructableJob.get_definition.cache_clear()
    ReconstructableJob.get_repository_definition.cache_clear()
