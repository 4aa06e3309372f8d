"""Dagster instance files for the tests and benchmarks that run hundreds of runs in one
process: runs executed where they are submitted, events in one file, no captured logs."""

from __future__ import annotations

from pathlib import Path

from releaf_pipeline.dagster_internals import (
    NOOP_COMPUTE_LOGS_MODULE,
    ONE_FILE_EVENT_LOG_MODULE,
    RUN_COORDINATOR_MODULE,
    SYNC_RUN_LAUNCHER_MODULE,
)

IN_PROCESS_INSTANCE_YAML = f"""\
# Runs are executed at once, in the process that submits them, by Dagster's synchronous
# run launcher: no code server, no process per run.
telemetry:
  enabled: false
run_coordinator:
  module: {RUN_COORDINATOR_MODULE}
  class: DefaultRunCoordinator
run_launcher:
  module: {SYNC_RUN_LAUNCHER_MODULE}
  class: SyncInMemoryRunLauncher
"""
"""An instance for replaying hundreds of runs in one process (the tests of the numbers)
or timing a run's functions from the command that submits it (the phases benchmark)."""
NO_COMPUTE_LOGS_YAML = f"""\
# Runs' stdout and stderr are not captured: capturing starts two processes per stream
# and run.
compute_logs:
  module: {NOOP_COMPUTE_LOGS_MODULE}
  class: NoOpComputeLogManager
"""
"""Added to an instance file, for runs whose stdout and stderr nobody reads."""


def one_file_event_log_yaml(home: Path) -> str:
    """Added to an instance file at `home`: every run's events in one SQLite file, for a
    process that replays hundreds of runs. Dagster's default gives each run a file of its
    own, created and migrated with the run; one file suits runs executed one at a time."""
    return f"""\
# Every run's events in one SQLite file: a file per run costs its creation per run.
event_log_storage:
  module: {ONE_FILE_EVENT_LOG_MODULE}
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {home / "history" / "events"}
"""
