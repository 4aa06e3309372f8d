"""One collection: every selected feed's devices and readings, fetched concurrently.

Feeds of one server share one client, whose concurrency limit bounds the requests in
flight to that server; a second limit of the same size bounds the feeds in progress, so
a limit of 1 collects one customer after another. One feed's failure is recorded with
its reason and never stops the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from releaf_pipeline.lib.device_listings import start_listings
from releaf_pipeline.lib.fetch_plan import (
    FetchPlan,
    month_reread_from,
    months_to_reread,
    plan_fetch,
)
from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
from releaf_pipeline.lib.mpsmonitor.models import Device, DeviceReadings, Ping
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.safe_text import safe_logger
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.server_identity import confirm_dealer
from releaf_pipeline.lib.store.certificates import certified_months
from releaf_pipeline.lib.store.collection import (
    device_latest_days,
    record_status,
    save_collection,
)
from releaf_pipeline.lib.store.engine import writing
from releaf_pipeline.lib.store.health import (
    clear_recollect,
    evaluate_feed_health,
    feed_health_states,
    record_server_health,
)
from releaf_pipeline.lib.store.registry import FeedRecord, ServerRecord, server_token
from releaf_pipeline.lib.store.tables import COLLECTED, FAILED, PAUSED

log = safe_logger(__name__)


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
    feeds_planned: int = 0
    """Feeds the run has work for (the others' days are already covered)."""
    feeds_done: int = 0
    """Of those, the feeds whose outcome is recorded so far: the run's progress."""

    def count(self, status: str) -> int:
        """How many feeds ended with `status`."""
        return sum(1 for o in self.outcomes if o.status == status)


ClientFactory = Callable[[ServerRecord, SecretStr, ClientSettings], MPSMonitorClient]


def default_client_factory(
    server: ServerRecord, token: SecretStr, settings: ClientSettings
) -> MPSMonitorClient:
    """A client verifying the server against its registered CA bundle or the system store."""
    return MPSMonitorClient(
        server.url, token.get_secret_value(), ca_data=server.ca_bundle_pem, settings=settings
    )


@dataclass
class _Run:
    """What every step of one collection shares."""

    engine: Engine
    cipher: TokenCipher
    start: date
    end: date
    settings: ClientSettings
    run_id: str | None
    now: Callable[[], datetime]
    client_factory: ClientFactory
    holidays: frozenset[date]
    report: CollectionReport
    # SQLite has one writer at a time; serialising writes here avoids lock waits.
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def write(self, fn: Callable[..., object], *args: object, **kwargs: object) -> object:
        """Run a store write in a thread, one at a time."""
        async with self.write_lock:
            return await asyncio.to_thread(fn, *args, **kwargs)


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
    report: CollectionReport | None = None,
) -> CollectionReport:
    """Collect [start, end] for `feeds`: check each server's health, fetch, store, record
    each feed-day's status and evaluate each collected feed's freshness. `report`, when
    given, is filled as the run goes (its progress can be read meanwhile); a report
    passed to several collections adds them up."""
    began = time.monotonic()
    run = _Run(
        engine, cipher, start, end, settings, run_id, now, client_factory, holidays,
        report if report is not None else CollectionReport(start, end),
    )  # fmt: skip
    latest = await asyncio.to_thread(device_latest_days, engine, [f.id for f in feeds])
    health = await asyncio.to_thread(feed_health_states, engine)
    months = months_to_reread(start, end)
    certified = await asyncio.to_thread(certified_months, engine, [m.month for m in months])
    plans: dict[int, FetchPlan] = {}
    for feed in feeds:
        state = health.get(feed.id)
        plan = plan_fetch(
            feed,
            start,
            end,
            latest.get(feed.id, ()),
            recollect_from=state.recollect_from if state is not None else None,
            month_from=month_reread_from(feed, months, certified),
        )
        if plan is not None:
            plans[feed.id] = plan
    run.report.feeds_planned += len(plans)
    by_server: dict[int, list[FeedRecord]] = {}
    for feed in feeds:
        if feed.id in plans:
            by_server.setdefault(feed.server_id, []).append(feed)
    results = await asyncio.gather(
        *(_collect_server(run, servers[sid], group, plans) for sid, group in by_server.items())
    )
    for outcomes in results:
        run.report.outcomes.extend(outcomes)
    run.report.outcomes.sort(key=lambda o: (o.server, o.customer_code))
    run.report.seconds += time.monotonic() - began
    return run.report


