"""Claiming a run's pool slots before it starts, within a bounded wait."""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence

import dagster as dg

from releaf_pipeline.lib.safe_text import safe_logger
from releaf_pipeline.run_guard.pools import HOW_TO_FREE, PoolClaim, holders_text
from releaf_pipeline.run_guard.reaping import reap_dead_holders
from releaf_pipeline.run_guard.stopping import PoolSlotUnavailable, RunStopped, Stop

log = safe_logger(__name__)


CLAIM_POLL_SECONDS = 1.0
REAP_EVERY_SECONDS = 5.0


def forget_unstarted(instance: dg.DagsterInstance, run: dg.DagsterRun, why: str) -> None:
    """Forget a run that never started (its queue places included), so that it leaves no
    run, and no run key, behind."""
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    log.info(f"run {run.run_id} never started ({why}): deleted")
    instance.delete_run(run.run_id)


def claim_slots(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    claims: Sequence[PoolClaim],
    *,
    wait_seconds: float,
    stop: Stop,
) -> None:
    """Claim `claims` for `run` (not started yet) in Dagster's queue of each pool, waiting
    at most `wait_seconds`, and freeing dead holders while it waits. Raises
    `PoolSlotUnavailable` past the wait and `RunStopped` on a signal, the run deleted."""
    storage = instance.event_log_storage
    deadline = time.monotonic() + wait_seconds
    next_reap = time.monotonic() + REAP_EVERY_SECONDS
    waiting = list(claims)
    while True:
        waiting = [
            c
            for c in waiting
            if not storage.claim_concurrency_slot(
                c.pool, run.run_id, c.step_key, c.priority
            ).is_claimed
        ]
        if not waiting:
            return
        if stop.requested:
            forget_unstarted(instance, run, f"stopped by {stop.name}")
            pools = ", ".join(c.pool for c in waiting)
            raise RunStopped(
                f"stopped by {stop.name} while waiting for a slot in pool {pools}: nothing was run",
                stop.signum or signal.SIGINT,
            )
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != dg.DagsterRunStatus.NOT_STARTED:
            # Ended from outside (the UI, run monitoring's start timeout) while it waited.
            storage.free_concurrency_slots_for_run(run.run_id)
            status = current.status.value if current else "deleted"
            raise PoolSlotUnavailable(
                f"run {run.run_id} became {status} from outside this command while it waited "
                f"for a pool slot: {holders_text(instance, [c.pool for c in waiting], run.run_id)}"
            )
        if time.monotonic() >= deadline:
            held = holders_text(instance, [c.pool for c in waiting], run.run_id)
            forget_unstarted(instance, run, "no pool slot")
            raise PoolSlotUnavailable(
                f"no pool slot free after waiting {wait_seconds:g} s, nothing was run: "
                f"{held}; {HOW_TO_FREE}"
            )
        if time.monotonic() >= next_reap:
            reap_dead_holders(instance, [c.pool for c in waiting])
            next_reap = time.monotonic() + REAP_EVERY_SECONDS
        stop.wait(min(CLAIM_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
