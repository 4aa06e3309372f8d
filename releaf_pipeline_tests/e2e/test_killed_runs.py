"""A command stopped or killed never leaves the next one stuck, on the default instance
(no instance file: `releaf` writes its own, whose runs are launched at once, each in a
process of its own).

Every command is the installed `releaf` in a process of its own, against the simulator.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.runs import (
    COMMAND_SECONDS,
    TODAY,
    collecting,
    register,
    spawn_collect,
    status,
    until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.long]

START, END = "2026-10-08", "2026-10-15"
SLOW = 1.0
"""Seconds the simulator takes per request while a run must stay in its collection step."""
STARTED = dg.DagsterRunStatus.STARTED


@pytest.fixture
def registered(home: Path, tmp_path: Path, releaf, monkeypatch) -> Iterator[Simulator]:
    """Two customers, a feed each, on the default instance."""
    (home / "dagster.yaml").unlink()
    fleet = Fleet(FleetConfig(customers=2, devices_per_customer=3))
    with Simulator(fleet, today=TODAY, workdir=tmp_path / "sim") as sim:
        register(releaf, sim, monkeypatch, activation="2026-10-01")
        yield sim


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Stack Trace" not in err, err


def test_a_command_killed_mid_run_is_followed_by_one_that_completes(registered):
    registered.latency = SLOW
    proc = spawn_collect(START, END)
    with dg.DagsterInstance.get() as instance:
        # The default instance: each run in a process its launcher starts, none queued.
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        killed = until("the run is in its collection step", lambda: collecting(instance, proc))
        proc.kill()  # `kill -9 PID`, or the OOM killer: the command alone
        proc.wait(timeout=10)
        registered.latency = 0.0

        again = spawn_collect(START, END)
        out, err = again.communicate(timeout=COMMAND_SECONDS)
        assert again.returncode == 0, err
        _no_traceback(err)
        (run,) = [r for r in instance.get_runs() if r.run_id != killed]
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.run_id in out
        assert not instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED
        ).records
        # The killed command's run, in a process of its own, ends by itself.
        until("the killed command's run ends", lambda: status(instance, killed) != STARTED)
        assert status(instance, killed) == dg.DagsterRunStatus.SUCCESS


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_run_within_seconds(registered, signum):
    registered.latency = SLOW
    proc = spawn_collect(START, END)
    with dg.DagsterInstance.get() as instance:
        run_id = until("the run is in its collection step", lambda: collecting(instance, proc))
        signaled = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)  # Ctrl-C: the terminal signals the whole group
        else:
            proc.send_signal(signum)  # `kill PID`
        out, err = proc.communicate(timeout=COMMAND_SECONDS)
        assert time.monotonic() - signaled < 15
        assert proc.returncode == 128 + signum, (proc.returncode, err)
        # Dagster's log tailers of the run worker, in the terminal's group too, may print
        # their KeyboardInterrupt; the command's own say is one line, the last.
        (line,) = [line for line in err.splitlines() if line.startswith("releaf")]
        assert err.rstrip().endswith(line) and line.startswith("releaf: error: stopped by ")
        assert f"stopped by {signal.Signals(signum).name}" in line and run_id in line, line
        if signum == signal.SIGTERM:
            _no_traceback(err)
        assert out == ""
        assert status(instance, run_id) in (
            dg.DagsterRunStatus.CANCELED,
            dg.DagsterRunStatus.FAILURE,
        )

        registered.latency = 0.0
        again = spawn_collect(START, END)
        _out, err = again.communicate(timeout=COMMAND_SECONDS)
        assert again.returncode == 0, err
