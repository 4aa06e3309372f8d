"""A night stopped inside its collection step (SIGTERM, or SIGKILL) and replayed with
`releaf nightly --date` collects what it left: the day's deposits equal the ground truth,
and on the 1st the month's certificates are issued. A night whose run is still going is
waited for, never run twice.

The interrupted command is the installed `releaf` in a process of its own, on the default
instance (its runs each in a process of its own); the simulator holds every Counter/List
answer back, so the signal always lands while the run's collection step waits for one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import Feed, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.long]

REPO = Path(__file__).resolve().parents[2]
REPLAY_KEY_TAG = "releaf/replay_key"
"""The run key of the schedule's run a replay's run stands in for."""
HELD_BACK = 8.0
"""Seconds the simulator holds each Counter/List answer while the first command runs:
under the client's 10 s timeout, so a night left alone would still succeed."""
COMMAND_SECONDS = 90


def _releaf_exe() -> str:
    return str(Path(sys.executable).parent / "releaf")


@dataclass
class Night:
    """A fleet served by the simulator, its feeds registered, and the night to replay."""

    sim: Simulator
    fleet: Fleet
    feeds: list[Feed]
    day: date

    @property
    def key(self) -> str:
        """The run key of the nightly schedule's run for `day`."""
        return f"nightly:{self.day}"


@contextmanager
def _night(day: date, home: Path, releaf, monkeypatch, tmp_path: Path) -> Iterator[Night]:
    """Two customers, each a feed of its own account activated on `day`, and the clocks
    (the simulator's and the pipeline's) at the moment the night after `day` runs."""
    fleet = Fleet(
        FleetConfig(
            customers=2,
            devices_per_customer=5,
            scenarios=False,
            history_start=date(2026, 8, 1),
            history_end=date(2026, 12, 31),
        )
    )
    (home / "dagster.yaml").unlink()  # `releaf` writes its default instance
    at = night_time(day)
    monkeypatch.setenv("RELEAF_NOW", at.isoformat())
    codes = fleet.customer_codes
    feeds = [(codes[0], "acct-a", day, "all"), (codes[1], "acct-b", day, "all")]
    with Simulator(fleet, now=at, workdir=tmp_path / "sim") as sim:
        register_feeds(releaf, sim, feeds, monkeypatch)
        yield Night(sim, fleet, feeds, day)


def _replay(night: Night) -> subprocess.CompletedProcess[str]:
    """`releaf nightly --date DAY` run to its end in a process of its own."""
    return subprocess.run(
        [_releaf_exe(), "nightly", "--date", night.day.isoformat()],
        env=dict(os.environ), capture_output=True, text=True, timeout=COMMAND_SECONDS,
    )  # fmt: skip


def _until(what: str, check: Callable[[], object], seconds: float = COMMAND_SECONDS) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"not within {seconds} s: {what}")


def _runs(instance: dg.DagsterInstance, key: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={REPLAY_KEY_TAG: key})))


def _start_night(night: Night) -> tuple[subprocess.Popen[str], str]:
    """`releaf nightly --date DAY` in a process of its own, once its run is in the
    collection step, waiting for a Counter/List answer; the process and the run id."""
    night.sim.inject("delay", path=COUNTER_LIST_PATH, times=1000, seconds=HELD_BACK)
    night.sim.reset_log()
    proc = subprocess.Popen(
        [_releaf_exe(), "nightly", "--date", night.day.isoformat()],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip

    def collecting() -> str | None:
        assert proc.poll() is None, proc.communicate()
        if ("POST", COUNTER_LIST_PATH) not in night.sim.request_log:
            return None
        with dg.DagsterInstance.get() as instance:
            runs = _runs(instance, night.key)
            started = [r for r in runs if r.status == dg.DagsterRunStatus.STARTED]
            if len(started) == 1:
                return started[0].run_id
        return None

    run_id = _until("the night's run waits for Counter/List in its collection step", collecting)
    return proc, str(run_id)


def _interrupt(night: Night, signum: int) -> str:
    """Start the night, stop it with `signum` inside its collection step; its run id."""
    proc, run_id = _start_night(night)
    proc.send_signal(signum)  # `kill PID`, or `kill -9 PID`
    if signum == signal.SIGKILL:
        # Its output pipes stay open in the code server it started, while the run goes on.
        proc.wait(timeout=COMMAND_SECONDS)
        for pipe in (proc.stdout, proc.stderr):
            assert pipe is not None
            pipe.close()
        err = ""
    else:
        _out, err = proc.communicate(timeout=COMMAND_SECONDS)
    night.sim.clear_faults()
    expected = -signal.SIGKILL if signum == signal.SIGKILL else 128 + signum
    assert proc.returncode == expected, (proc.returncode, err)
    with dg.DagsterInstance.get() as instance:
        (run,) = _runs(instance, night.key)
        if signum == signal.SIGKILL:
            # Nothing ended the run: its worker goes on without the command.
            assert run.status in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.SUCCESS)
        else:
            assert run.status == dg.DagsterRunStatus.CANCELED
    return run_id