async def _collect_server(
    run: _Run, server: ServerRecord, feeds: list[FeedRecord], plans: dict[int, FetchPlan]
) -> list[FeedOutcome]:
    token = await asyncio.to_thread(server_token, run.engine, run.cipher, server.id)
    client = run.client_factory(server, token, run.settings)
    async with client:
        try:
            ping = await client.ping()
            # Another dealer at the registered URL serves the same customer codes with
            # other printers: nothing it serves may be stored.
            await run.write(confirm_dealer, run.engine, server, ping)
        except MPSMonitorError as exc:
            await run.write(
                record_server_health, run.engine, server.id, healthy=False,
                reason=f"{exc.reason}: {exc}", now=run.now(),
            )  # fmt: skip
            reason = f"server {server.name} failed its health check ({exc.reason}): {exc}"
            log.warning("pausing %d feed(s) of %s: %s", len(feeds), server.name, reason)
            outcomes = []
            for feed in feeds:
                first = max(run.start, feed.activation_date)
                await _record(run, feed, first, PAUSED, reason)
                outcomes.append(_outcome(server, feed, PAUSED, reason, first, run.end))
                run.report.feeds_done += 1
            run.report.requests += client.requests_sent
            run.report.retries += client.retries
            return outcomes
        await run.write(
            record_server_health, run.engine, server.id, healthy=True, reason=None, now=run.now()
        )
        dealer_code = ping.dealer_code
        run, plans, waiting = await _within_server_days(run, server, feeds, plans, ping)
        if waiting:
            run.report.requests += client.requests_sent
            return waiting
        # The shared device listings run while the feeds' Counter/List requests go out: a
        # feed waits for its own listing only when its readings are in.
        listings = start_listings(client, server.name, feeds)
        gate = asyncio.Semaphore(run.settings.concurrency)

        try:
            outcomes = list(
                await asyncio.gather(
                    *(
                        _collect_feed(
                            run,
                            client,
                            server,
                            f,
                            plans[f.id],
                            dealer_code,
                            listings[f.customer_code],
                            gate,
                        )
                        for f in feeds
                    )
                )
            )
        finally:
            for listing in set(listings.values()):
                listing.cancel()
        run.report.requests += client.requests_sent
        run.report.retries += client.retries
        return outcomes


async def _within_server_days(
    run: _Run,
    server: ServerRecord,
    feeds: list[FeedRecord],
    plans: dict[int, FetchPlan],
    ping: Ping,
) -> tuple[_Run, dict[int, FetchPlan], list[FeedOutcome]]:
    """Keep the collection to the days that have ended on the server's own clock.

    A day the server has not finished has no readings yet; counting it as collected would
    deposit zero pages and move the feed's sync past the server. Those days are recorded
    as paused, to be collected once the server's day has ended. Returns the run and plans
    narrowed to the server's days, and the outcomes when none of the run's days is over.
    """
    lived = ping.server_time_utc.astimezone(UTC).date() - timedelta(days=1)
    if lived >= run.end:
        return run, plans, []
    reason = (
        f"the day is not over on {server.name} yet (its clock says "
        f"{ping.server_time_utc.astimezone(UTC):%Y-%m-%d %H:%M} UTC): collected once it is"
    )
    outcomes = []
    for feed in feeds:
        first = max(run.start, lived + timedelta(days=1), feed.activation_date)
        if first <= run.end:
            await _record(run, feed, first, PAUSED, reason)
        outcomes.append(_outcome(server, feed, PAUSED, reason, first, run.end))
    log.warning("%s: %s", server.name, reason)
    if lived < run.start:
        run.report.feeds_done += len(feeds)
        return run, plans, outcomes
    mine = {f.id for f in feeds}
    narrowed = {
        fid: FetchPlan(min(p.fetch_from, lived), lived) for fid, p in plans.items() if fid in mine
    }
    return replace(run, end=lived), {**plans, **narrowed}, []


