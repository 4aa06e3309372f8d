"""Publishing the days the store rewrote, so that each day's view equals the store.

A run's steps record a materialization, with the day's own figures, for every day of
their asset the store marked as rewritten, not only the days of the run's range; the
daily checks then judge each partition the run materialized. Changes made outside a run
(an operator's `releaf feed ...` or `releaf server update`) are reported the same way,
outside any run. Only days that were materialized before are published again: a day
never collected stays missing, for the catch-up to see.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
from sqlalchemy.engine import Engine

from releaf_pipeline.dagster_internals import new_report_id, report_check_evaluation
from releaf_pipeline.defs.collection.day_view import (
    DAILY_CHECKS,
    Judged,
    check_outcomes,
    figures,
)
from releaf_pipeline.defs.partitioned import check_evaluation
from releaf_pipeline.defs.partitions import daily_partitions
from releaf_pipeline.lib.store.stale_days import StaleDays, clear, pending


def republishable(
    instance: dg.DagsterInstance, asset: dg.AssetKey, days: list[date], today: date
) -> list[date]:
    """The days among `days` that are partitions of `asset` already materialized."""
    first = date.fromisoformat(daily_partitions.start.strftime("%Y-%m-%d"))
    keys = [d.isoformat() for d in days if first <= d < today]
    if not keys:
        return []
    status = instance.get_status_by_partition(asset, keys, daily_partitions) or {}
    done = dg.AssetPartitionStatus.MATERIALIZED
    return [date.fromisoformat(k) for k in keys if status.get(k) == done]


def publish_from_step(
    context: dg.AssetExecutionContext,
    engine: Engine,
    asset: dg.AssetKey,
    *,
    published: tuple[date, date],
    judged: Judged,
) -> list[date]:
    """Record a materialization of `asset` for every rewritten day outside `published`
    (the run's range, which the step's own result covers); returns those days."""
    taken = pending(engine, asset.path[-1])
    first, last = published
    outside = [d for d in taken.days if not first <= d <= last]
    days = republishable(context.instance, asset, outside, judged.today)
    for day, metadata in figures(engine, asset, days, judged).items():
        context.log_event(
            dg.AssetMaterialization(asset_key=asset, partition=day.isoformat(), metadata=metadata)
        )
    clear(engine, taken)
    return days


def publish_runless(instance: dg.DagsterInstance, engine: Engine, judged: Judged) -> int:
    """Report each rewritten day's figures and check results of both daily assets
    outside any run; returns how many day views were published."""
    count = 0
    report_id = new_report_id()
    for asset, checks in DAILY_CHECKS.items():
        taken: StaleDays = pending(engine, asset.path[-1])
        days = republishable(instance, asset, taken.days, judged.today)
        for day, metadata in figures(engine, asset, days, judged).items():
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=asset, partition=day.isoformat(), metadata=metadata
                )
            )
        for name in checks:
            key = dg.AssetCheckKey(asset, name)
            for day, outcome in check_outcomes(engine, key, days, judged).items():
                report_check_evaluation(
                    instance,
                    check_evaluation(
                        instance, key, day.isoformat(), passed=outcome.passed,
                        severity=outcome.severity, metadata=outcome.metadata,
                        description=outcome.description,
                    ),
                    report_id,
                )  # fmt: skip
        clear(engine, taken)
        count += len(days)
    return count
