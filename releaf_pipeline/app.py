"""The application: what a `releaf` command does, without the command line.

The CLI parses arguments and prints; the demo scripts a story; both call these, which
open the store and the Dagster instance once, check what a user gave, and hand the work
to `lib/` and `launch`. A `UserError` is a refusal with one line saying what to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.settings import Settings, read_settings, revealed

if TYPE_CHECKING:
    import dagster as dg
    from sqlalchemy.engine import Engine

    from releaf_pipeline.launch import CollectionRequest
    from releaf_pipeline.lib.mpsmonitor.models import Ping
    from releaf_pipeline.lib.secrets import TokenCipher
    from releaf_pipeline.replay import Night


class UserError(ReleafError):
    """What the user gave cannot be used; the message says what to do, in one line."""


@dataclass
class App:
    """One command's view of the pipeline: its settings, store, key and instance, each
    opened once and only when the command needs it."""

    settings: Settings = field(default_factory=read_settings)

    @cached_property
    def engine(self) -> Engine:
        """The store, migrated to the newest schema."""
        from releaf_pipeline.lib.store.engine import make_engine

        # A store with no schema is new only if the instance has no runs either; the
        # instance is opened for that question alone, when the schema is missing.
        with store_url_checked():
            return make_engine(
                self.settings.database_url.get_secret_value(),
                may_create=lambda: self.instance.get_runs_count() == 0,
            )

    @cached_property
    def cipher(self) -> TokenCipher:
        """Seals and opens dealer tokens; refused in one line when the key opens none of
        the stored tokens (the wrong key, or a key file lost or damaged)."""
        from releaf_pipeline.lib.store.tokens import store_cipher

        return store_cipher(self.engine, self.settings.home, revealed(self.settings.secret_keys))

    @cached_property
    def sealing_cipher(self) -> TokenCipher:
        """Seals a token given again, without requiring the key to open the stored ones:
        that is how servers whose tokens were sealed with a lost key are given new ones."""
        from releaf_pipeline.lib.secrets import TokenCipher, load_keys
        from releaf_pipeline.lib.store.tokens import sealed_tokens

        count = len(sealed_tokens(self.engine))
        return TokenCipher(
            load_keys(self.settings.home, revealed(self.settings.secret_keys), sealed_tokens=count)
        )

    def check_key(self) -> None:
        """Refuse, in one line, to start a run whose steps could not open the stored
        dealer tokens (a wrong key, a key file lost or damaged), before anything is
        written or any run is recorded."""
        _ = self.cipher

    @cached_property
    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance at DAGSTER_HOME."""
        from releaf_pipeline.launch import open_instance

        return open_instance(self.settings)

    def now(self) -> datetime:
        """What the pipeline takes as now (`RELEAF_NOW` or the wall clock)."""
        return self.settings.current_time()

    def close(self) -> None:
        """Let go of the store and the instance."""
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "instance" in self.__dict__:
            self.instance.dispose()


def record_fleet_health(app: App) -> None:
    """Show a change an operator made (a server or feed added, updated, paused, resumed or
    removed) in the UI at once: a fresh `fleet_health` and fresh results of its checks,
    rather than whatever the last health run saw."""
    from releaf_pipeline.defs.health.fleet import report_fleet_health
    from releaf_pipeline.defs.resources import RulesResource

    rules = RulesResource.of(app.settings)
    report_fleet_health(app.instance, app.engine, app.now().date(), rules, force=True)


@contextmanager
def store_url_checked() -> Iterator[None]:
    """Turn a RELEAF_DATABASE_URL that SQLAlchemy cannot use into a UserError; the URL is
    not repeated, as it may hold a password."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.ArgumentError as exc:
        raise UserError(
            f"RELEAF_DATABASE_URL is not a database URL SQLAlchemy can open ({exc}); "
            "write e.g. sqlite:///PATH or postgresql+psycopg2://USER:PASSWORD@HOST/DB"
        ) from None
    except ImportError as exc:
        raise UserError(
            f"RELEAF_DATABASE_URL needs the database driver {exc.name or exc}, which is not "
            "installed: for PostgreSQL write postgresql+psycopg2://..."
        ) from None


def verify_server(url: str, token: str, ca_pem: str | None) -> Ping:
    """Ping `url` with `token`; a UserError saying why when it fails."""
    from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
    from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
    from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings

    async def ping() -> Ping:
        settings = ClientSettings(timeout=10.0, max_attempts=2, backoff_base=0.2)
        async with MPSMonitorClient(url, token, ca_data=ca_pem, settings=settings) as client:
            return await client.ping()

    try:
        return asyncio.run(ping())
    except MPSMonitorError as exc:
        raise UserError(f"server check failed ({exc.reason}): {exc}") from None


CA_BUNDLE_MAX_BYTES = 1024 * 1024
"""The largest CA bundle file taken: the system's whole trust store is a quarter of it."""


