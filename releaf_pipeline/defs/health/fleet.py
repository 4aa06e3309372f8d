"""Fleet health in the UI: what every health evaluation records on `fleet_health`, a
table of the servers and the feeds in trouble (state, since when, why, what next), and
the two checks that turn red while a server is unhealthy or a feed is failing or stale."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from releaf_pipeline.defs.metadata import numbers, table
from releaf_pipeline.defs.resources import RulesResource
from releaf_pipeline.lib.fleet_health import (
    COLLECTING,
    FAILING,
    HEALTHY,
    PAUSED_BY_OPERATOR,
    PAUSED_STATE,
    RECOVERING,
    STALE,
    UNCHECKED,
    UNHEALTHY,
    WAITING,
    FeedState,
    FleetHealth,
    assess_fleet,
)
from releaf_pipeline.lib.store.registry import list_servers

FLEET_HEALTH = dg.AssetKey("fleet_health")
FEEDS_LISTED = 500
"""Feeds in trouble listed by name; the counts cover all of them."""
UNCHANGED_REPORT_SECONDS = 3600
"""An unchanged fleet is reported again after this long, so the asset shows it is watched."""
SERVERS_HEALTHY = "servers_healthy"
FEEDS_HEALTHY = "feeds_healthy"
NAMED_IN_DESCRIPTION = 5
"""Servers or feeds a failing check names in its one-line description; its table has all."""

fleet_check_specs = [
    dg.AssetCheckSpec(
        SERVERS_HEALTHY,
        asset=FLEET_HEALTH,
        description=(
            "Every registered MPS Monitor server passes its health check; ERROR otherwise, "
            "naming each unhealthy server: its feeds are paused until it passes again."
        ),
    ),
    dg.AssetCheckSpec(
        FEEDS_HEALTHY,
        asset=FLEET_HEALTH,
        description=(
            "No feed is failing (feed-days not collected) or stale (no new data for 3 "
            "business days); WARN otherwise, naming each: the catch-up retries failed days "
            "and re-collects a stale feed once its devices report. Feeds paused by an "
            "unhealthy server fail servers_healthy instead."
        ),
    ),
]


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
        "feeds_in_trouble": _feeds_table(troubled),
    }  # fmt: skip


def _feeds_table(feeds: Sequence[FeedState]) -> dg.TableMetadataValue:
    return table(
        [(name, "string") for name in ("server", "customer", "account", "state", "since",
                                       "why", "next")],
        [(f.feed.server_name, f.feed.customer_code, f.feed.account, f.state, f.since,
          f.why, f.next) for f in feeds[:FEEDS_LISTED]],
    )  # fmt: skip


def fleet_summary(fleet: FleetHealth) -> str:
    """One line: the unhealthy servers, and how many feeds are not simply collecting."""
    bad = [s.server.name for s in fleet.servers if s.state == UNHEALTHY]
    troubled = len(fleet.troubled_feeds)
    servers = f"server(s) unhealthy: {', '.join(bad)}" if bad else "every server healthy"
    return f"{servers}; {troubled} of {len(fleet.feeds)} feed(s) not simply collecting"


def _named(items: list[str], what: str) -> str:
    shown = ", ".join(items[:NAMED_IN_DESCRIPTION])
    more = len(items) - NAMED_IN_DESCRIPTION
    return f"{len(items)} {what}: {shown}" + (f"; and {more} more" if more > 0 else "")


def servers_summary(engine: Engine) -> str:
    """One line on the servers' stored health: how many, and each unhealthy one and why."""
    found = list_servers(engine)
    bad = ", ".join(f"{s.name}: {s.health_reason}" for s in found if s.healthy is False)
    return f"{len(found)} server(s) checked; {bad or 'all healthy'}"


