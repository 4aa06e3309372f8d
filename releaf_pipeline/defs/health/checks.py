"""Checks on meter readings, day by day: feeds fresh, and every feed-day collected."""

import dagster as dg

from releaf_pipeline.defs.collection.assets import meter_readings
from releaf_pipeline.defs.collection.checks import report_days
from releaf_pipeline.defs.partitioned import partitioned_check
from releaf_pipeline.defs.resources import ClockResource, RulesResource, StoreResource


@partitioned_check(
    asset=meter_readings,
    name="feeds_fresh",
    description="Every feed has new data within 3 business days (WARN otherwise), day by day.",
)
def feeds_fresh(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    """Fails on each day on which some feed was unhealthy, naming it, since when and why."""
    report_days(context, store, clock, rules)


@partitioned_check(
    asset=meter_readings,
    name="feeds_collected",
    description=(
        "Every feed-day collected: WARN while the catch-up will retry the paused or failed "
        "ones, ERROR once it has given up or a person must act (a feed paused by an "
        "operator is named on each day it misses)."
    ),
)
def feeds_collected(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    """Fails on each day with a paused or failed feed, naming it, why, and what happens
    next."""
    report_days(context, store, clock, rules)
