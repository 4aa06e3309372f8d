"""The one Definitions object Dagster loads."""

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings
from releaf_pipeline.defs.health.checks import feeds_fresh
from releaf_pipeline.defs.health.sensors import catchup_sensor, server_health_sensor
from releaf_pipeline.defs.jobs import collection_job, monthly_close_job
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    ReforestationResource,
    StoreResource,
)
from releaf_pipeline.defs.rollup.assets import monthly_pages, reforestation_certificates
from releaf_pipeline.defs.rollup.sensors import monthly_close_sensor
from releaf_pipeline.defs.schedules import nightly_schedule


def default_resources() -> dict:
    """The resources every run, sensor and schedule uses, configured from the environment."""
    return {
        "store": StoreResource(),
        "mpsmonitor": MPSMonitorResource(),
        "clock": ClockResource(),
        "reforestation": ReforestationResource(),
    }


defs = dg.Definitions(
    assets=[meter_readings, daily_deposits, monthly_pages, reforestation_certificates],
    asset_checks=[feeds_fresh],
    jobs=[collection_job, monthly_close_job],
    schedules=[nightly_schedule],
    sensors=[server_health_sensor, catchup_sensor, monthly_close_sensor],
    resources=default_resources(),
)