def fleet_checks(fleet: FleetHealth) -> list[dg.AssetCheckResult]:
    """The checks' results on `fleet`: `servers_healthy` fails (ERROR) while a server is
    unhealthy, `feeds_healthy` (WARN) while a feed is failing or stale; each names them
    and lists them in a table."""
    bad = [s for s in fleet.servers if s.state == UNHEALTHY]
    unchecked = fleet.count(UNCHECKED)
    passed = f"every server healthy ({len(fleet.servers) - unchecked} checked"
    passed += f", {unchecked} not checked yet)" if unchecked else ")"
    servers = dg.AssetCheckResult(
        asset_key=FLEET_HEALTH,
        check_name=SERVERS_HEALTHY,
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        description=_named([f"{s.server.name} ({s.why})" for s in bad], "server(s) unhealthy")
        if bad
        else passed,
        metadata={
            "servers_unhealthy": len(bad),
            "unhealthy_servers": table(
                [("server", "string"), ("url", "string"), ("since", "string"),
                 ("why", "string"), ("next", "string")],
                [(s.server.name, s.server.url, s.since, s.why, s.next) for s in bad],
            ),
        },
    )  # fmt: skip
    troubled = [f for f in fleet.troubled_feeds if f.state in (FAILING, STALE)]
    feeds = dg.AssetCheckResult(
        asset_key=FLEET_HEALTH,
        check_name=FEEDS_HEALTHY,
        passed=not troubled,
        severity=dg.AssetCheckSeverity.WARN,
        description=_named(
            [f"{f.feed.customer_code} on {f.feed.server_name} ({f.state}: {f.why})"
             for f in troubled],
            "feed(s) failing or stale",
        ) if troubled else "no feed failing or stale",
        metadata={
            "feeds_failing": fleet.count(FAILING),
            "feeds_stale": fleet.count(STALE),
            "feeds_failing_or_stale": _feeds_table(troubled),
        },
    )  # fmt: skip
    return [servers, feeds]


def current_fleet(engine: Engine, today: date, rules: RulesResource) -> FleetHealth:
    """The fleet as of `today`, with the rules' check interval and look-back."""
    return assess_fleet(
        engine, today, check_seconds=rules.health_check_seconds, lookback_days=rules.lookback_days
    )


def fleet_result(fleet: FleetHealth) -> dg.MaterializeResult:
    """`fleet_health`'s materialization and its checks' results, as one: a digest of both
    lets an unchanged fleet be skipped without leaving a check stale."""
    metadata = fleet_metadata(fleet)
    checks = fleet_checks(fleet)
    content = {
        "metadata": _plain(metadata),
        "checks": [(c.check_name, c.passed, c.description, _plain(c.metadata)) for c in checks],
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return dg.MaterializeResult(
        metadata={**metadata, "digest": dg.MetadataValue.text(digest[:16])},
        check_results=checks,
    )


def _plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: [r.data for r in v.records] if isinstance(v, dg.TableMetadataValue) else v.value
        for k, v in metadata.items()
    }


def report_fleet_health(
    instance: dg.DagsterInstance,
    engine: Engine,
    today: date,
    rules: RulesResource,
    *,
    force: bool = False,
) -> bool:
    """Record the fleet's health outside a run: a `fleet_health` materialization and a
    fresh result of each of its checks. Skipped when neither changed within the hour,
    unless `force` (a change an operator made); returns True when recorded."""
    fleet = current_fleet(engine, today, rules)
    result = fleet_result(fleet)
    metadata = dict(result.metadata or {})
    last = instance.get_latest_materialization_event(FLEET_HEALTH)
    if not force and last is not None and last.asset_materialization is not None:
        same = last.asset_materialization.metadata.get("digest")
        fresh = time.time() - last.timestamp < UNCHANGED_REPORT_SECONDS
        if same is not None and same == metadata["digest"] and fresh:
            return False
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=FLEET_HEALTH, description=fleet_summary(fleet), metadata=metadata
        )
    )
    # Recorded after the materialization, so the UI takes them for its checks' results.
    for c in result.check_results or []:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=FLEET_HEALTH,
                check_name=c.check_name or "",
                passed=c.passed,
                metadata=c.metadata,
                severity=c.severity,
                description=c.description,
            )
        )
    return True
