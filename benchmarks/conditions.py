"""What every scenario shares: the night measured, the simulator's latency and fleet, the
paths, and the `conditions` the JSON document states them in."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PYTHON = sys.executable

# The night measured, D (a Wednesday): RELEAF_NOW is 02:00 UTC on D + 1 and the simulator's
# clock is D + 1, so D's readings have been uploaded.
NIGHT = date(2026, 10, 14)
LATENCY = 0.1
DEVICES = 10
TOKEN = "bench-dealer-token-0001"
SERVER = "bench-mpsmonitor"
FEEDS_PER_ACCOUNT = 2
BACKFILL_DAYS = 90
BASELINE_DAYS = 31
MIB = 1024 * 1024

# Every setting the pipeline reads from the environment that a benchmark must not inherit.
SCRUBBED = (
    "RELEAF_DATABASE_URL",
    "RELEAF_SECRET_KEY",
    "RELEAF_CONCURRENCY_PER_SERVER",
    "RELEAF_NOW",
    "RELEAF_HOLIDAYS",
    "RELEAF_CERTIFICATES_DIR",
    "RELEAF_DEALER_TOKEN",
    "RELEAF_EXECUTOR",
    "RELEAF_WORKERS",
    "RELEAF_FEEDS_PER_PIECE",
    "DAGSTER_HOME",
)


def describe_conditions(default_concurrency: int) -> dict[str, Any]:
    """The `conditions` section of the JSON document: how every scenario is measured."""
    return {
        "simulator": "benchmarks.simserver (the bundled MPS Monitor simulator over HTTPS) "
        "in a process of its own on the same machine, so it shares the CPUs",
        "latency_seconds_per_request": LATENCY,
        "devices_per_feed": f"{DEVICES} +/- 2 (the simulator's seeded variation)",
        "night_measured": NIGHT.isoformat(),
        "night_mode": "steady state: feeds activated on D-1, a setup run collects D-1 "
        "(first sync), then the night D is measured from a copy of that store, so each "
        "feed fetches one day (Device/List + Counter/List)",
        "mature_mode": "the same steady-state night, the feeds activated a year "
        "earlier and the setup run collecting that year (with its 31-day baseline)",
        "store": "SQLite in a fresh temporary DAGSTER_HOME per scenario",
        "default_concurrency": default_concurrency,
        "wall_seconds": "the `releaf collect` process from start to exit, CLI start-up "
        "included; run_seconds is the Dagster run alone (its start and end in the "
        "instance), collect_seconds the collection inside meter_readings",
        "peak_rss": "the `releaf collect` process's ru_maxrss from wait4",
    }
