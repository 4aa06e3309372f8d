"""A run never waits forever: runs of a killed `releaf` give their pool slots back, a
command that finds the slots held by live runs gives up within its bound naming them, and
SIGINT or SIGTERM end a run as canceled, its slots freed.

Every command is the installed `releaf` in a process of its own, against the simulator,
on an instance with the repository's `dagster.yaml` (the `mpsmonitor` pool limited).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from releaf_pipeline.simulator import Fleet, FleetConfig
from releaf_pipeline.simulator.server import Simulator

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
POOL = "mpsmonitor"
TODAY = date(2026, 10, 16)
NOW = "2026-10-16T03:00:00+00:00"
START, END = "2026-10-01", "2026-10-15"
SLOW = 2.0
"""Seconds the simulator takes per request while a run must stay in its collection step:
with one request at a time, the step then lasts some ten seconds."""
COMMAND_SECONDS = 60
# dagster.postgres.yaml reads its connection from these.
PG_VARIABLES = {
    "username": "DAGSTER_PG_USERNAME",
    "password": "DAGSTER_PG_PASSWORD",
    "hostname": "DAGSTER_PG_HOST",
    "db_name": "DAGSTER_PG_DB",
    "port": "DAGSTER_PG_PORT",
}


def _releaf_exe() -> str:
    return str(Path(sys.executable).parent / "releaf")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """Two customers, at the pipeline's date."""
    fleet = Fleet(FleetConfig(customers=2))
    with Simulator(fleet, today=TODAY, workdir=tmp_path / "sim") as server:
        yield server


def _instance_file(home: Path, pool_limit: int, source: str = "dagster.yaml") -> None:
    """The repository's instance file `source` as DAGSTER_HOME's, its pool limit changed."""
    text = (REPO / source).read_text()
    assert "default_limit: 2" in text
    text = text.replace("default_limit: 2", f"default_limit: {pool_limit}")
    (home / "dagster.yaml").write_text(text)


