"""Meter readings from MPS Monitor, and the daily page deposits computed from them."""

import asyncio
import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from releaf_pipeline.defs.collection.day_view import (
    DAILY_DEPOSITS_KEY,
    METER_READINGS_KEY,
    Judged,
    daily_deposits_figures,
    meter_readings_figures,
)
from releaf_pipeline.defs.collection.publish import publish_from_step, record_figures
from releaf_pipeline.defs.health.fleet import report_fleet_health
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.metadata import OWNERS
from releaf_pipeline.defs.partitioned import daily_asset
from releaf_pipeline.defs.resources import ClockResource, MPSMonitorResource, StoreResource
from releaf_pipeline.launch import PROGRESS_TAG, RUN_SUMMARY_TAG_PREFIX, CollectionConfig
from releaf_pipeline.lib.store.collection import COLLECTED, FAILED, PAUSED, days_between
from releaf_pipeline.lib.store.stale_days import mark_past_lookback
from releaf_pipeline.settings import read_settings

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from releaf_pipeline.lib.collector import CollectionReport

# The collector (httpx) and the accounting (pandas) are imported where the assets run:
# every command loads this code location, and most never run an asset.


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the run's partition range."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


@daily_asset(
    pool="mpsmonitor",
    group_name="collection",
    kinds={"python", "sql"},
    owners=OWNERS,
    tags={"cadence": "daily", "source": "mpsmonitor"},
)
def meter_readings(
    context: dg.AssetExecutionContext,
    config: CollectionConfig,
    store: StoreResource,
    mpsmonitor: MPSMonitorResource,
    clock: ClockResource,
) -> dg.MaterializeResult:
    """Lifetime page counters of every active feed's devices, read from MPS Monitor.

    For each day of the partition range, every feed whose server answers its health
    check is collected (concurrently, bounded per server); its readings and devices are
    mirrored in the store (only DeviceID, Managed and the life count per date) and each
    feed-day is recorded as collected, paused (server unhealthy) or failed, with the
    reason. A failing feed never stops the others.

    Each day of the range gets its own figures (feeds collected, paused, failed, paused
    by an operator, devices reporting, and the feeds not collected with what happens
    next), and so does every other day whose collection changed since it was shown; the
    run's requests, retries and time go to its log and `releaf/run.*` tags.
    """
    from releaf_pipeline.lib.collector import CollectionReport, collect
    from releaf_pipeline.lib.store.feed_names import find_feeds
    from releaf_pipeline.lib.store.registry import RegistryError, list_feeds, list_servers

    start, end = partition_days(context)
    engine = store.engine()
    servers = {s.id: s for s in list_servers(engine)}
    # Feeds an operator paused are left out until resumed.
    feeds = [f for f in list_feeds(engine) if f.activation_date <= end and f.collected]
    if config.feeds or config.feed_ids:
        try:
            feeds, unknown = find_feeds(feeds, config.feeds, config.feed_ids, server=config.server)
        except RegistryError as exc:
            raise dg.Failure(str(exc)) from None
        if unknown:
            raise dg.Failure(
                f"no feed active by {end} for {', '.join(unknown)}: see `releaf feed list`"
            )
    safe_log(context).info(f"collecting {len(feeds)} feed(s) for {start}..{end}")
    report = CollectionReport(start, end)
    work = collect(
        engine,
        store.cipher(),
        servers,
        feeds,
        start,
        end,
        settings=mpsmonitor.settings(),
        run_id=context.run.run_id,
        now=clock.now,
        holidays=read_settings().holidays,
        report=report,
    )
    asyncio.run(_with_progress(context, work, report))
    for o in report.outcomes:
        for day, healthy in o.health_changes:
            state = "fresh again" if healthy else "UNHEALTHY (no new data for 3 business days)"
            safe_log(context).warning(f"feed {o.customer_code} ({o.server}) is {state} on {day}")
    for o in report.outcomes:
        if o.status != COLLECTED:
            safe_log(context).warning(
                f"feed {o.customer_code} ({o.server}, account {o.account}) {o.status}: {o.reason}"
            )
    _summarise_run(context, report)
    # A collection evaluates the servers' and feeds' health as it goes: the UI shows it.
    report_fleet_health(context.instance, engine, clock.now().date())
    judged = Judged(clock.now().date(), read_settings().catchup_lookback_days)
    mark_past_lookback(engine, judged.today, judged.lookback_days)
    shown = meter_readings_figures(engine, days_between(start, end), judged)
    for day, metadata in shown.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
    record_figures(engine, METER_READINGS_KEY, shown, context.run.run_id)
    # Days outside the range that the run rewrote (the nights' re-read window, late
    # readings) or that changed since they were last shown get their figures too.
    publish_from_step(context, engine, METER_READINGS_KEY, published=(start, end), judged=judged)
    return dg.MaterializeResult()


PROGRESS_SECONDS = 1.0
"""How often the run's progress tag is brought up to date (the waiting command shows it)."""
HEARTBEAT_SECONDS = 30.0
"""How often a run in progress says so in its log: the catch-up takes a collection whose
log has been silent for long as one whose worker is gone."""


async def _with_progress(
    context: dg.AssetExecutionContext, work: "Coroutine[Any, Any, Any]", report: "CollectionReport"
) -> None:
    """Run the collection `work`, keeping the run's progress tag up to date and logging
    progress now and then, so that the run is seen to be alive."""
    task = asyncio.ensure_future(work)
    shown, said = "", time.monotonic()
    while not task.done():
        await asyncio.wait([task], timeout=PROGRESS_SECONDS)
        progress = f"{report.feeds_done}/{report.feeds_planned}"
        if progress != shown:
            shown = progress
            context.instance.add_run_tags(context.run.run_id, {PROGRESS_TAG: progress})
        if time.monotonic() - said >= HEARTBEAT_SECONDS:
            said = time.monotonic()
            safe_log(context).info(f"collecting: {progress} feeds done")
    task.result()


def _summarise_run(context: dg.AssetExecutionContext, report: "CollectionReport") -> None:
    """The run's own figures (requests, retries, time) go to its log and tags, not onto
    each day it covered."""
    summary = {
        "feeds_collected": report.count(COLLECTED),
        "feeds_paused": report.count(PAUSED),
        "feeds_failed": report.count(FAILED),
        "readings_changed": sum(o.readings_changed for o in report.outcomes),
        "requests": report.requests,
        "retries": report.retries,
        "seconds": round(report.seconds, 1),
    }
    safe_log(context).info(
        f"collected {report.start}..{report.end}: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items())
    )
    context.instance.add_run_tags(
        context.run.run_id, {f"{RUN_SUMMARY_TAG_PREFIX}{k}": str(v) for k, v in summary.items()}
    )


@daily_asset(
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
def daily_deposits(
    context: dg.AssetExecutionContext, store: StoreResource, clock: ClockResource
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
        judged=Judged(clock.now().date(), read_settings().catchup_lookback_days),
    )  # fmt: skip
    return dg.MaterializeResult()
