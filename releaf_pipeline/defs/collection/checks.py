"""Checks on daily deposits, day by day: the day's pages are complete, they reconcile with
the readings, and the anomalies found in the meters are named."""

from datetime import date

import dagster as dg

from releaf_pipeline.defs.check_results import checked_targets, report
from releaf_pipeline.defs.collection.assets import daily_deposits
from releaf_pipeline.defs.collection.day_view import CheckOutcome, check_outcomes
from releaf_pipeline.defs.collection.publish import record_outcomes
from releaf_pipeline.defs.failures import one_line_failures
from releaf_pipeline.defs.partitions import daily_partitions
from releaf_pipeline.defs.resources import ClockResource, RulesResource, StoreResource


def report_days(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    """Report the check being executed on each day it evaluates, as `day_view` judges it,
    and record each result as shown."""
    (spec,) = context.check_specs
    judged = rules.judged(clock.now().date())
    targets = {date.fromisoformat(k): t for k, t in checked_targets(context).items()}
    outcomes = check_outcomes(store.engine(), spec.key, list(targets), judged)
    by_publication: dict[str, dict[date, CheckOutcome]] = {}
    for day, o in outcomes.items():
        target = targets[day]
        report(
            context, day.isoformat(), target=target, passed=o.passed,
            severity=o.severity, metadata=o.metadata, description=o.description,
        )  # fmt: skip
        # A result judges the figures of the run that materialized its day.
        publication = target.run_id if target is not None else context.run.run_id
        by_publication.setdefault(publication, {})[day] = o
    for publication, shown in by_publication.items():
        record_outcomes(store.engine(), spec.key, shown, publication)


def day_check(asset: dg.AssetsDefinition, name: str, description: str) -> dg.AssetChecksDefinition:
    """A check of `asset` with a result for each day a run evaluates, judged by `day_view`
    (the check is known there by `name`)."""

    @dg.asset_check(
        asset=asset, name=name, description=description, partitions_def=daily_partitions,
        blocking=False,
    )  # fmt: skip
    @one_line_failures
    def check(
        context: dg.AssetCheckExecutionContext,
        store: StoreResource,
        clock: ClockResource,
        rules: RulesResource,
    ) -> None:
        report_days(context, store, clock, rules)

    return check


deposits_complete = day_check(
    daily_deposits,
    "deposits_complete",
    "Every feed the day expects was collected, so its pages are all there: WARN while the "
    "catch-up will collect the missing feed-days, ERROR once a person must act (a failure "
    "no retry fixes, a feed paused by an operator, a day past the look-back); each feed "
    "not collected is named with what happens next.",
)
deposits_reconcile = day_check(
    daily_deposits,
    "deposits_reconcile",
    "Each day's stored deposits equal a recomputation from the mirrored readings, each "
    "device seeded by its own latest reading before the day (ERROR otherwise).",
)
meter_anomalies = day_check(
    daily_deposits,
    "meter_anomalies",
    "Meter resets, meter glitches and impossible counters found on the day, each named "
    "with its feed and device (WARN).",
)