@pytest.fixture
def instance_file(request, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which of the repository's instance files DAGSTER_HOME has (dagster.yaml unless the
    test is parametrized with `dagster.postgres.yaml`, then on a new Postgres database)."""
    source = getattr(request, "param", "dagster.yaml")
    if source == "dagster.postgres.yaml":
        server = request.getfixturevalue("postgres_server")
        db = server.postgres_db_config(server.new_database(request.node.name))
        for key, variable in PG_VARIABLES.items():
            monkeypatch.setenv(variable, str(db[key]))
    _instance_file(home, pool_limit=2, source=source)
    return source


@pytest.fixture
def registered(
    instance_file: str, home: Path, sim: Simulator, releaf, monkeypatch: pytest.MonkeyPatch
) -> Simulator:
    """The simulator registered as server `east`, a feed per customer, and the repository's
    instance file; each command collects one request at a time."""
    monkeypatch.setenv("RELEAF_NOW", NOW)
    monkeypatch.setenv("RELEAF_CONCURRENCY_PER_SERVER", "1")
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    for code in sim.fleet.customer_codes:
        r = releaf(
            "feed", "add", "--server", "east", "--customer-code", code, "--account", "acct",
            "--activation-date", "2026-09-01", "--scope", "all",
        )  # fmt: skip
        assert r.code == 0, r.err
    return sim


def _spawn(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [_releaf_exe(), "collect", "--start", START, "--end", END],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def _until(what: str, check: Callable[[], object], seconds: float = COMMAND_SECONDS) -> object:
    """Poll `check` until it returns something true; fail saying `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"not within {seconds} s: {what}")


def _holding(instance: dg.DagsterInstance, procs: list[subprocess.Popen[str]]) -> list[str] | None:
    """The runs of `procs` that hold a pool slot and have started (are in their collection
    step), in the order of `procs`, once each of them does."""
    for proc in procs:
        assert proc.poll() is None, proc.communicate()
    claimed = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
    by_pid = {}
    for slot in claimed:
        run = instance.get_run_by_id(slot.run_id)
        # Its slot is claimed just before the run starts: wait until it has.
        if run is not None and run.status == dg.DagsterRunStatus.STARTED:
            by_pid[int(run.tags["releaf/pid"])] = run.run_id
    runs = [by_pid.get(proc.pid) for proc in procs]
    return runs if all(runs) else None  # type: ignore[return-value]


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None, run_id
    return run.status


def _slots_in_use(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """(run, step) of every slot of the pool claimed or waited for."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {(s.run_id, s.step_key) for s in info.claimed_slots} | {
        (p.run_id, p.step_key) for p in info.pending_steps
    }


def _one_line(err: str) -> str:
    """The only line on stderr."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Stack Trace" not in err, err


@pytest.mark.parametrize(
    "instance_file",
    ["dagster.yaml", pytest.param("dagster.postgres.yaml", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_runs_killed_in_their_collection_step_give_their_slots_back(registered, home):
    registered.latency = SLOW
    first, second = _spawn(), _spawn()
    with dg.DagsterInstance.get() as instance:
        killed = _until("both runs hold a slot", lambda: _holding(instance, [first, second]))
        for proc in (first, second):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        registered.latency = 0.0
        for run_id in killed:
            assert _status(instance, run_id) == dg.DagsterRunStatus.STARTED

        third = _spawn(RELEAF_POOL_WAIT_SECONDS="30")
        out, err = third.communicate(timeout=COMMAND_SECONDS)
        assert third.returncode == 0, err
        # One line per run freed, naming it.
        for run_id in killed:
            assert any(run_id in line and "marked failed" in line for line in err.splitlines()), err
        _no_traceback(err)

        for run_id in killed:
            assert _status(instance, run_id) == dg.DagsterRunStatus.FAILURE
        (third_run,) = [r for r in instance.get_runs() if r.run_id not in killed]
        assert third_run.status == dg.DagsterRunStatus.SUCCESS
        assert third_run.run_id in out
        assert _slots_in_use(instance) == set()


def test_a_command_that_finds_the_only_slot_held_gives_up_within_its_bound(
    registered, home, monkeypatch
):
    _instance_file(home, pool_limit=1)
    registered.latency = SLOW * 2
    holder = _spawn()
    try:
        with dg.DagsterInstance.get() as instance:
            (held_by,) = _until("the live run holds the slot", lambda: _holding(instance, [holder]))
            waiting = _spawn(RELEAF_POOL_WAIT_SECONDS="3")
            _out, err = waiting.communicate(timeout=COMMAND_SECONDS)
            assert waiting.returncode == 75  # EX_TEMPFAIL: try again later
            assert holder.poll() is None, "the holder ended before the command gave up"
            line = _one_line(err)
            assert held_by in line and "pool mpsmonitor" in line and "nothing was run" in line
            assert "releaf pid" in line and "dagster run delete" in line
            _no_traceback(err)
            # The command that gave up left no run, and no place in the pool's queue.
            assert [r.run_id for r in instance.get_runs()] == [held_by]
            assert _slots_in_use(instance) == {(held_by, "meter_readings")}
    finally:
        registered.latency = 0.0
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=COMMAND_SECONDS)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_cancels_the_run_within_seconds(registered, home, signum):
    registered.latency = SLOW / 2
    proc = _spawn()
    with dg.DagsterInstance.get() as instance:
        (run_id,) = _until("the run holds its slot", lambda: _holding(instance, [proc]))
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)  # Ctrl-C: the terminal signals the whole group
        else:
            proc.send_signal(signum)  # `kill PID`
        out, err = proc.communicate(timeout=COMMAND_SECONDS)

        assert proc.returncode == 128 + signum, (proc.returncode, err)
        line = _one_line(err)
        assert f"stopped by {signal.Signals(signum).name}" in line and run_id in line, line
        _no_traceback(err)
        assert out == ""
        assert _status(instance, run_id) == dg.DagsterRunStatus.CANCELED
        assert _slots_in_use(instance) == set()


def test_a_signal_while_waiting_for_a_slot_leaves_no_run(registered, home):
    _instance_file(home, pool_limit=1)
    registered.latency = SLOW * 2
    holder = _spawn()
    try:
        with dg.DagsterInstance.get() as instance:
            (held_by,) = _until("the live run holds the slot", lambda: _holding(instance, [holder]))
            waiting = _spawn(RELEAF_POOL_WAIT_SECONDS="60")

            def queued() -> bool:
                assert waiting.poll() is None, waiting.communicate()
                return any(run_id != held_by for run_id, _ in _slots_in_use(instance))

            _until("the second command waits in the pool's queue", queued)
            waiting.send_signal(signal.SIGTERM)
            _out, err = waiting.communicate(timeout=COMMAND_SECONDS)
            assert waiting.returncode == 128 + signal.SIGTERM
            line = _one_line(err)
            assert "stopped by SIGTERM" in line and "nothing was run" in line, line
            _no_traceback(err)
            assert [r.run_id for r in instance.get_runs()] == [held_by]
            assert _slots_in_use(instance) == {(held_by, "meter_readings")}
    finally:
        registered.latency = 0.0
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=COMMAND_SECONDS)
