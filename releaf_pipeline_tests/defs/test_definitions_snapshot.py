"""The code location as a reviewer sees it: asset keys, groups, partitions, checks, jobs,
schedules and sensors, held against a snapshot so that a change to any of them shows in
review. After a deliberate change: `RELEAF_UPDATE_SNAPSHOT=1 pytest <this file>`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from releaf_pipeline.definitions import defs

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def _partitions(definition: dg.PartitionsDefinition | None) -> str | None:
    if definition is None:
        return None
    if isinstance(definition, dg.TimeWindowPartitionsDefinition):
        return (
            f"{definition.cron_schedule} from {definition.start:%Y-%m-%d} ({definition.timezone})"
        )
    return type(definition).__name__


def describe(definitions: dg.Definitions) -> dict:
    """The parts of the code location a change should be seen in."""
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "depends_on": sorted(k.to_user_string() for k in node.parent_keys),
        }
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    jobs = {}
    for job in definitions.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        jobs[job.name] = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
    schedules = {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
        for s in (definitions.resolve_schedule_def(x.name) for x in definitions.schedules or [])
    }
    sensors = {
        s.name: {
            "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default_status": s.default_status.value,
        }
        for s in (definitions.resolve_sensor_def(x.name) for x in definitions.sensors or [])
    }
    return {
        "assets": assets,
        "asset_checks": checks,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": sorted(definitions.resources),
    }


def test_definitions_match_the_snapshot(monkeypatch):
    for name in ("RELEAF_NIGHTLY_CRON", "RELEAF_CATCHUP_SECONDS", "RELEAF_HEALTH_CHECK_SECONDS"):
        assert name not in os.environ, f"{name} is set: the snapshot is of the defaults"
    got = describe(defs)
    if os.environ.get("RELEAF_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    want = json.loads(SNAPSHOT.read_text())
    assert got == want, (
        "the code location changed; if that is intended, update the snapshot with "
        "RELEAF_UPDATE_SNAPSHOT=1 and review its diff"
    )
