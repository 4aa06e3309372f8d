"""Daily and monthly partitions, in UTC: a day is a date of the MPS Monitor readings."""

import dagster as dg

# The earliest day the pipeline can collect; backfills before it are impossible.
PARTITIONS_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
