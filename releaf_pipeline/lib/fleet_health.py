"""The fleet's health as an operator reads it: each server and feed, its state, since
when, why, and what the pipeline will do next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from releaf_pipeline.lib.catchup import contiguous_ranges, next_step
from releaf_pipeline.lib.rules import REREAD_LOOKBACK_DAYS
from releaf_pipeline.lib.store.collection import feed_day_statuses
from releaf_pipeline.lib.store.health import FeedHealth, feed_health_states
from releaf_pipeline.lib.store.registry import FeedRecord, ServerRecord, list_feeds, list_servers
from releaf_pipeline.lib.store.tables import FAILED, PAUSED

HEALTHY, UNHEALTHY, UNCHECKED = "healthy", "unhealthy", "not checked yet"
COLLECTING, PAUSED_STATE, FAILING, STALE, RECOVERING, WAITING = (
    "collecting", "paused", "failing", "stale", "recovering", "not collected yet",
)  # fmt: skip
PAUSED_BY_OPERATOR = "paused by operator"


@dataclass(frozen=True)
class ServerState:
    """One server's health."""

    server: ServerRecord
    state: str
    since: datetime | None
    why: str
    next: str


@dataclass(frozen=True)
class FeedState:
    """One feed's health."""

    feed: FeedRecord
    state: str
    since: date | datetime | None
    why: str
    next: str


@dataclass(frozen=True)
class FleetHealth:
    """Every server and feed, as of `today`."""

    today: date
    servers: list[ServerState]
    feeds: list[FeedState]

    def count(self, state: str) -> int:
        """Servers or feeds in `state`."""
        return sum(1 for s in [*self.servers, *self.feeds] if s.state == state)

    @property
    def troubled_feeds(self) -> list[FeedState]:
        """Feeds that are not simply collecting, worst first."""
        order = [PAUSED_STATE, FAILING, STALE, RECOVERING, WAITING, PAUSED_BY_OPERATOR]
        return sorted(
            (f for f in self.feeds if f.state != COLLECTING),
            key=lambda f: (order.index(f.state), f.feed.server_name, f.feed.customer_code),
        )


def _span(days: list[date]) -> str:
    ranges = contiguous_ranges(days)
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in ranges)


def _server_state(server: ServerRecord, check_seconds: int) -> ServerState:
    if server.healthy is None:
        return ServerState(
            server,
            UNCHECKED,
            None,
            "",
            f"checked by the server_health job within {check_seconds} s",
        )
    if server.healthy:
        return ServerState(
            server, HEALTHY, server.health_since, "", "its feeds are collected nightly"
        )
    return ServerState(
        server, UNHEALTHY, server.health_since, server.health_reason or "",
        f"its feeds are paused; checked again every {check_seconds} s, and once it answers "
        "the catch-up re-collects the paused days",
    )  # fmt: skip


def _feed_state(
    feed: FeedRecord,
    server: ServerState,
    health: FeedHealth | None,
    problems: list[tuple[date, str, str, str | None]],
    today: date,
    lookback_days: int,
) -> FeedState:
    name = feed.server_name
    if feed.paused_at is not None:
        code = f"{feed.server_name}/{feed.customer_code}"
        return FeedState(
            feed, PAUSED_BY_OPERATOR, feed.paused_at, "paused by an operator",
            f"not collected until `releaf feed resume {code}`",
        )  # fmt: skip
    paused = sorted(d for d, status, _, _ in problems if status == PAUSED)
    failed = sorted((d, r, k or "") for d, status, r, k in problems if status != PAUSED)
    if server.state == UNHEALTHY:
        days = f"re-collect {_span(paused)}" if paused else "collect its days"
        return FeedState(
            feed, PAUSED_STATE, server.since, f"server {name} is unhealthy: {server.why}",
            f"{days} once {name} answers its health check",
        )  # fmt: skip
    if paused or failed:
        day, reason, kind = failed[-1] if failed else (paused[-1], "paused", None)
        days = [*paused, *(d for d, _, _ in failed)]
        step = next_step(
            FAILED if failed else PAUSED, kind, min(days), last=max(days),
            today=today, server=name, server_healthy=server.state == HEALTHY,
            customer_code=feed.customer_code, lookback_days=lookback_days,
        )  # fmt: skip
        span = _span(days)
        return FeedState(feed, FAILING, day, f"{span}: {reason}", step.text)
    if health is None or feed.synced_through is None:
        return FeedState(feed, WAITING, None, "", "collected by the next nightly run")
    if not health.healthy:
        gap = health.last_data + timedelta(days=1) if health.last_data else feed.activation_date
        return FeedState(
            feed, STALE, health.since_day, health.reason or "",
            f"re-collected from {gap} once its devices report again",
        )  # fmt: skip
    if health.recollect_from is not None and health.recollect_to is not None:
        span = f"{health.recollect_from}..{health.recollect_to}"
        return FeedState(
            feed, RECOVERING, health.since_day, "fresh again after a stale spell",
            f"re-collect {span} on the catch-up's next tick",
        )  # fmt: skip
    return FeedState(
        feed, COLLECTING, health.since_day, "", f"collected nightly (through {feed.synced_through})"
    )


def assess_fleet(
    engine: Engine,
    today: date,
    *,
    check_seconds: int,
    lookback_days: int = REREAD_LOOKBACK_DAYS,
) -> FleetHealth:
    """Every server and feed: state, since when, why, and what happens next."""
    servers = {s.id: _server_state(s, check_seconds) for s in list_servers(engine)}
    states = feed_health_states(engine)
    problems: dict[int, list[tuple[date, str, str, str | None]]] = {}
    start = today - timedelta(days=lookback_days)
    for row in feed_day_statuses(engine, start, today, problems_only=True):
        problems.setdefault(row.feed_id, []).append(
            (row.day, row.status, row.reason or "", row.failure_kind)
        )
    feeds = []
    for f in list_feeds(engine):
        server, found = servers[f.server_id], problems.get(f.id, [])
        feeds.append(_feed_state(f, server, states.get(f.id), found, today, lookback_days))
    return FleetHealth(today, list(servers.values()), feeds)
