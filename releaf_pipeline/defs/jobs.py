"""Jobs: the collection of a range of days as one run, and the monthly close."""

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings
from releaf_pipeline.defs.health.freshness import deposits_freshness_checks
from releaf_pipeline.defs.rollup.assets import monthly_pages, reforestation_certificates

collection_job = dg.define_asset_job(
    "collection",
    # The freshness check asks about yesterday, not the run's days: its sensor runs it.
    selection=dg.AssetSelection.assets(meter_readings, daily_deposits)
    - dg.AssetSelection.checks(*deposits_freshness_checks),
    description="Meter readings and daily deposits for a range of days, in one run.",
)

monthly_close_job = dg.define_asset_job(
    "monthly_close",
    selection=[monthly_pages, reforestation_certificates],
    description="A month's pages and trees per account, and the certificates of the accounts "
    "whose month closed.",
)
