"""Checks on meter readings, day by day: feeds fresh, and every feed-day collected."""

from datetime import date

import dagster as dg

from releaf_pipeline.defs.collection.assets import meter_readings
from releaf_pipeline.defs.collection.day_metadata import NOT_COLLECTED_COLUMNS, not_collected_rows
from releaf_pipeline.defs.metadata import table
from releaf_pipeline.defs.partitioned import checked_days, partitioned_check, report
from releaf_pipeline.defs.resources import ClockResource, StoreResource
from releaf_pipeline.lib.catchup import next_step
from releaf_pipeline.lib.store.registry import list_feeds, list_servers
from releaf_pipeline.settings import read_settings

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


@partitioned_check(
    asset=meter_readings,
    name="feeds_fresh",
    description="Every feed has new data within 3 business days (WARN otherwise), day by day.",
)
def feeds_fresh(context: dg.AssetCheckExecutionContext, store: StoreResource) -> None:
    """Fails on each day on which some feed was unhealthy, naming it, since when and why."""
    from releaf_pipeline.lib.store.health import unhealthy_feeds_between

    days = checked_days(context)
    engine = store.engine()
    feeds = {f.id: f for f in list_feeds(engine, removed=True)}
    unhealthy = unhealthy_feeds_between(engine, days[0], days[-1])
    for day in days:
        rows = [
            (feeds[fid].server_name, feeds[fid].customer_code, feeds[fid].account, since, why)
            for fid, since, why in unhealthy[day]
            if fid in feeds
        ]
        names = ", ".join(f"{r[1]} ({r[0]})" for r in rows)
        report(
            context, day.isoformat(), passed=not rows, severity=WARN,
            description=f"no new data for 3 business days: {names}" if rows else "every feed fresh",
            metadata={
                "unhealthy_feeds": len(rows),
                "unhealthy": table(
                    [("server", "string"), ("customer", "string"), ("account", "string"),
                     ("since", "date"), ("why", "string")],
                    rows,
                ),
            },
        )  # fmt: skip


@partitioned_check(
    asset=meter_readings,
    name="feeds_collected",
    description=(
        "Every feed-day collected: WARN while the catch-up will retry the paused or failed "
        "ones, ERROR once it has given up or a person must act."
    ),
)
def feeds_collected(
    context: dg.AssetCheckExecutionContext, store: StoreResource, clock: ClockResource
) -> None:
    """Fails on each day with a paused or failed feed, naming it, why, and what happens
    next."""
    from releaf_pipeline.lib.store.days import collection_days

    days = checked_days(context)
    engine = store.engine()
    lookback = read_settings().catchup_lookback_days
    now = clock.now().date()
    healthy = {s.id: bool(s.healthy) for s in list_servers(engine)}
    for day in collection_days(engine, days[0], days[-1]):
        rows = not_collected_rows(day, today=now, server_healthy=healthy, lookback_days=lookback)
        automatic = all(
            next_step(p.status, p.reason, day.day, today=now, server=p.feed.server_name,
                      server_healthy=healthy.get(p.feed.server_id, False),
                      customer_code=p.feed.customer_code, lookback_days=lookback).automatic
            for p in day.problems
        )  # fmt: skip
        report(
            context, day.day.isoformat(), passed=not rows,
            severity=WARN if automatic else ERROR,
            description=_describe(day.day, rows),
            metadata={
                "feeds_paused": day.paused,
                "feeds_failed": day.failed,
                "feeds_not_collected": table(NOT_COLLECTED_COLUMNS, rows),
            },
        )  # fmt: skip


def _describe(day: date, rows: list[tuple[str, ...]]) -> str:
    if not rows:
        return f"every feed collected on {day}"
    shown = "; ".join(f"{r[1]} on {r[0]} {r[3]} ({r[4]}): {r[5]}" for r in rows[:5])
    more = f"; and {len(rows) - 5} more" if len(rows) > 5 else ""
    return f"{len(rows)} feed(s) not collected on {day}: {shown}{more}"
