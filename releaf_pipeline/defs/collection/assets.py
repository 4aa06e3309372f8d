"""Meter readings from MPS Monitor, and the daily page deposits computed from them."""

from dataclasses import asdict
from datetime import date

import dagster as dg

from releaf_pipeline.defs.collection.day_view import (
    DAILY_DEPOSITS_KEY,
    METER_READINGS_KEY,
    daily_deposits_figures,
    meter_readings_figures,
)
from releaf_pipeline.defs.collection.piece_summary import PieceSummary
from releaf_pipeline.defs.collection.pieces import collect_piece, plan_collection
from releaf_pipeline.defs.collection.publish import publish_from_step, record_figures
from releaf_pipeline.defs.failures import one_line_failures
from releaf_pipeline.defs.health.fleet import report_fleet_health
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.metadata import OWNERS
from releaf_pipeline.defs.partitions import SINGLE_RUN, daily_partitions, partition_days
from releaf_pipeline.defs.resources import ClockResource, RulesResource, StoreResource
from releaf_pipeline.launch import RUN_SUMMARY_TAG_PREFIX
from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.store.stale_days import mark_past_lookback
from releaf_pipeline.lib.store.step_outputs import prune_outputs

# The collector (httpx) and the accounting (pandas) are imported where the steps run:
# every command loads this code location, and most never run an asset.


@dg.op(out=dg.Out(dg.Nothing), tags={"releaf/part": "publish"})
@one_line_failures
def publish_readings(
    context: dg.AssetExecutionContext,
    pieces: list[dict],
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    """Once every piece is in: the run's figures, and each day's."""
    start, end = partition_days(context)
    engine = store.engine()
    _summarise_run(context, start, end, PieceSummary.total(pieces))
    # A collection evaluates the servers' and feeds' health as it goes: the UI shows it.
    report_fleet_health(context.instance, engine, clock.now().date(), rules)
    judged = rules.judged(clock.now().date())
    mark_past_lookback(engine, judged.today, judged.lookback_days)
    shown = meter_readings_figures(engine, days_between(start, end), judged)
    for day, metadata in shown.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
    record_figures(engine, METER_READINGS_KEY, shown, context.run.run_id)
    # Days outside the range that the run rewrote (the nights' re-read window, late
    # readings) or that changed since they were last shown get their figures too.
    publish_from_step(context, engine, METER_READINGS_KEY, published=(start, end), judged=judged)
    prune_outputs(engine, now=clock.now())


@dg.graph_asset(
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    group_name="collection",
    kinds={"python", "sql"},
    owners=OWNERS,
    tags={"cadence": "daily", "source": "mpsmonitor"},
)
def meter_readings() -> None:
    """Lifetime page counters of every active feed's devices, read from MPS Monitor.

    The run's feeds are cut into pieces, one per MPS Monitor server (a large server in
    shards of its customers, sharing its limit of requests in flight), each a step the
    run's executor can place on any worker. For each day of the partition range, every
    feed whose server answers its health check is collected (concurrently, bounded per
    server); its readings and devices are mirrored in the store (only DeviceID, Managed
    and the life count per date) and each feed-day is recorded as collected, paused
    (server unhealthy) or failed, with the reason. A failing feed never stops the others.

    Once every piece is in, each day of the range gets its own figures (feeds collected,
    paused, failed, paused by an operator, devices reporting, and the feeds not collected
    with what happens next), and so does every other day whose collection changed since
    it was shown; the run's requests, retries and time go to its log and `releaf/run.*`
    tags.
    """
    return publish_readings(plan_collection().map(collect_piece).collect())


def _summarise_run(
    context: dg.AssetExecutionContext, start: date, end: date, summary: PieceSummary
) -> None:
    """The run's own figures (requests, retries, time) go to its log and tags, not onto
    each day it covered."""
    figures = asdict(summary)
    safe_log(context).info(
        f"collected {start}..{end}: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
    )
    context.instance.add_run_tags(
        context.run.run_id, {f"{RUN_SUMMARY_TAG_PREFIX}{k}": str(v) for k, v in figures.items()}
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    deps=[
        dg.AssetDep(
            meter_readings, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1)
        )
    ],
    group_name="collection",
    kinds={"python", "sql"},
    owners=OWNERS,
    tags={"cadence": "daily"},
)
@one_line_failures
def daily_deposits(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    clock: ClockResource,
    rules: RulesResource,
) -> dg.MaterializeResult:
    """Pages deposited per account, feed and day, by the contract's accounting rules.

    A day's deposit needs the readings of that day and the one before. Each feed's
    deposits are recomputed from the earliest day whose inputs changed (a reading, a day's
    scope, the activation) and only changed days are rewritten, so any number of
    re-collections, in any order, give the same deposits; late readings move pages to
    their own dates. Meter resets and glitches are recorded as anomalies.

    Each day of the range gets its own pages, in total and per account, and so does
    every other day whose deposits were rewritten.
    """
    from releaf_pipeline.lib.store.deposits import update_deposits

    start, end = partition_days(context)
    engine = store.engine()
    summary = update_deposits(engine, now=clock.now())
    safe_log(context).info(
        f"deposits brought up to date: {summary.feeds} feed(s) recomputed, "
        f"{summary.days_written} feed-day(s) rewritten, {summary.readings_loaded} reading(s) "
        f"read, {summary.anomalies_new} new meter reset(s) or glitch(es)"
    )
    shown = daily_deposits_figures(engine, days_between(start, end))
    for day, metadata in shown.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
    record_figures(engine, DAILY_DEPOSITS_KEY, shown, context.run.run_id)
    # Deposits are recomputed for every feed and day whose inputs changed, in the range
    # or not: each day rewritten outside it is shown again with its own pages.
    publish_from_step(
        context, engine, DAILY_DEPOSITS_KEY, published=(start, end),
        judged=rules.judged(clock.now().date()),
    )  # fmt: skip
    return dg.MaterializeResult()
