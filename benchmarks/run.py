"""Benchmarks of releaf-pipeline against the MPS Monitor simulator; prints one JSON document.

    python -m benchmarks.run [--quick] [--out PATH] [--only SCENARIO,...] [--keep]

Scenarios (each in a fresh, temporary DAGSTER_HOME, with the simulator in a process of its
own answering every request after a fixed latency, 100 ms):

- ``startup``: the `releaf` command's start-up, timed apart (a no-op command on an empty
  store, and importing the Dagster definitions).
- ``night``: one night's collection (`releaf collect --start D --end D` as a subprocess:
  wall time, the run's own duration, requests, peak RSS) at 100, 300 and 1,000 feeds x 10
  devices with the default per-server concurrency, and with a concurrency of 1 (one
  customer after another) at 100 and 1,000 feeds; the serial/default ratios. The
  1,000-feed night is run once more with its phases timed (`benchmarks.phases`).
- ``big``: the same night at 10,000 feeds (peak RSS), phases timed too.
- ``mature``: the same night at 500 feeds after a year of mirrored readings, the store a
  pipeline has once it is not new (deposits are computed in batches of feeds, so the
  peak does not grow with more feeds).
- ``backfill``: a 90-day backfill (`releaf collect --start D-89 --end D`) as one run, at
  100, 250 and 500 feeds.
- ``accounting``: `compute_deposits`, `daily_deposits` and `monthly_pages` over 1,000,
  3,000 and 10,000 feeds x 10 devices x 31 days, no HTTP (`benchmarks.accounting`).
- ``history``: `daily_deposits` for one night at 1,000 and 10,000 feeds with 31 and 365
  days mirrored (the 10,000-feed year is a store of 37 million readings, about 10 GB).
- ``registration``: `releaf feed import` of 25,000, 50,000 and 100,000 feeds from a CSV
  into a new store, and how it grows with rows.
- ``fanout``: one steady night of 10,000 feeds on 10 servers (a simulator each), its
  pieces run by one worker (RELEAF_EXECUTOR=in_process) and by 2 and 4
  (multiprocess): wall time and ratios, each process's peak RSS, CPU per feed, the store's
  rows and bytes written per feed; and from them a projection to 1,000,000 feeds
  (`benchmarks.projection`, derived in benchmarks/README.md).
- ``pieces``: a worker's peak RSS for a piece of 5,000 feeds and of 1,000, on one server.

`--quick` keeps every scenario but makes the big ones smaller (and says so in the JSON):
no serial run at 1,000 feeds (extrapolated from 100), 2,000 feeds instead of 10,000,
smaller backfills, accounting sizes and imports, 10 servers of 200 feeds for the fan-out
and pieces of 1,000 and 200 feeds, with the targets' sizes extrapolated.

The JSON goes to stdout and to `benchmarks/results/latest.json` (or `--out`); progress goes
to stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.conditions import RESULTS, describe_conditions
from benchmarks.home import default_concurrency
from benchmarks.machine import machine
from benchmarks.measuring import loadavg, log
from benchmarks.scenarios.accounting import accounting
from benchmarks.scenarios.backfill import backfill
from benchmarks.scenarios.fanout import fanout, pieces
from benchmarks.scenarios.history import history
from benchmarks.scenarios.memory import big_night, mature_night
from benchmarks.scenarios.night import night
from benchmarks.scenarios.registration import registration
from benchmarks.scenarios.startup import startup

SCENARIOS = (
    "startup",
    "night",
    "big",
    "mature",
    "backfill",
    "accounting",
    "history",
    "registration",
    "fanout",
    "pieces",
)


def _options(argv: list[str] | None) -> tuple[argparse.Namespace, set[str]]:
    """The command line, and the scenarios it asks for (an unknown one is a usage error)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, extrapolated")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run (default: all of {','.join(SCENARIOS)})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args, only


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios asked for; print the JSON document and write it to `--out`."""
    args, only = _options(argv)
    quick = args.quick
    default = default_concurrency()
    night_sizes = [100, 300, 1000]
    serial_sizes = [100] if quick else [100, 1000]
    big_size = 2000 if quick else 10_000
    backfill_sizes = [50, 100, 200] if quick else [100, 250, 500]
    accounting_sizes = [500, 1000, 2000] if quick else [1000, 3000, 10_000]
    history_feeds = [1000] if quick else [1000, 10_000]
    mature_feeds = 500
    mature_days = 365
    history_days = [31, 365]
    import_sizes = [5000, 10_000, 20_000] if quick else [25_000, 50_000, 100_000]
    fanout_servers = 10
    fanout_feeds_each = 200 if quick else 1000
    piece_sizes = (1000, 200) if quick else (5000, 1000)

    began = time.monotonic()
    doc: dict[str, Any] = {
        "benchmark": "releaf-pipeline",
        "mode": "quick" if quick else "full",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "conditions": describe_conditions(default),
        "scenarios": {},
    }
    scenarios: dict[str, Any] = doc["scenarios"]
    targets: list[dict[str, Any]] = []

    root = Path(tempfile.mkdtemp(prefix="releaf-bench-"))
    log(f"working in {root} ({doc['mode']} mode)")
    try:
        if "startup" in only:
            scenarios["startup"], found = startup(root)
            targets += found
        if "night" in only:
            scenarios["night"], found = night(root, night_sizes, serial_sizes, default)
            targets += found
        if "big" in only:
            scenarios["big_night"], found = big_night(
                root, big_size, default, night_sizes, scenarios.get("night")
            )
            targets += found
        if "mature" in only:
            scenarios["mature_night"], found = mature_night(
                root, mature_feeds, mature_days, default
            )
            targets += found
        if "backfill" in only:
            scenarios["backfill"], found = backfill(root, backfill_sizes)
            targets += found
        if "accounting" in only:
            scenarios["accounting"], found = accounting(root, accounting_sizes)
            targets += found
        if "history" in only:
            scenarios["history"], found = history(root, history_feeds, history_days, quick=quick)
            targets += found
        if "registration" in only:
            scenarios["registration"], found = registration(root, import_sizes)
            targets += found
        if "fanout" in only:
            scenarios["fanout"], found = fanout(
                root, fanout_servers, fanout_feeds_each, quick=quick
            )
            targets += found
        if "pieces" in only:
            scenarios["pieces"], found = pieces(root, piece_sizes, quick=quick)
            targets += found
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    doc["targets"] = targets
    doc["not_met"] = [t["name"] for t in targets if t["met"] is False]
    doc["loadavg_at_end"] = loadavg()
    doc["total_seconds"] = round(time.monotonic() - began, 1)
    text = json.dumps(doc, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    log(f"done in {doc['total_seconds']} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
