"""Daily assets run as one run per range, and checks evaluated partition by partition.

Both use Dagster features that 1.13 labels beta (a single-run backfill policy) or preview
(partitioned checks) and warns about each time the code location loads, which every
`releaf` command does. The warnings say nothing an operator can act on, so they are
silenced here, where these definitions are made, and nowhere else.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

import dagster as dg

from releaf_pipeline.dagster_internals import AssetCheckEvaluationTargetMaterializationData
from releaf_pipeline.defs.failures import one_line_failures
from releaf_pipeline.defs.partitions import daily_partitions


@contextmanager
def _labelled_features() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.PreviewWarning)
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        yield


def daily_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`dg.asset` on the daily partitions, a range of days materialized in one run."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        with _labelled_features():
            return dg.asset(
                partitions_def=daily_partitions,
                backfill_policy=dg.BackfillPolicy.single_run(),
                **kwargs,
            )(one_line_failures(fn))

    return decorate


def partitioned_check(
    *, partitions_def: dg.PartitionsDefinition = daily_partitions, **kwargs: Any
) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
    """`dg.asset_check` on partitions, never blocking: a ranged run gets one result per
    day, each reported with `report`."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetChecksDefinition:
        with _labelled_features():
            return dg.asset_check(partitions_def=partitions_def, blocking=False, **kwargs)(
                one_line_failures(fn)
            )

    return decorate


def checked_keys(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The partition keys the check evaluates: every key of the run's range, and every
    other partition of its asset the run materialized (a day the run rewrote)."""
    (spec,) = context.check_specs
    keys = set(context.partition_keys)
    keys |= materialized_in_run(context.instance, spec.asset_key, context.run.run_id)
    return sorted(keys)


def materialized_in_run(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, run_id: str
) -> set[str]:
    """The partitions of `asset_key` that the run `run_id` materialized so far."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return set()
    found: set[str] = set()
    cursor = None
    while True:
        page = instance.fetch_materializations(
            # A day's margin: whatever the clock or zone the run's creation was stored in,
            # nothing the run wrote is missed; other runs' records are left out below.
            dg.AssetRecordsFilter(
                asset_key=asset_key,
                after_timestamp=record.create_timestamp.timestamp() - 86400,
            ),
            limit=1000,
            cursor=cursor,
        )
        found |= {r.partition_key for r in page.records if r.run_id == run_id and r.partition_key}
        if not page.has_more:
            return found
        cursor = page.cursor


def checked_days(context: dg.AssetCheckExecutionContext) -> list[date]:
    """The days a daily check evaluates, oldest first."""
    return [date.fromisoformat(k) for k in checked_keys(context)]


def check_evaluation(
    instance: dg.DagsterInstance,
    check: dg.AssetCheckKey,
    key: str,
    *,
    passed: bool,
    severity: dg.AssetCheckSeverity,
    metadata: Mapping[str, Any],
    description: str,
) -> dg.AssetCheckEvaluation:
    """One partition's result of `check`, judging the partition's latest materialization."""
    return dg.AssetCheckEvaluation(
        asset_key=check.asset_key,
        check_name=check.name,
        passed=passed,
        metadata=metadata,
        severity=severity,
        description=description,
        partition=key,
        target_materialization_data=_latest_materialization(instance, check.asset_key, key),
    )


def report(
    context: dg.AssetCheckExecutionContext,
    key: str,
    *,
    passed: bool,
    severity: dg.AssetCheckSeverity,
    metadata: Mapping[str, Any],
    description: str,
) -> None:
    """One partition's result of the check being executed."""
    (spec,) = context.check_specs
    context.op_execution_context.log_event(
        check_evaluation(
            context.instance, spec.key, key, passed=passed, severity=severity,
            metadata=metadata, description=description,
        )
    )  # fmt: skip


def _latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, key: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    # The result judges the partition's latest materialization: without this pointer the
    # UI counts the result against none and shows the partition's check as missing.
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    )
    if not found.records:
        return None
    record = found.records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id,
        run_id=record.event_log_entry.run_id,
        timestamp=record.timestamp,
    )
