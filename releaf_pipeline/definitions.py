"""The one Definitions object Dagster loads."""

import dagster as dg

from releaf_pipeline.defs.alerts import alerts_sensor, run_failure_alerts
from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings
from releaf_pipeline.defs.collection.checks import (
    deposits_complete,
    deposits_reconcile,
    meter_anomalies,
)
from releaf_pipeline.defs.executors import executor_from_settings
from releaf_pipeline.defs.health.checks import feeds_collected, feeds_fresh
from releaf_pipeline.defs.health.freshness import (
    deposits_freshness_checks,
    deposits_freshness_sensor,
)
from releaf_pipeline.defs.health.sensors import catchup_sensor
from releaf_pipeline.defs.health.server_health import (
    fleet_health_asset,
    server_health_job,
    server_health_schedule,
)
from releaf_pipeline.defs.jobs import collection_job, monthly_close_job
from releaf_pipeline.defs.resources import (
    AlertsResource,
    ClockResource,
    MPSMonitorResource,
    ReforestationResource,
    StoreResource,
)
from releaf_pipeline.defs.rollup.assets import monthly_pages, reforestation_certificates
from releaf_pipeline.defs.rollup.checks import certificates_credit_deposits
from releaf_pipeline.defs.rollup.sensors import monthly_close_sensor
from releaf_pipeline.defs.schedules import nightly_schedule
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO, step_outputs_io_manager
from releaf_pipeline.settings import read_settings


def default_resources() -> dict:
    """The resources every run, sensor and schedule uses, configured from the environment."""
    return {
        "store": StoreResource(),
        "mpsmonitor": MPSMonitorResource(),
        "clock": ClockResource(),
        "reforestation": ReforestationResource(),
        "alerts": AlertsResource(),
        STEP_OUTPUTS_IO: step_outputs_io_manager,
    }


defs = dg.Definitions(
    assets=[
        meter_readings,
        daily_deposits,
        monthly_pages,
        reforestation_certificates,
        fleet_health_asset,
    ],
    asset_checks=[
        feeds_fresh,
        feeds_collected,
        deposits_complete,
        deposits_reconcile,
        meter_anomalies,
        certificates_credit_deposits,
        *deposits_freshness_checks,
    ],
    jobs=[collection_job, monthly_close_job, server_health_job],
    schedules=[nightly_schedule, server_health_schedule],
    sensors=[
        catchup_sensor,
        monthly_close_sensor,
        deposits_freshness_sensor,
        alerts_sensor,
        run_failure_alerts,
    ],
    resources=default_resources(),
    executor=executor_from_settings(read_settings()),
)
