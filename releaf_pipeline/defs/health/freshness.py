"""Yesterday's deposits by the deadline: a time-partition freshness check and its sensor."""

import warnings

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD
from releaf_pipeline.defs.collection.assets import daily_deposits

FRESHNESS_SENSOR = "deposits_freshness"

# Dagster 1.13 marks these factories superseded by freshness policies, which judge an
# asset by when it last materialized. A catch-up of last week would then pass for
# yesterday's run; the partition check asks for yesterday's partition itself.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=dg.SupersessionWarning)
    deposits_freshness_checks = dg.build_time_partition_freshness_checks(
        assets=[daily_deposits],
        deadline_cron=SETTINGS_AT_LOAD.freshness_deadline_cron,
        timezone="UTC",
        severity=dg.AssetCheckSeverity.ERROR,
    )
    deposits_freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=deposits_freshness_checks,
        name=FRESHNESS_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
