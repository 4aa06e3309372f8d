"""The one Definitions object Dagster loads."""

import os
from typing import Any

import dagster as dg
from pydantic import SecretStr

from releaf_pipeline.defs.alerts import alerts_sensor, run_failure_alerts
from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD
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
    fleet_health,
    server_health_job,
    server_health_schedule,
)
from releaf_pipeline.defs.jobs import collection_job, monthly_close_job
from releaf_pipeline.defs.resources import (
    AlertsResource,
    ClockResource,
    MPSMonitorResource,
    ReforestationResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.defs.rollup.assets import monthly_pages, reforestation_certificates
from releaf_pipeline.defs.rollup.checks import certificates_credit_deposits
from releaf_pipeline.defs.rollup.sensors import monthly_close_sensor
from releaf_pipeline.defs.schedules import nightly_schedule
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO, step_outputs_io_manager
from releaf_pipeline.settings import Settings, read_settings


def _secret(name: str, value: SecretStr | None) -> str | dg.EnvVar:
    """A secret as the variable that holds it: the UI shows the name, Dagster resolves
    the value where the resource is used. One from the home's `releaf.env` is put in this
    process's environment first, as a systemd EnvironmentFile would."""
    if value is None or not value.get_secret_value():
        return ""
    os.environ.setdefault(name, value.get_secret_value())
    return dg.EnvVar(name)


def default_resources(settings: Settings | None = None) -> dict[str, Any]:
    """Every resource runs, sensors and schedules use, configured from the settings."""
    s = settings or read_settings()
    sqlite = f"sqlite:///{s.home / 'releaf.db'}"
    url = s.database_url if s.database_url.get_secret_value() != sqlite else None
    return {
        "store": StoreResource(
            home=str(s.home),
            database_url=_secret("RELEAF_DATABASE_URL", url),
            secret_key=_secret("RELEAF_SECRET_KEY", s.secret_keys),
        ),
        "mpsmonitor": MPSMonitorResource(concurrency_per_server=s.concurrency_per_server),
        "clock": ClockResource(frozen_at=s.now.isoformat() if s.now else ""),
        "rules": RulesResource.of(s),
        "reforestation": ReforestationResource(
            project_name=s.forestry_project,
            project_location=s.forestry_location,
            certificates_dir=str(s.certificates_dir),
            grace_days=s.grace_days,
        ),
        "alerts": AlertsResource(
            smtp_url=_secret("RELEAF_ALERT_SMTP_URL", s.alert_smtp_url),
            smtp_password=_secret("RELEAF_ALERT_SMTP_PASSWORD", s.alert_smtp_password),
            email_from=s.alert_email_from or "",
            email_to=s.alert_email_to or "",
            webhook_url=_secret("RELEAF_ALERT_WEBHOOK_URL", s.alert_webhook_url),
            webhook_ca_bundle=s.alert_webhook_ca_bundle or "",
            ui_url=s.ui_url or "",
        ),
        STEP_OUTPUTS_IO: step_outputs_io_manager,
    }


defs = dg.Definitions(
    assets=[
        meter_readings,
        daily_deposits,
        monthly_pages,
        reforestation_certificates,
        fleet_health,
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
    # Read again, not taken from the load-time settings: a process that loads the module
    # afresh for another home (a test, `releaf` in-process) gets that home's resources.
    resources=default_resources(),
    executor=executor_from_settings(SETTINGS_AT_LOAD),
)
