"""Daily and monthly partitions, in UTC: a day is a date of the MPS Monitor readings.

They start on `RELEAF_PARTITIONS_START` (the first day data is wanted for; the monthly
partitions from that day's month), so the UI's partition bars cover the pipeline's own
history and nothing before it. Every process must see the same value.
"""

from datetime import date, timedelta

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD

PARTITIONS_START = SETTINGS_AT_LOAD.partitions_start.isoformat()
"""The earliest day the pipeline can collect; backfills before it are impossible."""

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PARTITIONS_START[:7] + "-01", timezone="UTC"
)


def partition_days(context: dg.OpExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the run's partition range, for an asset's step or
    any op of a graph-backed one."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()
