"""The night's collection as pieces: which pieces a run has, and the collection of one.

`plan_collection` cuts the run's feeds into pieces (`lib.pieces`), one dynamic output
each; `collect_piece` collects one piece. Each piece is a step of its own, so the run's
executor places it: in the run's process, in a process of its own, on a Celery worker
or in a Kubernetes job. A failed piece is retried alone, the others keep what they did.
"""

import asyncio
import resource
import time
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import dagster as dg

from releaf_pipeline.defs.failures import one_line_failures
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.partitions import partition_days
from releaf_pipeline.defs.resources import ClockResource, MPSMonitorResource, StoreResource
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO
from releaf_pipeline.launch import PROGRESS_TAG, CollectionConfig
from releaf_pipeline.lib.store.collection import COLLECTED, FAILED, PAUSED
from releaf_pipeline.settings import read_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from releaf_pipeline.lib.collector import CollectionReport
    from releaf_pipeline.lib.store.registry import FeedRecord

PIECE_RETRIES = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
"""A piece whose step failed (its worker lost, the store out of reach a moment) is run
again, alone; feeds already collected are collected again the same."""
PROGRESS_SECONDS = 1.0
"""How often a piece's progress tag is brought up to date (the waiting command shows it)."""
HEARTBEAT_SECONDS = 30.0
"""How often a piece in progress says so in its log: the catch-up takes a collection whose
log has been silent for long as one whose worker is gone."""


@dataclass
class PieceSummary:
    """What one piece did: the run adds them up."""

    feeds_collected: int = 0
    feeds_paused: int = 0
    feeds_failed: int = 0
    readings_changed: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    """Seconds the pieces took, added up (pieces run side by side take less)."""
    cpu_seconds: float = 0.0
    """CPU time of the processes that collected the pieces, added up."""
    peak_rss_mib: int = 0
    """The largest peak resident memory of a process that collected a piece."""

    @classmethod
    def of(cls, report: "CollectionReport", cpu_seconds: float) -> "PieceSummary":
        """The summary of a piece's collection report, with what its process used."""
        return cls(
            feeds_collected=report.count(COLLECTED),
            feeds_paused=report.count(PAUSED),
            feeds_failed=report.count(FAILED),
            readings_changed=sum(o.readings_changed for o in report.outcomes),
            requests=report.requests,
            retries=report.retries,
            seconds=round(report.seconds, 1),
            cpu_seconds=round(cpu_seconds, 2),
            # Linux reports the peak in KiB.
            peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        )

    @classmethod
    def total(cls, pieces: list[dict[str, Any]]) -> "PieceSummary":
        """The run's summary: its pieces' added up, their peak memory the largest."""
        out = cls()
        for piece in pieces:
            for name, value in piece.items():
                if name == "peak_rss_mib":
                    out.peak_rss_mib = max(out.peak_rss_mib, value)
                else:
                    setattr(out, name, getattr(out, name) + value)
        out.seconds = round(out.seconds, 1)
        out.cpu_seconds = round(out.cpu_seconds, 2)
        return out


@dg.op(
    out=dg.DynamicOut(dict, io_manager_key=STEP_OUTPUTS_IO),
    tags={"releaf/part": "plan"},
)
@one_line_failures
def plan_collection(
    context: dg.OpExecutionContext, config: CollectionConfig, store: StoreResource
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
    settings = read_settings()
    pieces = plan_pieces(
        ((s.id, s.name) for s in list_servers(engine)),
        ((f.id, f.server_id) for f in feeds),
        limit=settings.concurrency_per_server,
        feeds_per_piece=settings.feeds_per_piece,
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
    retry_policy=PIECE_RETRIES,
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
) -> dict:
    """One piece of the night: its feeds' devices and readings for the run's days.

    Every feed of the piece whose server answers its health check is collected
    (concurrently, within the piece's share of the server's limit); its readings and
    devices are mirrored in the store and each feed-day is recorded as collected, paused
    (server unhealthy) or failed, with the reason. A failing feed never stops the others.
    """
    from releaf_pipeline.lib.collector import CollectionReport, collect
    from releaf_pipeline.lib.pieces import Piece, batches
    from releaf_pipeline.lib.store.registry import list_feeds, list_servers

    mine = Piece.from_json(piece)
    start, end = partition_days(context)
    engine = store.engine()
    servers = {s.id: s for s in list_servers(engine) if s.id == mine.server_id}
    # A feed removed since the run began is left out; its deposits stay as they were.
    by_id = {f.id: f for f in list_feeds(engine) if f.server_id == mine.server_id}
    feeds = [by_id[i] for i in mine.feed_ids if i in by_id]
    settings = replace(mpsmonitor.settings(), concurrency=mine.concurrency)
    report = CollectionReport(start, end)
    safe_log(context).info(
        f"collecting {len(feeds)} feed(s) of {mine.server} for {start}..{end}, "
        f"{mine.concurrency} request(s) in flight"
        + (f" (shard {mine.shard + 1} of {mine.shards})" if mine.shards > 1 else "")
    )
    cipher = store.cipher() if feeds else None
    cpu = _cpu_seconds()
    for batch in batches(feeds, read_settings().feeds_per_piece):
        work = collect(
            engine, cipher, servers, list(batch), start, end, settings=settings,
            run_id=context.run.run_id, now=clock.now, holidays=read_settings().holidays,
            report=report,
        )  # fmt: skip
        asyncio.run(_with_progress(context, mine.key, work, report))
    _log_outcomes(context, report)
    return asdict(PieceSummary.of(report, _cpu_seconds() - cpu))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
