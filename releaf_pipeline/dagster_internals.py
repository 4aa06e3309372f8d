"""The only names taken from Dagster's private modules, each with why it has no public one.

Dagster 1.13 gives these no public name. They are kept here, and nowhere else, so that a
Dagster upgrade that moves or changes one breaks this module alone, and
`releaf_pipeline_tests/test_dagster_internals.py` says which.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import dagster as dg

# The materialization a partitioned check's result judges: without it the UI counts the
# result against none and shows the partition's check as missing (partitioned checks are
# a preview feature of 1.13).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# The tags by which one run covers a range of partitions: what a single-run backfill sets.
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "AssetCheckEvaluationTargetMaterializationData",
    "is_valid_cron",
    "new_report_id",
    "next_cron_tick",
    "report_check_evaluation",
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
