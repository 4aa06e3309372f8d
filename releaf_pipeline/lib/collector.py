"""One collection: every selected feed's devices and readings, fetched concurrently.

Feeds of one server share one client, whose concurrency limit bounds the requests in
flight to that server; a second limit of the same size bounds the feeds in progress, so
a limit of 1 collects one customer after another. One feed's failure is recorded with
its reason and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from releaf_pipeline.lib.mpsmonitor.client import ClientSettings, MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
from releaf_pipeline.lib.secrets import SecretStr, TokenCipher
from releaf_pipeline.lib.store.collection import (
    COLLECTED,
    FAILED,
    PAUSED,
    record_status,
    save_collection,
)
from releaf_pipeline.lib.store.health import (
    clear_recollect,
    evaluate_feed_health,
    record_server_health,
)
from releaf_pipeline.lib.store.registry import FeedRecord, ServerRecord, server_token

log = logging.getLogger(__name__)

BASELINE_LOOKBACK = timedelta(days=31)


@dataclass(frozen=True)
class FetchPlan:
    """What to fetch for a feed: readings in [fetch_from, fetch_to]; days from
    `collected_from` to `fetch_to` are recorded as collected."""

    fetch_from: date
    fetch_to: date
    collected_from: date


def plan_fetch(feed: FeedRecord, start: date, end: date) -> FetchPlan | None:
    """The readings a collection of [start, end] must fetch for `feed`, or None if the
    feed is not active by `end`.

    The store mirrors readings without gaps from activation - 31 days (the baseline
    window) through `synced_through`, so deposits can always be computed from it: a
    first collection fetches from the baseline window, a later one from the earlier of
    `start` and the first day not yet mirrored.
    """
    activation = feed.activation_date
    if end < activation:
        return None
    first = max(start, activation)
    if feed.synced_through is None:
        return FetchPlan(activation - BASELINE_LOOKBACK, end, activation)
    fetch_from = min(first, feed.synced_through + timedelta(days=1))
    return FetchPlan(fetch_from, end, max(fetch_from, activation))


@dataclass
class FeedOutcome:
    """How one feed's collection went, for metadata and logs."""

    feed_id: int
    server: str
    customer_code: str
    account: str
    status: str
    reason: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    devices: int = 0
    readings_changed: int = 0
    seconds: float = 0.0
    health_changes: list[tuple[date, bool]] = field(default_factory=list)