def read_ca_bundle(path: Path) -> str:
    """The PEM certificates of a CA bundle file, and nothing else of it; a UserError for a
    file over 1 MiB, not text, without a certificate, or with one that does not parse.

    Text between the certificates (comments, `openssl x509 -text` output) is dropped, so
    the store keeps the certificates alone."""
    from releaf_pipeline.lib.pem import PemError, pem_certificates

    if path.is_dir():
        raise UserError(f"CA bundle {path} is a directory: give the PEM file of the CA")
    if not path.is_file():
        raise UserError(f"CA bundle {path} does not exist")
    try:
        with path.open("rb") as fh:
            data = fh.read(CA_BUNDLE_MAX_BYTES + 1)
    except OSError as exc:
        raise UserError(f"cannot read CA bundle {path}: {exc.strerror}") from None
    if len(data) > CA_BUNDLE_MAX_BYTES:
        raise UserError(
            f"CA bundle {path} is over 1 MiB: give the PEM file of the CA that signed the "
            "server's certificate, not a larger file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"CA bundle {path} is not PEM text: give the CA's .pem file") from None
    try:
        return pem_certificates(text)
    except PemError as exc:
        raise UserError(f"CA bundle {path} {exc}: give the CA's .pem file") from None


ACTIVATION_AHEAD_DAYS = 366


def check_activation(app: App, day: date) -> None:
    """A UserError unless `day` can be a feed's activation date: from the first partition
    (the days before can never be collected) to a year from today (a feed may be
    registered ahead of the day it starts; a date further out is a typo)."""
    first = app.settings.partitions_start
    if day < first:
        raise UserError(
            f"activation date {day} is before the first partition, {first}: the pipeline "
            "cannot collect it (RELEAF_PARTITIONS_START sets where partitions start)"
        )
    latest = app.now().date() + timedelta(days=ACTIVATION_AHEAD_DAYS)
    if day > latest:
        raise UserError(
            f"activation date {day} is more than {ACTIVATION_AHEAD_DAYS} days ahead (latest "
            f"{latest}): check the date"
        )


def latest_day(app: App) -> date:
    """The latest day that is over, so has a partition: yesterday by the pipeline's clock."""
    return app.now().date() - timedelta(days=1)


def check_night(app: App, day: date) -> None:
    """A UserError unless the night after `day` can be replayed: `day` is over and has a
    partition. Checked before anything is opened, so a refusal writes nothing."""
    latest = latest_day(app)
    if day > latest:
        raise UserError(
            f"--date {day} is not over yet: the latest night that can be replayed is the "
            f"one after {latest} (--date {latest})"
        )
    first = app.settings.partitions_start
    if day < first:
        raise UserError(f"--date {day} is before the first partition, {first}")


def collection_request(
    app: App,
    start: date,
    end: date,
    *,
    feeds: tuple[str, ...] = (),
    server: str | None = None,
    trigger: str = "cli",
) -> CollectionRequest:
    """A collection of [start, end], checked before anything is written: a range in
    order, over (nothing after yesterday), inside the partitions, of known feeds (each
    named alone; with `server`, codes of that server)."""
    from releaf_pipeline.launch import CollectionRequest

    latest = latest_day(app)
    if end < start:
        raise UserError(f"--end {end} is before --start {start}")
    if end > latest:
        # The option the user gave: a one-day collection names --start.
        option = "--end" if end != start else "--start"
        raise UserError(
            f"{option} {end} is not over yet: the latest day that can be collected is {latest}"
        )
    first = app.settings.partitions_start
    if start < first:
        raise UserError(f"--start {start} is before the first partition, {first}")
    from releaf_pipeline.lib.store.feed_names import find_feeds
    from releaf_pipeline.lib.store.registry import list_feeds

    active = [f for f in list_feeds(app.engine) if f.collected]
    named = active
    if feeds:
        named, unknown = find_feeds(list_feeds(app.engine), feeds, server=server)
        if unknown:
            where = f" on server {server}" if server is not None else ""
            raise UserError(f"no feed {', '.join(unknown)}{where}: see `releaf feed list`")
    return CollectionRequest(
        start, end, feeds=feeds, server=server, trigger=trigger, feed_count=len(named),
        max_seconds=app.settings.run_max_seconds,
    )  # fmt: skip


def run_collection(
    app: App,
    request: CollectionRequest,
    *,
    progress: Callable[[dg.DagsterRun], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> Any:
    """Submit a collection to the instance at DAGSTER_HOME and wait for it to end;
    `progress` and `notice` as `Launcher.execute` takes them."""
    from releaf_pipeline.definitions import defs
    from releaf_pipeline.launch import collect

    return collect(defs, request, app.instance, progress=progress, notice=notice)


def publish_days(app: App) -> None:
    """Show at once, in the UI, each day an operator's change rewrote (its figures and
    check results), as the store now has it; a run would otherwise show it only when it
    next covers the day."""
    from releaf_pipeline.defs.collection.day_view import Judged
    from releaf_pipeline.defs.collection.publish import publish_runless

    judged = Judged(app.now().date(), app.settings.catchup_lookback_days)
    publish_runless(app.instance, app.engine, judged)


@dataclass(frozen=True)
class CollectionSummary:
    """What a range's collection left: pages per account, and the feeds not collected."""

    pages: list[tuple[str, int]]
    problems: list[str]
    """One line per feed not collected on some day: `feed CODE on SERVER: status: reason`."""


def collection_summary(app: App, start: date, end: date) -> CollectionSummary:
    """Pages per account deposited in [start, end], and every feed-day problem in it."""
    from releaf_pipeline.lib.store.collection import feed_day_statuses
    from releaf_pipeline.lib.store.registry import list_feeds
    from releaf_pipeline.lib.store.reports import pages_per_account

    feeds = {f.id: f for f in list_feeds(app.engine)}
    problems: dict[int, tuple[str, str]] = {}
    for row in feed_day_statuses(app.engine, start, end, problems_only=True):
        problems[row.feed_id] = (row.status, row.reason or "")
    lines = [
        f"feed {feeds[fid].customer_code} on {feeds[fid].server_name}: {status}: {reason}"
        for fid, (status, reason) in sorted(problems.items())
    ]
    return CollectionSummary(pages_per_account(app.engine, start, end), lines)


def _run_days(start: str, end: str) -> set[date]:
    """The days of a night's collection run ("" or months for other runs: none)."""
    from releaf_pipeline.lib.dates import days_between, strict_date

    try:
        first, last = strict_date(start), strict_date(end)
    except ValueError:
        return set()
    return set(days_between(first, last))


def night_problems(app: App, night: Night) -> list[str]:
    """One line per feed and run of days that the night left paused or failed, on the
    night's day or any day a run of the night collected: feed, server, days, status,
    reason, and what the pipeline does next."""
    from releaf_pipeline.lib.catchup import contiguous_ranges, next_step
    from releaf_pipeline.lib.store.collection import feed_day_statuses
    from releaf_pipeline.lib.store.registry import list_feeds, list_servers

    days = {night.day}
    for run in night.runs:
        days |= _run_days(run.start, run.end)
    feeds = {f.id: f for f in list_feeds(app.engine)}
    healthy = {s.name: bool(s.healthy) for s in list_servers(app.engine)}
    found: dict[tuple[int, str, str, str | None], list[date]] = {}
    for row in feed_day_statuses(app.engine, min(days), max(days), problems_only=True):
        if row.day in days:
            reason = " ".join((row.reason or "").split())
            found.setdefault((row.feed_id, row.status, reason, row.failure_kind), []).append(
                row.day
            )
    problems = []
    for (feed_id, status, reason, kind), found_days in found.items():
        feed = feeds[feed_id]
        for first, last in contiguous_ranges(found_days):
            step = next_step(
                status, kind, first, today=night.at.date(), server=feed.server_name,
                server_healthy=healthy.get(feed.server_name, False),
                customer_code=feed.customer_code,
                lookback_days=app.settings.catchup_lookback_days, last=last,
            )  # fmt: skip
            span = f"{first}" if first == last else f"{first}..{last}"
            why = f": {reason}" if reason else ""
            problems.append(
                ((feed.server_name, feed.customer_code, first),
                 f"feed {feed.customer_code} on {feed.server_name}: {span} {status}{why}; "
                 f"next: {step.text}")
            )  # fmt: skip
    return [line for _, line in sorted(problems)]
