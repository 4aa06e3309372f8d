"""The pool slots a run needs, who holds them, and how to say so in one line."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.instance.config import PoolGranularity
from dagster._core.storage.tags import (
    BACKFILL_ID_TAG,
    GLOBAL_CONCURRENCY_TAG,
    PRIORITY_TAG,
    SCHEDULE_NAME_TAG,
    SENSOR_NAME_TAG,
)

if TYPE_CHECKING:
    from dagster._core.storage.event_log.base import PoolLimit


HOST_TAG = "releaf/host"
PID_TAG = "releaf/pid"
PROCESS_RUN_TAG = "releaf/process_run"
"""The run the host and pid tags were written for: a retry or a re-execution copies its
parent's tags, and must not be judged by its parent's process."""


def process_tags(run_id: str) -> dict[str, str]:
    """The tags naming this process as the one that executes run `run_id`."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), PROCESS_RUN_TAG: run_id}


@dataclass(frozen=True)
class PoolClaim:
    """The slot one step of a run needs in a limited pool."""

    pool: str
    step_key: str
    priority: int


def _int_tag(tags: dict[str, str] | None, name: str) -> int:
    try:
        return int((tags or {}).get(name, 0))
    except ValueError:
        return 0


def pool_limit(instance: dg.DagsterInstance, pool: str) -> int | None:
    """The pool's limit (None: unlimited), set from the instance's default limit first if
    it has none yet, as a step's claim does (`InstanceConcurrencyContext.claim`)."""
    storage = instance.event_log_storage
    default = storage.get_pool_config().default_pool_limit

    def current() -> PoolLimit | None:
        return {p.name: p for p in storage.get_pool_limits()}.get(pool)

    info = current()
    if (info is None and default is not None) or (
        info is not None and info.from_default and info.limit != default
    ):
        storage.initialize_concurrency_limit_to_default(pool)
        info = current()
    return None if info is None else info.limit


def pool_claims(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[PoolClaim]:
    """The slots `run` needs: the first step of each limited pool it uses. The in-process
    executor runs one step at a time, so one slot per pool is all it holds at once."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    if storage.get_pool_config().pool_granularity == PoolGranularity.RUN:
        return []  # pools limit whole runs, in the daemon's run queue, not steps
    snapshot = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    to_execute = set(snapshot.step_keys_to_execute)
    claims: dict[str, PoolClaim] = {}
    for step in snapshot.steps:
        pool = step.pool or (step.tags or {}).get(GLOBAL_CONCURRENCY_TAG)
        if not pool or pool in claims or step.key not in to_execute:
            continue
        if pool_limit(instance, pool) is not None:
            priority = _int_tag(run.tags, PRIORITY_TAG) + _int_tag(step.tags, PRIORITY_TAG)
            claims[pool] = PoolClaim(pool, step.key, priority)
    return list(claims.values())


def run_pools(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[str]:
    """Every pool a step of `run` uses."""
    snapshot = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    pools = {step.pool or (step.tags or {}).get(GLOBAL_CONCURRENCY_TAG) for step in snapshot.steps}
    return {p for p in pools if p}


def slot_holders(instance: dg.DagsterInstance, pool: str, *, besides: str = "") -> list[str]:
    """The runs holding slots of `pool` (claimed, or assigned and about to be claimed),
    other than `besides`, in order."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    held = [s.run_id for s in info.claimed_slots]
    held += [p.run_id for p in info.pending_steps if p.assigned_timestamp is not None]
    return [run_id for run_id in dict.fromkeys(held) if run_id != besides]


def _moment(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _started_by(run: dg.DagsterRun) -> str:
    tags = run.tags
    if tags.get(PROCESS_RUN_TAG) == run.run_id:
        return f"releaf pid {tags.get(PID_TAG)} on {tags.get(HOST_TAG)}"
    for tag, what in (
        (SCHEDULE_NAME_TAG, "schedule"),
        (SENSOR_NAME_TAG, "sensor"),
        (BACKFILL_ID_TAG, "backfill"),
        ("releaf/trigger", "trigger"),
    ):
        if tags.get(tag):
            return f"{what} {tags[tag]}"
    return "started from the Dagster UI or API"


def describe_run(instance: dg.DagsterInstance, run_id: str) -> str:
    """`run ID (job, STATUS since WHEN, who started it)`, for a message."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return f"run {run_id} (not in this Dagster instance)"
    run = record.dagster_run
    since = record.start_time or record.create_timestamp.timestamp()
    return (
        f"run {run_id} ({run.job_name}, {run.status.value} since {_moment(since)}, "
        f"{_started_by(run)})"
    )


def holders_text(instance: dg.DagsterInstance, pools: Iterable[str], run_id: str) -> str:
    parts = []
    for pool in pools:
        limit = instance.event_log_storage.get_concurrency_info(pool).limit
        holders = slot_holders(instance, pool, besides=run_id)
        held = "; ".join(describe_run(instance, h) for h in holders) or "runs queued ahead"
        parts.append(f"pool {pool} (limit {limit}) is held by {held}")
    return "; ".join(parts)


HOW_TO_FREE = (
    "wait for the run holding the slot to end and try again (RELEAF_POOL_WAIT_SECONDS sets "
    "how long a command waits); if that run is stuck (its process gone, on another host), "
    "terminate it in the Dagster UI (its run page, Terminate, forced if asked) or delete it "
    "with `dagster run delete -f RUN_ID`: the next releaf command frees the slots of a run "
    "that has ended"
)
