"""The freshness check on meter readings."""

from datetime import timedelta

import dagster as dg

from releaf_pipeline.defs.collection.assets import meter_readings
from releaf_pipeline.defs.partitions import daily_partitions
from releaf_pipeline.defs.resources import StoreResource
from releaf_pipeline.lib.markdown import markdown_table
from releaf_pipeline.lib.store.health import unhealthy_feeds_on
from releaf_pipeline.lib.store.registry import list_feeds


@dg.asset_check(
    asset=meter_readings,
    name="feeds_fresh",
    partitions_def=daily_partitions,
    blocking=False,
    description="Every feed has new data within 3 business days (WARN otherwise).",
)
def feeds_fresh(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    """Lists, per day of the run, the feeds unhealthy on that day, since when and why."""
    op = context.op_execution_context
    if op.has_partition_key_range:
        rng = op.partition_key_range
        start = daily_partitions.time_window_for_partition_key(rng.start).start.date()
        end = daily_partitions.time_window_for_partition_key(rng.end).start.date()
    else:
        start = end = daily_partitions.time_window_for_partition_key(op.partition_key).start.date()
    engine = store.engine()
    feeds = {f.id: f for f in list_feeds(engine)}
    rows = []
    day = start
    while day <= end:
        for feed_id, since, reason in unhealthy_feeds_on(engine, day):
            f = feeds[feed_id]
            rows.append((day, f.server_name, f.customer_code, f.account, since, reason))
        day += timedelta(days=1)
    last_day = [r for r in rows if r[0] == end]
    return dg.AssetCheckResult(
        passed=not last_day,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "days": f"{start}..{end}",
            "unhealthy_feeds": len(last_day),
            "unhealthy": dg.MetadataValue.md(
                markdown_table(["day", "server", "customer", "account", "since", "why"], rows)
                if rows
                else "every feed fresh"
            ),
        },
    )
