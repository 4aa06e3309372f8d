"""Meter readings from MPS Monitor, and the daily page deposits computed from them."""

import asyncio
from datetime import date, timedelta

import dagster as dg

from releaf_pipeline.defs.partitions import daily_partitions
from releaf_pipeline.defs.resources import ClockResource, MPSMonitorResource, StoreResource
from releaf_pipeline.launch import CollectionConfig
from releaf_pipeline.lib.markdown import markdown_table
from releaf_pipeline.settings import read_settings

# The collector (httpx) and the accounting (pandas) are imported where the assets run:
# every command loads this code location, and most never run an asset.


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the run's partition range."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="mpsmonitor",
    group_name="collection",
    kinds={"python", "sql"},
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
    """
    from releaf_pipeline.lib.collector import collect
    from releaf_pipeline.lib.store.collection import COLLECTED, FAILED, PAUSED
    from releaf_pipeline.lib.store.registry import find_feeds, list_feeds, list_servers

    start, end = partition_days(context)
    engine = store.engine()
    servers = {s.id: s for s in list_servers(engine)}
    feeds = [f for f in list_feeds(engine) if f.activation_date <= end]
    if config.feeds or config.feed_ids:
        feeds, unknown = find_feeds(feeds, config.feeds, config.feed_ids)
        if unknown:
            raise dg.Failure(
                f"no feed active by {end} for {', '.join(unknown)}: see `releaf feed list`"
            )
    context.log.info(f"collecting {len(feeds)} feed(s) for {start}..{end}")
    report = asyncio.run(
        collect(
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
        )
    )
    for o in report.outcomes:
        for day, healthy in o.health_changes:
            state = "fresh again" if healthy else "UNHEALTHY (no new data for 3 business days)"
            context.log.warning(f"feed {o.customer_code} ({o.server}) is {state} on {day}")
    for o in report.outcomes:
        if o.status != COLLECTED:
            context.log.warning(
                f"feed {o.customer_code} ({o.server}, account {o.account}) {o.status}: {o.reason}"
            )
    problems = [o for o in report.outcomes if o.status != COLLECTED]
    return dg.MaterializeResult(
        metadata={
            "days": f"{start}..{end}",
            "feeds_collected": report.count(COLLECTED),
            "feeds_paused": report.count(PAUSED),
            "feeds_failed": report.count(FAILED),
            "devices": sum(o.devices for o in report.outcomes),
            "readings_changed": sum(o.readings_changed for o in report.outcomes),
            "requests": report.requests,
            "retries": report.retries,
            "duration_seconds": round(report.seconds, 3),
            "feeds_not_collected": dg.MetadataValue.md(
                markdown_table(
                    ["server", "customer", "account", "status", "reason"],
                    [(o.server, o.customer_code, o.account, o.status, o.reason) for o in problems],
                )
                if problems
                else "every feed collected"
            ),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(
            meter_readings, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1)
        )
    ],
    group_name="collection",
    kinds={"python", "sql"},
)
def daily_deposits(
    context: dg.AssetExecutionContext, store: StoreResource, clock: ClockResource
) -> dg.MaterializeResult:
    """Pages deposited per account, feed and day, by the contract's accounting rules.

    A day's deposit needs the readings of that day and the one before. Each feed's
    deposits are recomputed from the earliest day whose inputs changed (a reading, a day's
    scope, the activation) and only changed days are rewritten, so any number of
    re-collections, in any order, give the same deposits; late readings move pages to
    their own dates. Meter resets are recorded as anomalies.
    """
    from releaf_pipeline.lib.store.deposits import update_deposits
    from releaf_pipeline.lib.store.reports import account_day_pages

    start, end = partition_days(context)
    engine = store.engine()
    summary = update_deposits(engine, now=clock.now())
    per_account: dict[str, int] = {}
    for (account, _day), pages in account_day_pages(engine, start, end).items():
        per_account[account] = per_account.get(account, 0) + pages
    total = sum(per_account.values())
    return dg.MaterializeResult(
        metadata={
            "days": f"{start}..{end}",
            "feeds": summary.feeds,
            "pages": total,
            "deposit_days_rewritten": summary.days_written,
            "readings_loaded": summary.readings_loaded,
            "new_anomalies": summary.anomalies_new,
            "pages_per_account": dg.MetadataValue.md(
                markdown_table(["account", "pages"], sorted(per_account.items()))
                if per_account
                else "no deposits in range"
            ),
        }
    )
