"""The only names taken from Dagster's private modules, each with why it has no public one.

Dagster 1.13 gives these no public name. They are kept here, and nowhere else, so that a
Dagster upgrade that moves or changes one breaks this module alone, and
`releaf_pipeline_tests/test_dagster_internals.py` says which.
"""

from __future__ import annotations

from datetime import datetime

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
    "next_cron_tick",
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
