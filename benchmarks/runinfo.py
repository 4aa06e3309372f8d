"""What the Dagster instance at DAGSTER_HOME recorded about one run, as JSON.

`python -m benchmarks.runinfo RUN_ID` prints the run's status, start and end, each step's
duration, the collection's run-wide summary (its `releaf/run.*` tags), and the metadata
of the latest `meter_readings` and `daily_deposits` materializations (the run's own, when
it is the latest run). It runs as a process of its own so that the benchmark runner never
imports Dagster or opens an instance itself.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import dagster as dg


def _metadata(instance: dg.DagsterInstance, asset: str, run_id: str) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.run_id != run_id or event.asset_materialization is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in event.asset_materialization.metadata.items():
        raw = getattr(value, "value", None)
        if isinstance(raw, int | float | str | bool) and not (
            isinstance(raw, str) and len(raw) > 200
        ):
            out[key] = raw
    return out


SUMMARY_PREFIX = "releaf/run."


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def run_info(run_id: str) -> dict[str, Any]:
    with dg.DagsterInstance.get() as instance:
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            raise SystemExit(f"no run {run_id} in the instance")
        start, end = record.start_time, record.end_time
        steps = {
            s.step_key: {
                "status": s.status.value if s.status else None,
                "seconds": (
                    round(s.end_time - s.start_time, 3) if s.end_time and s.start_time else None
                ),
                # When the step began, in seconds after the run did: steps run side by
                # side overlap.
                "began_after": round(s.start_time - start, 3) if s.start_time and start else None,
            }
            for s in instance.get_run_step_stats(run_id)
        }
        # The collection's run-wide figures (feeds, requests, retries, seconds) are tags of
        # the run; a materialization carries its own day's figures only.
        summary = {
            key.removeprefix(SUMMARY_PREFIX): _number(value)
            for key, value in record.dagster_run.tags.items()
            if key.startswith(SUMMARY_PREFIX)
        }
        return {
            "run_id": run_id,
            "status": record.dagster_run.status.value,
            "run_seconds": round(end - start, 3) if start and end else None,
            "steps": steps,
            "summary": summary,
            "meter_readings": _metadata(instance, "meter_readings", run_id),
            "daily_deposits": _metadata(instance, "daily_deposits", run_id),
        }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.runinfo RUN_ID", file=sys.stderr)
        return 2
    json.dump(run_info(args[0]), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
