"""A day's view in the UI: the figures of its partitions and the result of each check.

One place computes them from the store, for any set of days, so that a run's steps, its
check ops and an operator command's runless report all show a day the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from releaf_pipeline.defs.collection.day_metadata import (
    NOT_COLLECTED_COLUMNS,
    collection_metadata,
    deposit_metadata,
    not_collected_rows,
    plotted_accounts,
)
from releaf_pipeline.defs.metadata import table
from releaf_pipeline.lib.catchup import contiguous_ranges
from releaf_pipeline.lib.store.days import CollectionDay, collection_days
from releaf_pipeline.lib.store.registry import list_feeds, list_servers
from releaf_pipeline.lib.store.stale_days import DAILY_DEPOSITS, METER_READINGS

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR

METER_READINGS_KEY = dg.AssetKey(METER_READINGS)
DAILY_DEPOSITS_KEY = dg.AssetKey(DAILY_DEPOSITS)


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result for one day."""

    passed: bool
    severity: dg.AssetCheckSeverity
    description: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class Judged:
    """How the day stands for the check ops and reports: `today` and the look-back decide
    what happens next to a feed-day not collected."""

    today: date
    lookback_days: int


def spans(days: list[date]) -> list[tuple[date, date]]:
    """The days as contiguous ranges: each is read from the store in one query."""
    return contiguous_ranges(days)


def _collection(engine: Engine, days: list[date]) -> dict[date, CollectionDay]:
    out: dict[date, CollectionDay] = {}
    for first, last in spans(days):
        out.update((d.day, d) for d in collection_days(engine, first, last))
    return {d: out[d] for d in days}


# --- figures ------------------------------------------------------------------------------


def meter_readings_figures(
    engine: Engine, days: list[date], judged: Judged
) -> dict[date, dict[str, dg.MetadataValue]]:
    """Each day's metadata of `meter_readings`."""
    healthy = _server_health(engine)
    return {
        d: collection_metadata(
            c, today=judged.today, server_healthy=healthy, lookback_days=judged.lookback_days
        )
        for d, c in _collection(engine, days).items()
    }


def daily_deposits_figures(
    engine: Engine, days: list[date]
) -> dict[date, dict[str, dg.MetadataValue]]:
    """Each day's metadata of `daily_deposits` (the accounts plotted are the largest over
    the days given)."""
    from releaf_pipeline.lib.store.days import deposit_days

    found = []
    for first, last in spans(days):
        found += deposit_days(engine, first, last)
    wanted = [d for d in found if d.day in set(days)]
    accounts = plotted_accounts(wanted)
    return {d.day: deposit_metadata(d, accounts) for d in wanted}


# --- checks -------------------------------------------------------------------------------


def _server_health(engine: Engine) -> dict[int, bool]:
    return {s.id: bool(s.healthy) for s in list_servers(engine)}


def collected_outcomes(
    engine: Engine, days: list[date], judged: Judged, *, of: str
) -> dict[date, CheckOutcome]:
    """Whether every feed the day expects was collected: WARN while the pipeline will
    collect the missing feed-days by itself, ERROR once a person must act. `of` names
    what the check judges ("feeds" or "pages")."""
    healthy = _server_health(engine)
    out = {}
    for d, day in _collection(engine, days).items():
        rows = not_collected_rows(
            day, today=judged.today, server_healthy=healthy, lookback_days=judged.lookback_days
        )
        automatic = all(r.automatic for r in rows)
        out[d] = CheckOutcome(
            passed=day.complete,
            severity=WARN if automatic else ERROR,
            description=_describe(d, rows, of=of),
            metadata={
                "feeds_paused": day.paused,
                "feeds_failed": day.failed,
                "feeds_paused_by_operator": day.paused_by_operator,
                "feeds_not_yet_collected": day.not_yet_collected,
                "feeds_not_collected": table(NOT_COLLECTED_COLUMNS, [r.cells for r in rows]),
            },
        )
    return out


def _describe(day: date, rows: list, *, of: str) -> str:
    if not rows:
        return f"every feed collected on {day}"
    shown = "; ".join(
        f"{r.customer} on {r.server} {r.status} ({r.reason}): {r.next}" for r in rows[:5]
    )
    more = f"; and {len(rows) - 5} more" if len(rows) > 5 else ""
    lead = (
        f"{len(rows)} feed(s) not collected on {day}"
        if of == "feeds"
        else f"the pages of {day} are incomplete: {len(rows)} feed(s) not collected"
    )
    return f"{lead}: {shown}{more}"


