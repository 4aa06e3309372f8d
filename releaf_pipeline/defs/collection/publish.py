"""Publishing the days the store rewrote, so that each day's view equals the store.

A run's steps record a materialization, with the day's own figures, for every day of
their asset the store marked as rewritten, not only the days of the run's range; the
daily checks then judge each partition the run materialized. Changes made outside a run
(an operator's `releaf feed ...` or `releaf server update`) are reported the same way,
outside any run. Only days that were materialized before are published again: a day
never collected stays missing, for the catch-up to see. A marked day whose figures and
check results would show what they already show is left as it is (`shown_days`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from releaf_pipeline.dagster_internals import new_report_id, report_check_evaluation
from releaf_pipeline.defs.check_results import check_evaluation, latest_materialization
from releaf_pipeline.defs.collection.day_metadata import SERIES_PREFIX
from releaf_pipeline.defs.collection.day_view import (
    DAILY_CHECKS,
    CheckOutcome,
    Judged,
    check_outcomes,
    figures,
)
from releaf_pipeline.defs.partitions import daily_partitions
from releaf_pipeline.lib.store.shown_days import FIGURES, record_shown, shown, unchanged
from releaf_pipeline.lib.store.stale_days import StaleDays, clear, pending


def figures_digest(metadata: Mapping[str, Any]) -> str:
    """A digest of a day's figures. The plotted series are left out: they repeat the
    per-account table, and which accounts are plotted depends on the days published
    together."""
    kept = {k: v for k, v in metadata.items() if not k.startswith(SERIES_PREFIX)}
    return _digest(kept)


def outcome_digest(outcome: CheckOutcome) -> str:
    """A digest of one check result, as the UI shows it."""
    return _digest(
        {
            "passed": outcome.passed,
            "severity": outcome.severity.value,
            "description": outcome.description,
            "metadata": dict(outcome.metadata),
        }
    )


def _digest(value: Any) -> str:
    return hashlib.sha256(dg.serialize_value(value).encode()).hexdigest()


@dataclass(frozen=True)
class DayView:
    """What a day of a daily asset shows: its figures and each check's result."""

    figures: dict[str, dg.MetadataValue]
    outcomes: dict[str, CheckOutcome]

    def digests(self) -> dict[str, str]:
        """Each part's digest, by part (`FIGURES`, then the checks by name)."""
        return {
            FIGURES: figures_digest(self.figures),
            **{name: outcome_digest(o) for name, o in self.outcomes.items()},
        }


def changed_views(
    engine: Engine, asset: dg.AssetKey, days: list[date], judged: Judged
) -> dict[date, DayView]:
    """The views of those `days` of `asset` that differ from what was last shown."""
    found = figures(engine, asset, days, judged)
    outcomes = {
        name: check_outcomes(engine, dg.AssetCheckKey(asset, name), list(found), judged)
        for name in DAILY_CHECKS[asset]
    }
    views = {d: DayView(f, {n: outcomes[n][d] for n in outcomes}) for d, f in found.items()}
    before = shown(engine, asset.path[-1], views)
    return {d: v for d, v in views.items() if not unchanged(before.get(d, {}), v.digests())}


def record_figures(
    engine: Engine, asset: dg.AssetKey, shown_figures: Mapping[date, Mapping[str, Any]], run_id: str
) -> None:
    """Record the figures of the days a run's step materializes as shown by the run."""
    digests = {d: figures_digest(m) for d, m in shown_figures.items()}
    record_shown(engine, asset.path[-1], FIGURES, digests, run_id)


def record_outcomes(
    engine: Engine, check: dg.AssetCheckKey, outcomes: Mapping[date, CheckOutcome], publication: str
) -> None:
    """Record a check's results, each judging the day's figures shown by `publication`."""
    digests = {d: outcome_digest(o) for d, o in outcomes.items()}
    record_shown(engine, check.asset_key.path[-1], check.name, digests, publication)


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
    (the run's range, which the step's own result covers) whose view changed; returns
    those days. The run's check steps then judge them."""
    taken = pending(engine, asset.path[-1])
    first, last = published
    outside = [d for d in taken.days if not first <= d <= last]
    days = republishable(context.instance, asset, outside, judged.today)
    views = changed_views(engine, asset, days, judged)
    for day, view in views.items():
        context.log_event(
            dg.AssetMaterialization(
                asset_key=asset, partition=day.isoformat(), metadata=view.figures
            )
        )
    record_figures(engine, asset, {d: v.figures for d, v in views.items()}, context.run.run_id)
    clear(engine, taken)
    return sorted(views)


def publish_runless(instance: dg.DagsterInstance, engine: Engine, judged: Judged) -> int:
    """Report each rewritten day's figures and check results of both daily assets
    outside any run, where they changed; returns how many day views were published."""
    count = 0
    report_id = new_report_id()
    for asset, checks in DAILY_CHECKS.items():
        taken: StaleDays = pending(engine, asset.path[-1])
        days = republishable(instance, asset, taken.days, judged.today)
        views = changed_views(engine, asset, days, judged)
        for day, view in views.items():
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=asset, partition=day.isoformat(), metadata=view.figures
                )
            )
        record_figures(engine, asset, {d: v.figures for d, v in views.items()}, report_id)
        for name in checks:
            key = dg.AssetCheckKey(asset, name)
            for day, view in views.items():
                outcome = view.outcomes[name]
                report_check_evaluation(
                    instance,
                    check_evaluation(
                        key, day.isoformat(),
                        target=latest_materialization(instance, asset, day.isoformat()),
                        passed=outcome.passed, severity=outcome.severity,
                        metadata=outcome.metadata, description=outcome.description,
                    ),
                    report_id,
                )  # fmt: skip
            record_outcomes(engine, key, {d: v.outcomes[name] for d, v in views.items()}, report_id)
        clear(engine, taken)
        count += len(views)
    return count
