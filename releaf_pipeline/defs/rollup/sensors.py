"""The monthly close sensor: certificates issue themselves when a month closes."""

from datetime import date, timedelta

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD
from releaf_pipeline.defs.jobs import monthly_close_job
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.resources import ClockResource, ReforestationResource, StoreResource
from releaf_pipeline.launch import TRIGGER_TAG
from releaf_pipeline.lib.monthly_close import close_status

MONTHS_BACK = 4
MONTHLY_CLOSE_SENSOR = "monthly_close_sensor"
"""Not the job's name: a job and a sensor never share one."""


def months_to_check(today: date) -> list[str]:
    """The last few finished months, oldest first."""
    months = []
    first = today.replace(day=1)
    for _ in range(MONTHS_BACK):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first.strftime("%Y-%m"))
    return sorted(months)


@dg.sensor(
    name=MONTHLY_CLOSE_SENSOR,
    job=monthly_close_job,
    minimum_interval_seconds=SETTINGS_AT_LOAD.catchup_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the monthly close for a month as soon as one of its accounts closes.",
)
def monthly_close_sensor(
    context: dg.SensorEvaluationContext,
    store: StoreResource,
    reforestation: ReforestationResource,
    clock: ClockResource,
) -> dg.SensorResult:
    """A month closes for an account when every feed is collected through its last day and
    fresh, or when the grace period is over; then its certificate is issued."""
    today = clock.now().date()
    requests = []
    for month in months_to_check(today):
        statuses = close_status(store.engine(), month, today, grace_days=reforestation.grace_days)
        closable = [s.account for s in statuses if s.closable]
        if closable:
            safe_log(context).info(f"{month} closes for {', '.join(closable)}")
            requests.append(
                dg.RunRequest(
                    run_key=f"close:{month}:{today}",
                    partition_key=f"{month}-01",
                    tags={TRIGGER_TAG: "monthly-close"},
                )
            )
    if not requests:
        return dg.SensorResult(skip_reason="no month closes now")
    return dg.SensorResult(run_requests=requests)
