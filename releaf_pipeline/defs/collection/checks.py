"""Checks on daily deposits, day by day: the day's pages are complete, they reconcile with
the readings, and the anomalies found in the meters are named."""

from datetime import date

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits
from releaf_pipeline.defs.collection.day_view import CheckOutcome, check_outcomes
from releaf_pipeline.defs.collection.publish import record_outcomes
from releaf_pipeline.defs.partitioned import checked_targets, partitioned_check, report
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


@partitioned_check(
    asset=daily_deposits,
    name="deposits_complete",
    description=(
        "Every feed the day expects was collected, so its pages are all there: WARN while "
        "the catch-up will collect the missing feed-days, ERROR once a person must act "
        "(a failure no retry fixes, a feed paused by an operator, a day past the look-back)."
    ),
)
def deposits_complete(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    """Fails on each day with a feed not collected, naming it and what happens next."""
    report_days(context, store, clock, rules)


@partitioned_check(
    asset=daily_deposits,
    name="deposits_reconcile",
    description=(
        "Each day's stored deposits equal a recomputation from the mirrored readings "
        "(ERROR otherwise)."
    ),
)
def deposits_reconcile(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    """Recomputes the days from the readings, each device seeded by its own latest
    reading before them, and fails on each day where a stored deposit differs."""
    report_days(context, store, clock, rules)


@partitioned_check(
    asset=daily_deposits,
    name="meter_anomalies",
    description=(
        "Meter resets, meter glitches and impossible counters found on the day, each named "
        "with its feed and device (WARN)."
    ),
)
def meter_anomalies(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    """Fails (WARN) on each day with a meter reset or glitch or an impossible reading,
    listing them."""
    report_days(context, store, clock, rules)
