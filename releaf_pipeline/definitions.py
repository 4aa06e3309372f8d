"""The one Definitions object Dagster loads."""

import os

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings
from releaf_pipeline.defs.jobs import collection_job
from releaf_pipeline.defs.resources import ClockResource, MPSMonitorResource, StoreResource


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


defs = dg.Definitions(
    assets=[meter_readings, daily_deposits],
    jobs=[collection_job],
    resources={
        "store": StoreResource(),
        "mpsmonitor": MPSMonitorResource(
            concurrency_per_server=_int_env("RELEAF_CONCURRENCY_PER_SERVER", 8)
        ),
        "clock": ClockResource(),
    },
)
