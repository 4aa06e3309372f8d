"""The night's collection as pieces: which pieces a run has, and the collection of one.

`plan_collection` cuts the run's feeds into pieces (`lib.pieces`), one dynamic output
each; `collect_piece` collects one piece. Each piece is a step of its own, so the run's
executor places it: in the run's process, in a process of its own, on a Celery worker
or in a Kubernetes job. A failed piece is retried alone, the others keep what they did.
"""

import asyncio
import time
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import dagster as dg
from sqlalchemy.exc import DBAPIError

from releaf_pipeline.defs.collection.piece_summary import PieceSummary, cpu_seconds
from releaf_pipeline.defs.failures import one_line_failures
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.partitions import partition_days
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO
from releaf_pipeline.launch import PROGRESS_TAG, CollectionConfig
from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
from releaf_pipeline.lib.store.tables import COLLECTED, FAILED

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from releaf_pipeline.lib.collector import CollectionReport
    from releaf_pipeline.lib.pieces import Piece
    from releaf_pipeline.lib.store.registry import FeedRecord, ServerRecord

PIECE_RETRIES = 2
"""A piece whose step failed (the store out of reach a moment, a bug met once) is run
again, alone, this many times; feeds already collected are collected again the same.
Asked for with `RetryRequested`, not an op's retry policy: Dagster retries a step with a
policy even when the run is being terminated."""
PIECE_RETRY_SECONDS = 5
FEED_IDS_PER_QUERY = 5_000
"""Feed ids named in one query: SQLite takes at most 32,766 bound values a statement."""
PROGRESS_SECONDS = 1.0
"""How often a piece's progress tag is brought up to date (the waiting command shows it)."""
HEARTBEAT_SECONDS = 30.0
"""How often a piece in progress says so in its log: the catch-up takes a collection whose
log has been silent for long as one whose worker is gone."""


@dg.op(
    out=dg.DynamicOut(dict, io_manager_key=STEP_OUTPUTS_IO),
    tags={"releaf/part": "plan"},
)
@one_line_failures
def plan_collection(
    context: dg.OpExecutionContext,
    config: CollectionConfig,
    store: StoreResource,
    mpsmonitor: MPSMonitorResource,
    rules: RulesResource,
) -> Iterator[dg.DynamicOutput[dict]]:
    """The run's feeds, cut into pieces: one per MPS Monitor server, a server with more
    feeds than a piece holds in shards that share its limit of requests in flight."""
    from releaf_pipeline.lib.pieces import plan_pieces
    from releaf_pipeline.lib.store.feed_names import find_feeds
    from releaf_pipeline.lib.store.registry import RegistryError, list_feeds, list_servers

    start, end = partition_days(context)
    engine = store.engine()
    # Feeds an operator paused are left out until resumed.
    feeds = [f for f in list_feeds(engine) if f.activation_date <= end and f.collected]
    if config.feeds or config.feed_ids:
        try:
            feeds, unknown = find_feeds(feeds, config.feeds, config.feed_ids, server=config.server)
        except RegistryError as exc:
            raise dg.Failure(str(exc)) from None
        if unknown:
            raise dg.Failure(
                f"no feed active by {end} for {', '.join(unknown)}: see `releaf feed list`"
            )
    if config.missing_only:
        feeds = _not_collected(engine, feeds, start, end)
    pieces = plan_pieces(
        ((s.id, s.name) for s in list_servers(engine)),
        ((f.id, f.server_id) for f in feeds),
        limit=mpsmonitor.concurrency_per_server,
        feeds_per_piece=rules.feeds_per_piece,
    )
    safe_log(context).info(
        f"collecting {len(feeds)} feed(s) for {start}..{end} in {len(pieces)} piece(s)"
    )
    for piece in pieces:
        yield dg.DynamicOutput(piece.to_json(), mapping_key=piece.key)


