"""Executing a run in a worker thread that a signal, a Terminate from the UI or a step
blocked too long on its pool can stop, the run then ending canceled."""

from __future__ import annotations

import contextvars
import ctypes
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO, TypeVar, cast

import dagster as dg

from releaf_pipeline.run_guard.claiming import claim_slots, forget_unstarted
from releaf_pipeline.run_guard.pools import HOW_TO_FREE, holders_text, pool_claims, run_pools
from releaf_pipeline.run_guard.reaping import reap_dead_holders
from releaf_pipeline.run_guard.stopping import (
    STOP_GRACE_SECONDS,
    PoolSlotUnavailable,
    RunGuardError,
    RunStopped,
    Stop,
)

T = TypeVar("T")
WATCH_POLL_SECONDS = 2.0
_TERMINATED = (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED)
_ENDED_BY_ITSELF = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)


@dataclass
class _Worker:
    """The thread executing the run, and what it returned or raised."""

    thread: threading.Thread | None = None
    value: object = None
    error: BaseException | None = None
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the worker at its next Python instruction, unless it
        has finished. Dagster ends the run as canceled on a KeyboardInterrupt when the run
        is CANCELING; asyncio lets it through its tasks (any other exception a task raises
        stays in the task)."""
        with self.lock:
            if self.done or self.thread is None or self.thread.ident is None:
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread.ident), ctypes.py_object(KeyboardInterrupt)
            )


def _start(work: Callable[[], object], name: str) -> _Worker:
    worker = _Worker()

    def target() -> None:
        if hasattr(signal, "pthread_sigmask"):
            # SIGINT reaches this process through the main thread only; and the processes
            # the run starts from here (Dagster's `tail` of the captured output and its
            # orphan watcher) inherit the block, so a Ctrl-C, which the terminal sends to
            # the whole process group, does not kill them with a traceback each.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            try:
                worker.value = work()
            finally:
                with worker.lock:
                    worker.done = True
        except BaseException as exc:  # the interrupt included: reported by the watcher
            worker.error = exc

    context = contextvars.copy_context()
    worker.thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
    worker.thread.start()
    return worker


@dataclass
class _Watch:
    """Why and since when the run is being stopped, and when its pools were last seen
    blocking it."""

    reason: RunGuardError | None = None
    """Raised once the run ended; None when it was terminated from outside this process."""
    stopping_since: float | None = None
    blocked_since: float | None = None
    next_poll: float = 0.0


def _blocked(instance: dg.DagsterInstance, run_id: str, pools: set[str]) -> bool:
    """Whether a step of the run waits in the queue of one of `pools`."""
    storage = instance.event_log_storage
    for pool in pools:
        info = storage.get_concurrency_info(pool)
        claimed = {(s.run_id, s.step_key) for s in info.claimed_slots}
        if any(
            p.run_id == run_id and (p.run_id, p.step_key) not in claimed for p in info.pending_steps
        ):
            return True
    return False


class _Muted:
    """sys.stderr while a stopped run winds down: what the run's own thread writes is
    dropped (Dagster's console logger prints the stack of the interrupt at every step it
    unwinds, and the user gets one line instead); other threads write as before."""

    def __init__(self, stream: TextIO, thread: threading.Thread) -> None:
        self.stream = stream
        self._thread = thread

    def write(self, text: str) -> int:
        if threading.current_thread() is self._thread:
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def _mute(thread: threading.Thread | None) -> None:
    if thread is not None and not isinstance(sys.stderr, _Muted):
        sys.stderr = _Muted(sys.stderr, thread)  # type: ignore[assignment]


def _unmute() -> None:
    if isinstance(sys.stderr, _Muted):
        sys.stderr = sys.stderr.stream


def _begin_stop(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    worker: _Worker,
    watch: _Watch,
    reason: RunGuardError | None,
    message: str,
) -> None:
    """Mark the run CANCELING (so that Dagster ends it as canceled) and interrupt it."""
    watch.reason = reason
    watch.stopping_since = time.monotonic()
    current = instance.get_run_by_id(run.run_id)
    if current is None or current.status in _ENDED_BY_ITSELF:
        return  # nothing left to stop
    _mute(worker.thread)
    if not current.is_finished and current.status != dg.DagsterRunStatus.CANCELING:
        instance.report_run_canceling(current, message)
    worker.interrupt()


def _watch_once(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    worker: _Worker,
    watch: _Watch,
    *,
    stop: Stop,
    pools: set[str],
    wait_seconds: float,
) -> None:
    now = time.monotonic()
    if watch.stopping_since is None and stop.requested:
        signum = stop.signum or signal.SIGINT
        reason = RunStopped(f"stopped by {stop.name}: run {run.run_id} canceled", signum)
        _begin_stop(instance, run, worker, watch, reason, f"stopped by {stop.name} (releaf)")
        return
    if watch.stopping_since is not None or now < watch.next_poll:
        return
    watch.next_poll = now + WATCH_POLL_SECONDS
    current = instance.get_run_by_id(run.run_id)
    if current is not None and current.status in _TERMINATED:
        # Terminated from the UI (or by run monitoring): stop, as Dagster's own run workers
        # do (`run_cancellation_thread`).
        _begin_stop(instance, run, worker, watch, None, "")
        return
    if not pools or not _blocked(instance, run.run_id, pools):
        watch.blocked_since = None
        return
    watch.blocked_since = watch.blocked_since or now
    if now - watch.blocked_since >= wait_seconds:
        held = holders_text(instance, sorted(pools), run.run_id)
        reason = PoolSlotUnavailable(
            f"run {run.run_id} waited {wait_seconds:g} s for a pool slot and was canceled: "
            f"{held}; {HOW_TO_FREE}"
        )
        _begin_stop(instance, run, worker, watch, reason, "no pool slot in time (releaf)")


def _end_stopped(instance: dg.DagsterInstance, run: dg.DagsterRun, watch: _Watch) -> None:
    """Leave a stopped run canceled, whatever its worker managed to record."""
    current = instance.get_run_by_id(run.run_id)
    if current is not None and not current.is_finished:
        instance.report_run_canceled(
            current, f"did not end within {STOP_GRACE_SECONDS:g} s of being stopped"
        )


def supervise(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    work: Callable[[], T],
    *,
    wait_seconds: float,
    stop: Stop,
) -> T:
    """Execute `run` through `work` in a worker thread until it ends, stopping it (run
    canceled) on a signal, on a Terminate from the UI, or when one of its steps waited
    longer than `wait_seconds` for a pool slot. Its pool slots are freed at the end."""
    pools = run_pools(instance, run)
    worker = _start(work, f"run {run.run_id[:8]}")
    watch = _Watch()
    try:
        while worker.thread is not None and worker.thread.is_alive():
            worker.thread.join(0.25)
            _watch_once(
                instance, run, worker, watch, stop=stop, pools=pools, wait_seconds=wait_seconds
            )
            if watch.stopping_since is not None and (
                stop.count > 1 or time.monotonic() - watch.stopping_since > STOP_GRACE_SECONDS
            ):
                break  # a second Ctrl-C, or a run that will not stop: give up on it
        if watch.stopping_since is not None:
            _end_stopped(instance, run, watch)
    finally:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        if worker.thread is None or not worker.thread.is_alive():
            _unmute()  # a run given up on stays muted: its process is about to end
    return cast(T, _outcome(instance, run, worker, watch))


def _outcome(
    instance: dg.DagsterInstance, run: dg.DagsterRun, worker: _Worker, watch: _Watch
) -> object:
    """What the worker returned, or why the run was stopped."""
    finished = worker.thread is not None and not worker.thread.is_alive()
    if watch.stopping_since is None or (
        finished and worker.error is None and _status(instance, run) in _ENDED_BY_ITSELF
    ):
        # Not stopped, or ended by itself before the stop took hold: what it returned.
        if worker.error is not None:
            raise worker.error
        return worker.value
    if watch.reason is not None:
        raise watch.reason
    # Terminated from the UI or by run monitoring.
    if finished and worker.error is None:
        return worker.value
    raise RunGuardError(f"run {run.run_id} was terminated from outside this command: canceled")


def _status(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRunStatus | None:
    current = instance.get_run_by_id(run.run_id)
    return current.status if current is not None else None


def guarded_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    work: Callable[[], T],
    *,
    wait_seconds: float,
    stop: Stop,
) -> T:
    """Run `run` (created, not started) with `work`: free dead holders, claim its pool
    slots within `wait_seconds`, then execute it under `supervise`."""
    claims = pool_claims(instance, run)
    reap_dead_holders(instance, [c.pool for c in claims])
    claim_slots(instance, run, claims, wait_seconds=wait_seconds, stop=stop)
    if stop.requested:
        forget_unstarted(instance, run, f"stopped by {stop.name}")
        raise RunStopped(f"stopped by {stop.name}: nothing was run", stop.signum or signal.SIGINT)
    return supervise(instance, run, work, wait_seconds=wait_seconds, stop=stop)
