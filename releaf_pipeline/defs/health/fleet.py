"""Fleet health in the UI: an asset every health evaluation updates, with a table of the
servers and the feeds in trouble, each with its state, since when, why and what next."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date

import dagster as dg
from sqlalchemy.engine import Engine

from releaf_pipeline.defs.metadata import OWNERS, numbers, table
from releaf_pipeline.lib.fleet_health import (
    COLLECTING,
    FAILING,
    HEALTHY,
    PAUSED_BY_OPERATOR,
    PAUSED_STATE,
    RECOVERING,
    STALE,
    UNHEALTHY,
    WAITING,
    FleetHealth,
    fleet_health,
)
from releaf_pipeline.settings import read_settings

FLEET_HEALTH = dg.AssetKey("fleet_health")
FEEDS_LISTED = 500
"""Feeds in trouble listed by name; the counts cover all of them."""
UNCHANGED_REPORT_SECONDS = 3600
"""An unchanged fleet is reported again after this long, so the asset shows it is watched."""

fleet_health_asset = dg.AssetSpec(
    key=FLEET_HEALTH,
    group_name="health",
    owners=OWNERS,
    kinds={"python"},
    tags={"cadence": "continuous"},
    description=(
        "Every MPS Monitor server and every feed in trouble: state, since when, why, and what "
        "the pipeline will do next. Updated by every health evaluation: the server_health "
        "sensor's checks and each collection run."
    ),
)


def fleet_metadata(fleet: FleetHealth) -> dict[str, dg.MetadataValue]:
    """The asset's metadata: counts to plot, and the servers' and troubled feeds' tables."""
    troubled = fleet.troubled_feeds
    return {
        **numbers(
            {
                "servers_unhealthy": fleet.count(UNHEALTHY),
                "servers_healthy": fleet.count(HEALTHY),
                "feeds_collecting": fleet.count(COLLECTING),
                "feeds_paused": fleet.count(PAUSED_STATE),
                "feeds_failing": fleet.count(FAILING),
                "feeds_stale": fleet.count(STALE),
                "feeds_recovering": fleet.count(RECOVERING),
                "feeds_not_collected_yet": fleet.count(WAITING),
                "feeds_paused_by_operator": fleet.count(PAUSED_BY_OPERATOR),
            }
        ),
        "servers": table(
            [("server", "string"), ("url", "string"), ("state", "string"),
             ("since", "string"), ("why", "string"), ("next", "string")],
            [(s.server.name, s.server.url, s.state, s.since, s.why, s.next)
             for s in fleet.servers],
        ),
        "feeds_in_trouble": table(
            [("server", "string"), ("customer", "string"), ("account", "string"),
             ("state", "string"), ("since", "string"), ("why", "string"), ("next", "string")],
            [(f.feed.server_name, f.feed.customer_code, f.feed.account, f.state, f.since,
              f.why, f.next) for f in troubled[:FEEDS_LISTED]],
        ),
    }  # fmt: skip


def _summary(fleet: FleetHealth) -> str:
    bad = [s.server.name for s in fleet.servers if s.state == UNHEALTHY]
    troubled = len(fleet.troubled_feeds)
    servers = f"server(s) unhealthy: {', '.join(bad)}" if bad else "every server healthy"
    return f"{servers}; {troubled} of {len(fleet.feeds)} feed(s) not simply collecting"


def report_fleet_health(instance: dg.DagsterInstance, engine: Engine, today: date) -> bool:
    """Record the fleet's health as a materialization of `fleet_health` when it changed
    (or an hour passed); returns True when one was recorded."""
    settings = read_settings()
    fleet = fleet_health(
        engine, today, check_seconds=settings.health_check_seconds,
        lookback_days=settings.catchup_lookback_days,
    )  # fmt: skip
    metadata = fleet_metadata(fleet)
    content = {
        k: [r.data for r in v.records] if isinstance(v, dg.TableMetadataValue) else v.value
        for k, v in metadata.items()
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    last = instance.get_latest_materialization_event(FLEET_HEALTH)
    if last is not None and last.asset_materialization is not None:
        same = last.asset_materialization.metadata.get("digest")
        fresh = time.time() - last.timestamp < UNCHANGED_REPORT_SECONDS
        if same is not None and same.value == digest[:16] and fresh:
            return False
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=FLEET_HEALTH,
            description=_summary(fleet),
            metadata={**metadata, "digest": dg.MetadataValue.text(digest[:16])},
        )
    )
    return True
