"""Commands and daemons in processes of their own, for the tests of runs going through the
Dagster instance: the installed `releaf` and `dagster-daemon`, against the simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from releaf_pipeline.launch import run_progress
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.instances import one_file_event_log_yaml

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 10, 16)
NOW = "2026-10-16T03:00:00+00:00"
COMMAND_SECONDS = 90


def exe(name: str) -> str:
    """The installed console script `name` of this virtualenv."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        # In CI a missing tool is a failure, elsewhere a skip saying what to do.
        message = f"{path} is missing: install the project (`make`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(path)


def register(
    releaf: Callable, sim: Simulator, monkeypatch: pytest.MonkeyPatch, activation: str
) -> None:
    """The simulator as server `east`, a feed per customer in account `acct`, the clock at
    NOW, each command collecting one request at a time."""
    monkeypatch.setenv("RELEAF_NOW", NOW)
    monkeypatch.setenv("RELEAF_CONCURRENCY_PER_SERVER", "1")
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    for code in sim.fleet.customer_codes:
        r = releaf(
            "feed", "add", "--server", "east", "--customer-code", code, "--account", "acct",
            "--activation-date", activation, "--scope", "all",
        )  # fmt: skip
        assert r.code == 0, r.err


def instance_file(home: Path, **changes: tuple[str, str]) -> None:
    """The repository's dagster.yaml as DAGSTER_HOME's, each (old, new) text replaced. The
    test home's events stay in their one file, so the runs before the switch are still
    seen."""
    text = (REPO / "dagster.yaml").read_text()
    for old, new in changes.values():
        assert old in text, old
        text = text.replace(old, new)
    (home / "dagster.yaml").write_text(text + one_file_event_log_yaml(home))


def spawn_collect(start: str, end: str, **env: str) -> subprocess.Popen[str]:
    """`releaf collect --start START --end END` in a process group of its own."""
    return subprocess.Popen(
        [exe("releaf"), "collect", "--start", start, "--end", end],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def until(what: str, check: Callable[[], object], seconds: float = COMMAND_SECONDS) -> object:
    """Poll `check` until it returns something true; fail saying `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"not within {seconds} s: {what}")


def command_run(
    instance: dg.DagsterInstance, proc: subprocess.Popen[str], *statuses: dg.DagsterRunStatus
) -> str | None:
    """The run a command started (`releaf/trigger=cli`) in one of `statuses`, while the
    command `proc` waits for it."""
    assert proc.poll() is None, proc.communicate()
    filters = dg.RunsFilter(statuses=list(statuses), tags={"releaf/trigger": "cli"})
    runs = instance.get_runs(filters=filters)
    return runs[0].run_id if runs else None


def collecting(instance: dg.DagsterInstance, proc: subprocess.Popen[str]) -> str | None:
    """The run of a command in its collection step (started, its progress reported),
    while the command `proc` waits for it."""
    run_id = command_run(instance, proc, dg.DagsterRunStatus.STARTED)
    run = instance.get_run_by_id(run_id) if run_id else None
    return run_id if run is not None and run_progress(run.tags) is not None else None


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    """The run's status now."""
    run = instance.get_run_by_id(run_id)
    assert run is not None, run_id
    return run.status


@contextmanager
def daemon(home: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`dagster-daemon run` on DAGSTER_HOME `home` and the repository's workspace.yaml (the
    code location `releaf` submits runs to), in a process group of its own (its code
    server and run workers with it), with `env` added; ended with its group."""
    log = (home / "daemon.log").open("a")
    proc = subprocess.Popen(
        [exe("dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env={**os.environ, "DAGSTER_HOME": str(home), **env}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def daemon_log(home: Path) -> str:
    """The end of the daemons' log, for a failure's message."""
    return (home / "daemon.log").read_text()[-3000:]
