"""Daily and monthly partitions, in UTC: a day is a date of the MPS Monitor readings.

They start on `RELEAF_PARTITIONS_START` (the first day data is wanted for; the monthly
partitions from that day's month), so the UI's partition bars cover the pipeline's own
history and nothing before it. Every process must see the same value.
"""

import warnings
from datetime import date, timedelta

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD

PARTITIONS_START = SETTINGS_AT_LOAD.partitions_start.isoformat()
"""The earliest day the pipeline can collect; backfills before it are impossible."""

# The daily assets run a range of days as one run (a single-run backfill policy, which
# Dagster 1.13 labels beta) and their checks judge each day (partitioned checks, preview).
# It warns of both each time the code location loads, which every `releaf` command does,
# saying nothing an operator can act on: those two warnings, and only those, are silenced.
warnings.filterwarnings(
    "ignore", message="Parameter `backfill_policy` of function", category=dg.BetaWarning
)
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)
SINGLE_RUN = dg.BackfillPolicy.single_run()
"""A range of days materialized in one run, as the nightly job and backfills ask."""

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PARTITIONS_START[:7] + "-01", timezone="UTC"
)


def partition_days(context: dg.OpExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the run's partition range, for an asset's step or
    any op of a graph-backed one."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()
