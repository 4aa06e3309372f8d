"""A run this process executes never waits forever and never outlives its process unseen.

- Before a run starts, it claims its pool slots (`mpsmonitor` for the collection step)
  in Dagster's own queue, for at most `RELEAF_POOL_WAIT_SECONDS`; past that it gives up,
  naming the runs that hold the slots and how to free them (`PoolSlotUnavailable`).
- While it waits, runs left in progress by a `releaf` process of this host that no longer
  exists (killed with SIGKILL, a machine that lost power) are marked failed and their
  slots freed, as are slots still held by runs that have ended.
- SIGINT and SIGTERM end the run as canceled, its slots freed, within seconds
  (`RunStopped`); so does a Terminate from the Dagster UI.

Why the command does this itself: Dagster's run monitoring (the daemon) tells a dead run
from a live one only through its run launcher's health check, and a run `releaf` executes
in its own process has no launcher watching it; and Dagster 1.13's in-process executor,
once a step waits for a pool slot, polls the database without sleeping and never looks at
the SIGINT or SIGTERM it captured (`InstanceConcurrencyContext.
interval_to_next_pending_claim_check` is never positive, and only the multiprocess and
step-delegating executors call `ActiveExecution.check_for_interrupts`). So the step's slot
is claimed here, before the run starts, and the run is executed in a worker thread (where
Dagster installs no signal handlers) that this thread can interrupt.
"""

from releaf_pipeline.run_guard.pools import (
    HOST_TAG,
    PID_TAG,
    PROCESS_RUN_TAG,
    describe_run,
    process_tags,
)
from releaf_pipeline.run_guard.reaping import reap_dead_holders
from releaf_pipeline.run_guard.stopping import (
    PoolSlotUnavailable,
    RunGuardError,
    RunStopped,
    Stop,
    stop_on_signals,
)
from releaf_pipeline.run_guard.supervision import guarded_run

__all__ = [
    "HOST_TAG",
    "PID_TAG",
    "PROCESS_RUN_TAG",
    "PoolSlotUnavailable",
    "RunGuardError",
    "RunStopped",
    "Stop",
    "describe_run",
    "guarded_run",
    "process_tags",
    "reap_dead_holders",
    "stop_on_signals",
]
