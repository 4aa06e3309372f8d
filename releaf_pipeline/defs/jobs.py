"""Jobs: the collection of a partition range as one run."""

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings

collection_job = dg.define_asset_job(
    "collection",
    selection=[meter_readings, daily_deposits],
    description="Meter readings and daily deposits for a range of days, in one run.",
)