def _not_collected(
    engine: "Engine", feeds: "list[FeedRecord]", start: date, end: date
) -> "list[FeedRecord]":
    """The feeds with a day of [start, end] since their activation not recorded as
    collected: what a run that did not finish left."""
    from releaf_pipeline.lib.store.collection import collected_days

    done = collected_days(engine, start, end)
    return [f for f in feeds if done.get(f.id, 0) < (end - max(start, f.activation_date)).days + 1]


@dg.op(
    pool="mpsmonitor",
    out=dg.Out(dict, io_manager_key=STEP_OUTPUTS_IO),
    tags={"releaf/part": "piece"},
)
@one_line_failures
def collect_piece(
    context: dg.OpExecutionContext,
    piece: dict,
    store: StoreResource,
    mpsmonitor: MPSMonitorResource,
    clock: ClockResource,
    rules: RulesResource,
) -> dict:
    """One piece of the night: its feeds' devices and readings for the run's days.

    Every feed of the piece whose server answers its health check is collected
    (concurrently, within the piece's share of the server's limit); its readings and
    devices are mirrored in the store and each feed-day is recorded as collected, paused
    (server unhealthy) or failed, with the reason. A failing feed never stops the others.

    A piece that fails as a whole is retried; on its last attempt, or when no retry can
    help (a dealer token no key opens), its feeds not collected yet are recorded as failed
    with the reason, for the catch-up, and the night goes on: the other pieces' deposits
    are never held back by one server.
    """
    from releaf_pipeline.lib.collector import CollectionReport
    from releaf_pipeline.lib.pieces import Piece

    mine = Piece.from_json(piece)
    start, end = partition_days(context)
    report = CollectionReport(start, end)
    cpu = cpu_seconds()
    try:
        _collect(context, mine, report, store, mpsmonitor, clock, rules)
    except Exception as exc:
        if _retried(context, exc):
            wait = PIECE_RETRY_SECONDS * 2**context.retry_number
            raise dg.RetryRequested(max_retries=PIECE_RETRIES, seconds_to_wait=wait) from exc
        _record_failed_piece(context, mine, report, store, clock, exc)
    _log_outcomes(context, report)
    return asdict(PieceSummary.of(report, cpu_seconds() - cpu))


def _collect(
    context: dg.OpExecutionContext,
    mine: "Piece",
    report: "CollectionReport",
    store: StoreResource,
    mpsmonitor: MPSMonitorResource,
    clock: ClockResource,
    rules: RulesResource,
) -> None:
    from releaf_pipeline.lib.collector import collect
    from releaf_pipeline.lib.pieces import batches

    engine = store.engine()
    feeds, servers = _piece_feeds(engine, mine)
    settings = replace(mpsmonitor.settings(), concurrency=mine.concurrency)
    safe_log(context).info(
        f"collecting {len(feeds)} feed(s) of {mine.server} for {report.start}..{report.end}, "
        f"{mine.concurrency} request(s) in flight"
        + (f" (shard {mine.shard + 1} of {mine.shards})" if mine.shards > 1 else "")
    )
    if not feeds:
        return
    cipher = store.cipher()
    for batch in batches(feeds, rules.feeds_per_piece):
        work = collect(
            engine, cipher, servers, list(batch), report.start, report.end,
            settings=settings, run_id=context.run.run_id, now=clock.now,
            client_factory=mpsmonitor.client, holidays=rules.holiday_dates(), report=report,
        )  # fmt: skip
        asyncio.run(_with_progress(context, mine.key, work, report))


def _piece_feeds(
    engine: "Engine", mine: "Piece"
) -> "tuple[list[FeedRecord], dict[int, ServerRecord]]":
    """The piece's feeds and server as the store has them now: a feed or server removed
    since the run began is left out, and its deposits stay as they were. Only the piece's
    own feeds are read, a batch of ids at a time: a worker's memory follows its piece,
    not the fleet."""
    from releaf_pipeline.lib.pieces import batches
    from releaf_pipeline.lib.store.registry import list_feeds, list_servers

    servers = {s.id: s for s in list_servers(engine) if s.id == mine.server_id}
    by_id = {}
    for ids in batches(mine.feed_ids, FEED_IDS_PER_QUERY):
        by_id.update((f.id, f) for f in list_feeds(engine, list(ids)) if f.server_id in servers)
    return [by_id[i] for i in mine.feed_ids if i in by_id], servers