@dataclass
class CollectionReport:
    """Everything one collection did."""

    start: date
    end: date
    outcomes: list[FeedOutcome] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many feeds ended with `status`."""
        return sum(1 for o in self.outcomes if o.status == status)


ClientFactory = Callable[[ServerRecord, SecretStr, ClientSettings], MPSMonitorClient]


def default_client_factory(
    server: ServerRecord, token: SecretStr, settings: ClientSettings
) -> MPSMonitorClient:
    """A client verifying the server against its registered CA bundle or the system store."""
    return MPSMonitorClient(
        server.url, token.reveal(), ca_data=server.ca_bundle_pem, settings=settings
    )


async def collect(
    engine: Engine,
    cipher: TokenCipher,
    servers: dict[int, ServerRecord],
    feeds: list[FeedRecord],
    start: date,
    end: date,
    *,
    settings: ClientSettings,
    run_id: str | None,
    now: Callable[[], datetime],
    client_factory: ClientFactory = default_client_factory,
    holidays: frozenset[date] = frozenset(),
) -> CollectionReport:
    """Collect [start, end] for `feeds`: check each server's health, fetch, store, record
    each feed-day's status and evaluate each collected feed's freshness."""
    began = time.monotonic()
    report = CollectionReport(start, end)
    # SQLite has one writer at a time; serialising writes here avoids lock waits.
    write_lock = asyncio.Lock()
    by_server: dict[int, list[FeedRecord]] = {}
    for feed in feeds:
        by_server.setdefault(feed.server_id, []).append(feed)
    results = await asyncio.gather(
        *(
            _collect_server(
                engine,
                cipher,
                servers[sid],
                group,
                start,
                end,
                settings,
                run_id,
                now,
                client_factory,
                write_lock,
                report,
                holidays,
            )
            for sid, group in by_server.items()
        )
    )
    for outcomes in results:
        report.outcomes.extend(outcomes)
    report.outcomes.sort(key=lambda o: (o.server, o.customer_code))
    report.seconds = time.monotonic() - began
    return report


async def _collect_server(
    engine: Engine,
    cipher: TokenCipher,
    server: ServerRecord,
    feeds: list[FeedRecord],
    start: date,
    end: date,
    settings: ClientSettings,
    run_id: str | None,
    now: Callable[[], datetime],
    client_factory: ClientFactory,
    write_lock: asyncio.Lock,
    report: CollectionReport,
    holidays: frozenset[date],
) -> list[FeedOutcome]:
    plans = {f.id: plan_fetch(f, start, end) for f in feeds}
    active = [f for f in feeds if plans[f.id] is not None]
    if not active:
        return []
    client = client_factory(server, server_token(engine, cipher, server.id), settings)
    async with client:
        try:
            dealer_code = (await client.ping()).dealer_code
        except MPSMonitorError as exc:
            async with write_lock:
                await asyncio.to_thread(
                    record_server_health,
                    engine,
                    server.id,
                    healthy=False,
                    reason=f"{exc.reason}: {exc}",
                    now=now(),
                )
            reason = f"server {server.name} failed its health check ({exc.reason}): {exc}"
            log.warning("pausing %d feed(s) of %s: %s", len(active), server.name, reason)
            outcomes = []
            for feed in active:
                plan = plans[feed.id]
                assert plan is not None
                first = max(start, feed.activation_date)
                async with write_lock:
                    await _record(engine, feed, first, end, PAUSED, reason, run_id, now)
                outcomes.append(_outcome(server, feed, PAUSED, reason, first, end))
            report.requests += client.requests_sent
            return outcomes
        async with write_lock:
            await asyncio.to_thread(
                record_server_health, engine, server.id, healthy=True, reason=None, now=now()
            )
        gate = asyncio.Semaphore(settings.concurrency)

        async def one(feed: FeedRecord) -> FeedOutcome:
            async with gate:
                return await _collect_feed(
                    engine,
                    client,
                    server,
                    feed,
                    plans[feed.id],
                    dealer_code,
                    start,
                    end,
                    run_id,
                    now,
                    write_lock,
                    holidays,
                )

        outcomes = list(await asyncio.gather(*(one(f) for f in active)))
        report.requests += client.requests_sent
        report.retries += client.retries
        return outcomes


async def _record(
    engine: Engine,
    feed: FeedRecord,
    first: date,
    last: date,
    status: str,
    reason: str,
    run_id: str | None,
    now: Callable[[], datetime],
) -> None:
    await asyncio.to_thread(
        record_status, engine, feed_id=feed.id, first=first, last=last, status=status,
        reason=reason, run_id=run_id, now=now(),
    )  # fmt: skip


def _outcome(
    server: ServerRecord,
    feed: FeedRecord,
    status: str,
    reason: str | None,
    first: date | None,
    last: date | None,
) -> FeedOutcome:
    return FeedOutcome(
        feed_id=feed.id,
        server=server.name,
        customer_code=feed.customer_code,
        account=feed.account,
        status=status,
        reason=reason,
        first_day=first,
        last_day=last,
    )


async def _collect_feed(
    engine: Engine,
    client: MPSMonitorClient,
    server: ServerRecord,
    feed: FeedRecord,
    plan: FetchPlan | None,
    dealer_code: str,
    start: date,
    end: date,
    run_id: str | None,
    now: Callable[[], datetime],
    write_lock: asyncio.Lock,
    holidays: frozenset[date],
) -> FeedOutcome:
    assert plan is not None
    began = time.monotonic()
    first = max(start, feed.activation_date)
    try:
        # The customer lookup proves the code exists; after the first sync it is only
        # needed when the device list comes back empty, so a night costs two requests.
        if feed.synced_through is None:
            await client.get_customer(feed.customer_code)
        device_rows = await client.list_devices(feed.customer_code, "All")
        if not device_rows and feed.synced_through is not None:
            await client.get_customer(feed.customer_code)
        reading_rows = await client.counter_list(
            dealer_code, feed.customer_code, plan.fetch_from, plan.fetch_to
        )
        async with write_lock:
            changed = await asyncio.to_thread(
                save_collection,
                engine,
                feed_id=feed.id,
                device_rows=device_rows,
                reading_rows=reading_rows,
                fetched_from=plan.fetch_from,
                fetched_to=plan.fetch_to,
                collected_from=plan.collected_from,
                run_id=run_id,
                now=now(),
            )
            health_changes = await asyncio.to_thread(
                evaluate_feed_health, engine, feed, first, end, holidays=holidays, now=now()
            )
            await asyncio.to_thread(clear_recollect, engine, feed.id, first, end)
    except Exception as exc:  # one feed's failure must not stop the others
        if isinstance(exc, MPSMonitorError):
            reason = f"{exc.reason}: {exc}"
        else:
            reason = f"internal error ({type(exc).__name__}): {exc}"
            log.exception("feed %s on %s failed unexpectedly", feed.customer_code, server.name)
        log.warning("feed %s on %s failed: %s", feed.customer_code, server.name, reason)
        async with write_lock:
            await _record(engine, feed, first, end, FAILED, reason, run_id, now)
        out = _outcome(server, feed, FAILED, reason, first, end)
        out.seconds = time.monotonic() - began
        return out
    out = _outcome(server, feed, COLLECTED, None, plan.collected_from, plan.fetch_to)
    out.devices = len(device_rows)
    out.readings_changed = changed
    out.health_changes = health_changes
    out.seconds = time.monotonic() - began
    return out
