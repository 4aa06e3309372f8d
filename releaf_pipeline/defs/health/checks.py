"""Checks on meter readings, day by day: feeds fresh, and every feed-day collected."""

from releaf_pipeline.defs.collection.assets import meter_readings
from releaf_pipeline.defs.collection.checks import day_check

feeds_fresh = day_check(
    meter_readings,
    "feeds_fresh",
    "Every feed has new data within 3 business days (WARN otherwise), day by day; each "
    "unhealthy feed is named with since when and why.",
)
feeds_collected = day_check(
    meter_readings,
    "feeds_collected",
    "Every feed-day collected: WARN while the catch-up will retry the paused or failed "
    "ones, ERROR once it has given up or a person must act (a feed paused by an operator "
    "is named on each day it misses); each is named with why and what happens next.",
)