def _retried(context: dg.OpExecutionContext, exc: Exception) -> bool:
    """Whether Dagster runs the piece again after `exc`: not on its last attempt, nor for
    an operator's error, which the same attempt would meet again."""
    if _operator_error(exc):
        return False
    return context.retry_number < PIECE_RETRIES


def _operator_error(exc: Exception) -> bool:
    # A key, a setting, the store: the same attempt would meet it again. A server's
    # failure is not one: a later attempt may find it answering.
    return isinstance(exc, ReleafError) and not isinstance(exc, MPSMonitorError)


def _record_failed_piece(
    context: dg.OpExecutionContext,
    mine: "Piece",
    report: "CollectionReport",
    store: StoreResource,
    clock: ClockResource,
    exc: Exception,
) -> None:
    """Record the piece's feeds that have no outcome yet as failed, with why."""
    from releaf_pipeline.lib.collector import FeedOutcome
    from releaf_pipeline.lib.store.collection import record_status

    if isinstance(exc, DBAPIError):
        # The store cannot record it either: the day stays missing, and the catch-up
        # collects what this piece left once the store answers again.
        raise exc
    why = " ".join(str(exc).split()) or type(exc).__name__
    kind = "secret_key" if _operator_error(exc) else "piece_failed"
    reason = f"{kind}: the piece of {mine.server} failed: {why}"
    safe_log(context).error(reason)
    engine = store.engine()
    done = {o.feed_id for o in report.outcomes}
    feeds, _ = _piece_feeds(engine, mine)
    for feed in feeds:
        if feed.id in done:
            continue
        first = max(report.start, feed.activation_date)
        record_status(
            engine, feed_id=feed.id, first=first, last=report.end, status=FAILED,
            reason=reason, run_id=context.run.run_id, now=clock.now(), kind=kind,
        )  # fmt: skip
        outcome = FeedOutcome(
            feed_id=feed.id, server=mine.server, customer_code=feed.customer_code,
            account=feed.account, status=FAILED, reason=reason, first_day=first,
            last_day=report.end,
        )  # fmt: skip
        report.outcomes.append(outcome)


def _log_outcomes(context: dg.OpExecutionContext, report: "CollectionReport") -> None:
    for o in report.outcomes:
        for day, healthy in o.health_changes:
            state = "fresh again" if healthy else "UNHEALTHY (no new data for 3 business days)"
            safe_log(context).warning(f"feed {o.customer_code} ({o.server}) is {state} on {day}")
    for o in report.outcomes:
        if o.status != COLLECTED:
            safe_log(context).warning(
                f"feed {o.customer_code} ({o.server}, account {o.account}) {o.status}: {o.reason}"
            )


async def _with_progress(
    context: dg.OpExecutionContext,
    key: str,
    work: Coroutine[Any, Any, Any],
    report: "CollectionReport",
) -> None:
    """Run the collection `work`, keeping the piece's progress tag on the run up to date and
    logging progress now and then, so that the piece is seen to be alive."""
    task = asyncio.ensure_future(work)
    shown, said = "", time.monotonic()
    while not task.done():
        await asyncio.wait([task], timeout=PROGRESS_SECONDS)
        progress = f"{report.feeds_done}/{report.feeds_planned}"
        if progress != shown:
            shown = progress
            context.instance.add_run_tags(context.run.run_id, {f"{PROGRESS_TAG}.{key}": progress})
        if time.monotonic() - said >= HEARTBEAT_SECONDS:
            said = time.monotonic()
            safe_log(context).info(f"collecting: {progress} feeds done")
    task.result()
