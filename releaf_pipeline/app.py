"""The application: what a `releaf` command does, without the command line.

The CLI parses arguments and prints; the demo scripts a story; both call these, which
open the store and the Dagster instance once, check what a user gave, and hand the work
to `lib/` and `launch`. A `UserError` is a refusal with one line saying what to do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releaf_pipeline.settings import Settings, read_settings

if TYPE_CHECKING:
    import dagster as dg
    from sqlalchemy.engine import Engine

    from releaf_pipeline.launch import CollectionRequest
    from releaf_pipeline.lib.mpsmonitor.models import Ping
    from releaf_pipeline.lib.secrets import TokenCipher


class UserError(Exception):
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

        return make_engine(self.settings.database_url)

    @cached_property
    def cipher(self) -> TokenCipher:
        """Seals and opens dealer tokens."""
        from releaf_pipeline.lib.secrets import TokenCipher, load_keys

        return TokenCipher(load_keys(self.settings.home, self.settings.secret_keys))

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


def verify_server(url: str, token: str, ca_pem: str | None) -> Ping:
    """Ping `url` with `token`; a UserError saying why when it fails."""
    from releaf_pipeline.lib.mpsmonitor.client import ClientSettings, MPSMonitorClient
    from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError

    async def ping() -> Ping:
        settings = ClientSettings(timeout=10.0, max_attempts=2, backoff_base=0.2)
        async with MPSMonitorClient(url, token, ca_data=ca_pem, settings=settings) as client:
            return await client.ping()

    try:
        return asyncio.run(ping())
    except MPSMonitorError as exc:
        raise UserError(f"server check failed ({exc.reason}): {exc}") from None


def read_ca_bundle(path: Path) -> str:
    """The PEM text of a CA bundle file; a UserError for anything else."""
    if not path.is_file():
        raise UserError(f"CA bundle {path} does not exist")
    text = path.read_text()
    if "BEGIN CERTIFICATE" not in text:
        raise UserError(f"CA bundle {path} holds no PEM certificate")
    return text


def first_partition() -> date:
    """The earliest day there is a partition for."""
    from releaf_pipeline.defs.partitions import PARTITIONS_START

    return date.fromisoformat(PARTITIONS_START)


def collection_request(
    app: App,
    start: date,
    end: date,
    *,
    feeds: tuple[str, ...] = (),
    trigger: str = "cli",
) -> CollectionRequest:
    """A collection of [start, end], checked: a range in order, inside the partitions, and
    over (nothing after yesterday)."""
    from releaf_pipeline.launch import CollectionRequest

    first = first_partition()
    yesterday = app.now().date() - timedelta(days=1)
    if end < start:
        raise UserError(f"--end {end} is before --start {start}")
    if start < first:
        raise UserError(f"--start {start} is before the first partition, {first}")
    if end > yesterday:
        raise UserError(
            f"--end {end} is not over yet: the latest day that can be collected is {yesterday}"
        )
    if feeds:
        from releaf_pipeline.lib.store.registry import find_feeds, list_feeds

        _, unknown = find_feeds(list_feeds(app.engine), feeds)
        if unknown:
            raise UserError(f"no feed {', '.join(unknown)}: see `releaf feed list`")
    return CollectionRequest(start, end, feeds=feeds, trigger=trigger)


def run_collection(app: App, request: CollectionRequest) -> Any:
    """Run a collection in this process, recorded in the instance at DAGSTER_HOME."""
    from releaf_pipeline.definitions import defs
    from releaf_pipeline.launch import collect

    return collect(defs, request, app.instance)


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