def fresh_outcomes(engine: Engine, days: list[date]) -> dict[date, CheckOutcome]:
    """Whether every feed had new data within 3 business days (WARN), naming those that
    did not, since when and why."""
    from releaf_pipeline.lib.store.health import unhealthy_feeds_between

    feeds = {f.id: f for f in list_feeds(engine, removed=True)}
    out = {}
    for first, last in spans(days):
        unhealthy = unhealthy_feeds_between(engine, first, last)
        for d in days:
            if not first <= d <= last:
                continue
            rows = [
                (feeds[fid].server_name, feeds[fid].customer_code, feeds[fid].account, since, why)
                for fid, since, why in unhealthy[d]
                if fid in feeds
            ]
            names = ", ".join(f"{r[1]} ({r[0]})" for r in rows)
            out[d] = CheckOutcome(
                passed=not rows, severity=WARN,
                description=(
                    f"no new data for 3 business days: {names}" if rows else "every feed fresh"
                ),
                metadata={
                    "unhealthy_feeds": len(rows),
                    "unhealthy": table(
                        [("server", "string"), ("customer", "string"), ("account", "string"),
                         ("since", "date"), ("why", "string")],
                        rows,
                    ),
                },
            )  # fmt: skip
    return out


def reconcile_outcomes(engine: Engine, days: list[date]) -> dict[date, CheckOutcome]:
    """Whether each day's stored deposits equal a recomputation from the readings (ERROR)."""
    from releaf_pipeline.lib.store.deposits.reconcile import reconcile_deposits

    feeds = {f.id: f for f in list_feeds(engine, removed=True)}
    wrong: dict[date, list] = {}
    for first, last in spans(days):
        for m in reconcile_deposits(engine, first, last):
            wrong.setdefault(m.day, []).append(m)
    out = {}
    for d in days:
        rows = [
            (feeds[m.feed_id].server_name, feeds[m.feed_id].customer_code,
             feeds[m.feed_id].account, m.stored, m.expected)
            for m in wrong.get(d, [])
        ]  # fmt: skip
        out[d] = CheckOutcome(
            passed=not rows, severity=ERROR,
            description=(
                f"{len(rows)} feed deposit(s) differ from their readings: rematerialize "
                "daily_deposits for this day, and report it if it persists"
                if rows else "every deposit matches its readings"
            ),
            metadata={
                "mismatches": len(rows),
                "differences": table(
                    [("server", "string"), ("customer", "string"), ("account", "string"),
                     ("stored", "int"), ("from readings", "int")],
                    rows,
                ),
            },
        )  # fmt: skip
    return out


def anomaly_outcomes(engine: Engine, days: list[date]) -> dict[date, CheckOutcome]:
    """Meter resets, glitches and impossible readings found on each day (WARN), named."""
    from releaf_pipeline.lib.store.days import anomalies_between

    by_day: dict[date, list] = {}
    for first, last in spans(days):
        for a in anomalies_between(engine, first, last):
            by_day.setdefault(a.day, []).append(a)
    out = {}
    for d in days:
        rows = [
            (a.feed.server_name, a.feed.customer_code, a.feed.account, a.device_id, a.kind,
             a.previous_count, a.count, a.detail or "")
            for a in by_day.get(d, [])
        ]  # fmt: skip
        named = ", ".join(f"{r[4]} on {r[1]}/{r[3]}" for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        out[d] = CheckOutcome(
            passed=not rows, severity=WARN,
            description=f"{named}{more}" if rows else "no meter anomaly",
            metadata={
                "anomalies": len(rows),
                "found": table(
                    [("server", "string"), ("customer", "string"), ("account", "string"),
                     ("device", "string"), ("kind", "string"), ("previous count", "int"),
                     ("count", "int"), ("detail", "string")],
                    rows,
                ),
            },
        )  # fmt: skip
    return out


def check_outcomes(
    engine: Engine, check: dg.AssetCheckKey, days: list[date], judged: Judged
) -> dict[date, CheckOutcome]:
    """The days' results of the daily check `check`."""
    if check.name == "feeds_fresh":
        return fresh_outcomes(engine, days)
    if check.name == "feeds_collected":
        return collected_outcomes(engine, days, judged, of="feeds")
    if check.name == "deposits_complete":
        return collected_outcomes(engine, days, judged, of="pages")
    if check.name == "deposits_reconcile":
        return reconcile_outcomes(engine, days)
    if check.name == "meter_anomalies":
        return anomaly_outcomes(engine, days)
    raise ValueError(f"no daily check named {check.to_user_string()}")


DAILY_CHECKS = {
    METER_READINGS_KEY: ("feeds_fresh", "feeds_collected"),
    DAILY_DEPOSITS_KEY: ("deposits_complete", "deposits_reconcile", "meter_anomalies"),
}
"""The daily checks of each asset, by name: a day's view is its figures and these."""


def figures(
    engine: Engine, asset: dg.AssetKey, days: list[date], judged: Judged
) -> dict[date, dict[str, dg.MetadataValue]]:
    """The days' metadata of the daily asset `asset`."""
    if asset == METER_READINGS_KEY:
        return meter_readings_figures(engine, days, judged)
    return daily_deposits_figures(engine, days)
