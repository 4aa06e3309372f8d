"""Partitioned checks' results: which partitions a check evaluates, and each result
pointed at the materialization it judges, so the UI counts it against that partition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from releaf_pipeline.dagster_internals import AssetCheckEvaluationTargetMaterializationData

Target = AssetCheckEvaluationTargetMaterializationData | None
"""The materialization a partition's check result judges (None: it has none yet)."""


def checked_targets(context: dg.AssetCheckExecutionContext) -> dict[str, Target]:
    """The partition keys the check evaluates, each with the materialization it judges:
    every key of the run's range, and every other partition of its asset the run
    materialized (a day the run rewrote). A partition the run materialized is judged by
    that materialization, any other by its latest."""
    (spec,) = context.check_specs
    mine = materialized_in_run(context.instance, spec.asset_key, context.run.run_id)
    keys = set(context.partition_keys) | set(mine)
    return {
        k: mine[k] if k in mine else latest_materialization(context.instance, spec.asset_key, k)
        for k in sorted(keys)
    }


def materialized_in_run(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, run_id: str
) -> dict[str, Target]:
    """The partitions of `asset_key` that the run `run_id` materialized so far, each with
    its latest materialization in the run."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return {}
    found: dict[str, Target] = {}
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
        for r in page.records:  # newest first
            if r.run_id == run_id and r.partition_key and r.partition_key not in found:
                found[r.partition_key] = _target(r)
        if not page.has_more:
            return found
        cursor = page.cursor


def check_evaluation(
    check: dg.AssetCheckKey,
    key: str,
    *,
    target: Target,
    passed: bool,
    severity: dg.AssetCheckSeverity,
    metadata: Mapping[str, Any],
    description: str,
) -> dg.AssetCheckEvaluation:
    """One partition's result of `check`, judging the materialization `target`."""
    return dg.AssetCheckEvaluation(
        asset_key=check.asset_key,
        check_name=check.name,
        passed=passed,
        metadata=metadata,
        severity=severity,
        description=description,
        partition=key,
        # Without this pointer the UI counts the result against no materialization and
        # shows the partition's check as missing.
        target_materialization_data=target,
    )


def report(context: dg.AssetCheckExecutionContext, key: str, **result: Any) -> None:
    """One partition's result of the check being executed (`result`: the keywords of
    `check_evaluation`)."""
    (spec,) = context.check_specs
    context.op_execution_context.log_event(check_evaluation(spec.key, key, **result))


def latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, key: str
) -> Target:
    """The partition's latest materialization, for a check result to judge."""
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    )
    return _target(found.records[0]) if found.records else None


def _target(record: dg.EventLogRecord) -> AssetCheckEvaluationTargetMaterializationData:
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id,
        run_id=record.event_log_entry.run_id,
        timestamp=record.timestamp,
    )