async def _record(
    run: _Run, feed: FeedRecord, first: date, status: str, reason: str, kind: str | None = None
) -> None:
    await run.write(
        record_status, run.engine, feed_id=feed.id, first=first, last=run.end, status=status,
        reason=reason, run_id=run.run_id, now=run.now(), kind=kind,
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


def _store_feed(
    run: _Run,
    feed: FeedRecord,
    device_rows: list[Device],
    reading_rows: list[DeviceReadings],
    plan: FetchPlan,
    first: date,
    covered_from: date,
) -> tuple[int, list[tuple[date, bool]]]:
    """Store what one feed's requests returned, judge its health and clear its pending
    re-collection: one transaction, so a night stopped anywhere leaves the feed all done
    or not at all, in one trip to the writer thread (a night has a thousand of them, one
    at a time). Returns the readings changed and the health changes."""
    with writing(run.engine) as conn:
        changed = save_collection(
            conn, feed=feed, device_rows=device_rows, reading_rows=reading_rows,
            fetched_from=plan.fetch_from, fetched_to=plan.fetch_to, run_id=run.run_id,
            now=run.now(),
        )  # fmt: skip
        health_changes = evaluate_feed_health(
            conn, feed, first, run.end, holidays=run.holidays, now=run.now()
        )
        # Cleared by what was actually fetched, not by what was asked for.
        clear_recollect(conn, feed.id, covered_from, plan.fetch_to)
    return changed, health_changes


async def _collect_feed(
    run: _Run,
    client: MPSMonitorClient,
    server: ServerRecord,
    feed: FeedRecord,
    plan: FetchPlan,
    dealer_code: str,
    listing: asyncio.Future[dict[str, list[Device]] | None],
    gate: asyncio.Semaphore,
) -> FeedOutcome:
    """One feed: its readings over the plan's range, its devices (from the server's shared
    `listing`, or its own Device/List when that failed), stored with each day's status."""
    began = time.monotonic()
    first = max(run.start, feed.activation_date)
    covered_from = max(plan.fetch_from, feed.activation_date)
    try:
        # The customer lookup proves the code exists; after the first sync it is only
        # needed when the device list comes back empty, so a night costs one request per
        # feed beside the server's shared device list.
        # The gate bounds the feeds talking to the server; a feed leaves it once its
        # answers are in, so the store's one writer never holds requests back.
        async with gate:
            began = time.monotonic()
            if feed.synced_through is None:
                await client.get_customer(feed.customer_code)
            reading_rows = await client.counter_list(
                dealer_code, feed.customer_code, plan.fetch_from, plan.fetch_to
            )
            # Shielded: one feed failing (or cancelled) must not cancel the shared listing.
            listed = await asyncio.shield(listing)
            device_rows = listed.get(feed.customer_code) if listed is not None else None
            if device_rows is None:
                device_rows = await client.list_devices(feed.customer_code, "All")
            if not device_rows and feed.synced_through is not None:
                await client.get_customer(feed.customer_code)
        changed, health_changes = await run.write(
            _store_feed, run, feed, device_rows, reading_rows, plan, first, covered_from
        )
    except DBAPIError:
        # The store itself failed (a full disk, a damaged file, the database gone): every
        # feed would, and nothing could be recorded. The run fails; each feed's writes
        # are one transaction, so nothing is half done.
        raise
    except Exception as exc:  # one feed's failure must not stop the others
        if isinstance(exc, MPSMonitorError):
            kind, reason = exc.kind, f"{exc.kind}: {exc}"
        else:
            kind, reason = "internal", f"internal error ({type(exc).__name__}): {exc}"
            log.exception("feed %s on %s failed unexpectedly", feed.customer_code, server.name)
        log.warning("feed %s on %s failed: %s", feed.customer_code, server.name, reason)
        await _record(run, feed, first, FAILED, reason, kind)
        out = _outcome(server, feed, FAILED, reason, first, run.end)
        out.seconds = time.monotonic() - began
        run.report.feeds_done += 1
        return out
    out = _outcome(server, feed, COLLECTED, None, covered_from, plan.fetch_to)
    run.report.feeds_done += 1
    out.devices = len(device_rows)
    out.readings_changed = changed
    out.health_changes = health_changes
    out.seconds = time.monotonic() - began
    return out
