"""The nightly schedule: yesterday's partition, collected and deposited in one run."""

from datetime import timedelta

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD
from releaf_pipeline.defs.jobs import collection_job
from releaf_pipeline.defs.resources import RulesResource, StoreResource
from releaf_pipeline.launch import CollectionRequest


@dg.schedule(
    name="nightly",
    job=collection_job,
    cron_schedule=SETTINGS_AT_LOAD.nightly_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Collects yesterday for every active feed (RELEAF_NIGHTLY_CRON, UTC).",
)
def nightly_schedule(
    context: dg.ScheduleEvaluationContext, store: StoreResource, rules: RulesResource
) -> dg.RunRequest:
    """Yesterday's meter readings and deposits; catch-ups are the catch-up sensor's. The
    run's time limit is sized from the feeds it collects."""
    from releaf_pipeline.lib.store.registry import list_feeds

    day = (context.scheduled_execution_time - timedelta(days=1)).date()
    feeds = [f for f in list_feeds(store.engine()) if f.collected and f.activation_date <= day]
    request = CollectionRequest(
        day, day, trigger="nightly", run_key=f"nightly:{day}", as_partition=True,
        feed_count=len(feeds), max_seconds=rules.run_max_seconds,
    )  # fmt: skip
    return request.run_request()
