"""The nightly schedule: yesterday's partition, collected and deposited in one run."""

from datetime import timedelta

import dagster as dg

from releaf_pipeline.defs.jobs import collection_job
from releaf_pipeline.launch import CollectionRequest
from releaf_pipeline.settings import read_settings


@dg.schedule(
    name="nightly",
    job=collection_job,
    cron_schedule=read_settings().nightly_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Collects yesterday for every active feed (RELEAF_NIGHTLY_CRON, UTC).",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Yesterday's meter readings and deposits; catch-ups are the catch-up sensor's."""
    day = (context.scheduled_execution_time - timedelta(days=1)).date()
    request = CollectionRequest(
        day, day, trigger="nightly", run_key=f"nightly:{day}", as_partition=True
    )
    return request.run_request()
