"""Checks on daily deposits, day by day: they reconcile with the readings, and the
anomalies found in the meters are named."""

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits
from releaf_pipeline.defs.metadata import table
from releaf_pipeline.defs.partitioned import checked_days, partitioned_check, report
from releaf_pipeline.defs.resources import StoreResource
from releaf_pipeline.lib.store.registry import list_feeds


@partitioned_check(
    asset=daily_deposits,
    name="deposits_reconcile",
    description=(
        "Each day's stored deposits equal a recomputation from the mirrored readings "
        "(ERROR otherwise)."
    ),
)
def deposits_reconcile(context: dg.AssetCheckExecutionContext, store: StoreResource) -> None:
    """Recomputes the run's days from the readings, each device seeded by its own latest
    reading before them, and fails on each day where a stored deposit differs."""
    from releaf_pipeline.lib.store.deposits import reconcile_deposits

    days = checked_days(context)
    engine = store.engine()
    feeds = {f.id: f for f in list_feeds(engine)}
    wrong: dict = {}
    for m in reconcile_deposits(engine, days[0], days[-1]):
        wrong.setdefault(m.day, []).append(m)
    for day in days:
        found = wrong.get(day, [])
        rows = [
            (feeds[m.feed_id].server_name, feeds[m.feed_id].customer_code,
             feeds[m.feed_id].account, m.stored, m.expected)
            for m in found
        ]  # fmt: skip
        report(
            context, day.isoformat(), passed=not rows, severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{len(rows)} feed deposit(s) differ from their readings: rematerialize "
                "daily_deposits for this day, and report it if it persists"
                if rows else "every deposit matches its readings"
            ),
            metadata={
                "mismatches": len(rows),
                "differences": table(
                    [("server", "string"), ("customer", "string"), ("account", "string"),
                     ("stored", "int"), ("from readings", "int")],
                    rows,
                ),
            },
        )  # fmt: skip


@partitioned_check(
    asset=daily_deposits,
    name="meter_anomalies",
    description=(
        "Meter resets, meter glitches and impossible counters found on the day, each named "
        "with its feed and device (WARN)."
    ),
)
def meter_anomalies(context: dg.AssetCheckExecutionContext, store: StoreResource) -> None:
    """Fails (WARN) on each day with a meter reset or glitch or an impossible reading,
    listing them."""
    from releaf_pipeline.lib.store.days import anomalies_between

    days = checked_days(context)
    by_day: dict = {}
    for a in anomalies_between(store.engine(), days[0], days[-1]):
        by_day.setdefault(a.day, []).append(a)
    for day in days:
        found = by_day.get(day, [])
        rows = [
            (a.feed.server_name, a.feed.customer_code, a.feed.account, a.device_id, a.kind,
             a.previous_count, a.count, a.detail or "")
            for a in found
        ]  # fmt: skip
        named = ", ".join(f"{r[4]} on {r[1]}/{r[3]}" for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        report(
            context, day.isoformat(), passed=not rows, severity=dg.AssetCheckSeverity.WARN,
            description=f"{named}{more}" if rows else "no meter anomaly",
            metadata={
                "anomalies": len(rows),
                "found": table(
                    [("server", "string"), ("customer", "string"), ("account", "string"),
                     ("device", "string"), ("kind", "string"), ("previous count", "int"),
                     ("count", "int"), ("detail", "string")],
                    rows,
                ),
            },
        )  # fmt: skip