def _assert_ground_truth(releaf, night: Night) -> dict:
    """`report --json` for the night's month equals the ground truth, day by day."""
    truth = expected_account_days(night.fleet, night.feeds, night.day, None)
    month = night.day.strftime("%Y-%m")
    got = releaf("report", "--month", month, "--json").json()
    want = month_view(truth, month)
    assert [(a["account"], a["days"]) for a in got["accounts"]] == [
        (a["account"], a["days"]) for a in want["accounts"]
    ]
    assert all(truth[a][night.day] > 0 for a in ("acct-a", "acct-b"))
    return truth


def _assert_replayed(night: Night, interrupted: str, signum: int) -> None:
    """One run of the night's key succeeded: the replay's, or (after SIGKILL, which left
    it going) the interrupted one itself, the replay having waited for it."""
    with dg.DagsterInstance.get() as instance:
        runs = {r.run_id: r.status for r in _runs(instance, night.key)}
    if signum == signal.SIGKILL:
        assert runs == {interrupted: dg.DagsterRunStatus.SUCCESS}
    else:
        assert runs.pop(interrupted) == dg.DagsterRunStatus.CANCELED
        assert list(runs.values()) == [dg.DagsterRunStatus.SUCCESS]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_replay_after_an_interrupted_night_collects_the_day(
    home, releaf, monkeypatch, tmp_path, signum
):
    with _night(date(2026, 9, 16), home, releaf, monkeypatch, tmp_path) as night:
        interrupted = _interrupt(night, signum)
        r = _replay(night)
        assert r.returncode == 0, (r.stdout, r.stderr)
        _assert_replayed(night, interrupted, signum)
        _assert_ground_truth(releaf, night)

        # The night is done now: replayed once more, it runs nothing and counts nothing twice.
        again = _replay(night)
        assert again.returncode == 0, (again.stdout, again.stderr)
        assert "nothing to run" in again.stdout
        _assert_ground_truth(releaf, night)


def test_a_replay_of_the_first_after_an_interrupted_one_issues_the_certificates(
    home, releaf, monkeypatch, tmp_path
):
    with _night(date(2026, 9, 30), home, releaf, monkeypatch, tmp_path) as night:
        assert night_time(night.day).day == 1
        interrupted = _interrupt(night, signal.SIGKILL)
        assert releaf("certificates", "list", "--json").json() == []
        r = _replay(night)
        assert r.returncode == 0, (r.stdout, r.stderr)
        _assert_replayed(night, interrupted, signal.SIGKILL)
        truth = _assert_ground_truth(releaf, night)

    certs = {c["account"]: c for c in releaf("certificates", "list", "--json").json()}
    assert sorted(certs) == ["acct-a", "acct-b"]
    for account, cert in certs.items():
        assert (cert["month"], cert["pages"]) == ("2026-09", truth[account][night.day])
        assert cert["adjustment_pages"] == 0
        assert (cert["closed_by"], cert["issued_on"]) == ("complete", "2026-10-01")


def test_two_replays_at_once_never_run_a_night_s_run_twice(home, releaf, monkeypatch, tmp_path):
    with _night(date(2026, 9, 16), home, releaf, monkeypatch, tmp_path) as night:
        proc, running = _start_night(night)
        said = tmp_path / "second.err"
        with said.open("w") as err_file:
            second = subprocess.Popen(
                [_releaf_exe(), "nightly", "--date", night.day.isoformat()],
                env=dict(os.environ), stdout=subprocess.PIPE, stderr=err_file, text=True,
            )  # fmt: skip
            try:
                # The second waits for the first's run, saying so, rather than run it again;
                # the first's run is held until the second has said it.
                _until(
                    "the second replay waits for the first's run",
                    lambda: f"waiting for run {running}" in said.read_text(),
                )
            finally:
                night.sim.clear_faults()
            out, err = proc.communicate(timeout=COMMAND_SECONDS)
            assert proc.returncode == 0, (out, err)
            out, _ = second.communicate(timeout=COMMAND_SECONDS)
        err = said.read_text()
        assert second.returncode == 0, (out, err)
        assert f"waiting for run {running}" in err and "nothing to run" in out, (out, err)

        with dg.DagsterInstance.get() as instance:
            assert [r.run_id for r in _runs(instance, night.key)] == [running]
        _assert_ground_truth(releaf, night)
