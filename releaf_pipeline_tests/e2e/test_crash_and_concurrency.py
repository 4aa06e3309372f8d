"""A run killed with SIGKILL and run again, and two overlapping runs at once, leave the
same deposits as one clean run: nothing lost, nothing counted twice. On SQLite and
Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = pytest.mark.e2e

TODAY = date(2026, 10, 16)
NOW = "2026-10-16T03:00:00+00:00"
START, END = "2026-09-01", "2026-10-15"


def _releaf_exe() -> str:
    return str(Path(sys.executable).parent / "releaf")


@pytest.fixture
def slow_sim(tmp_path):
    """Eight customers, one request at a time, 80 ms each: a collection takes seconds."""
    fleet = Fleet(FleetConfig(customers=8))
    with Simulator(fleet, today=TODAY, workdir=tmp_path / "sim", latency=0.08) as sim:
        yield sim


@pytest.fixture
def setup(home, slow_sim, releaf, monkeypatch, store_url):
    monkeypatch.setenv("RELEAF_DATABASE_URL", store_url)
    monkeypatch.setenv("RELEAF_NOW", NOW)
    monkeypatch.setenv("RELEAF_CONCURRENCY_PER_SERVER", "1")
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", slow_sim.token)
    r = releaf(
        "server", "add", "east", "--url", slow_sim.url, "--ca-bundle", str(slow_sim.ca_bundle)
    )
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    feeds = []
    for i, code in enumerate(slow_sim.fleet.customer_codes):
        account = f"acct-{i % 3}"
        activation = date(2026, 9, 1) if i % 2 == 0 else date(2026, 9, 14)
        scope = "managed" if i % 4 == 1 else "all"
        r = releaf(
            "feed", "add", "--server", "east", "--customer-code", code, "--account", account,
            "--activation-date", activation.isoformat(), "--scope", scope,
        )  # fmt: skip
        assert r.code == 0, r.err
        feeds.append((code, account, activation, scope))
    expected = expected_account_days(slow_sim.fleet, feeds, date(2026, 10, 15), as_of=TODAY)
    return store_url, expected


def _spawn(start: str, end: str) -> subprocess.Popen:
    return subprocess.Popen(
        [_releaf_exe(), "collect", "--start", start, "--end", end],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def _reports(releaf) -> dict:
    return {m: releaf("report", "--month", m, "--json").json() for m in ("2026-09", "2026-10")}


def _assert_ground_truth(releaf, expected) -> None:
    for month, got in _reports(releaf).items():
        want = month_view(expected, month)
        assert [(a["account"], a["days"]) for a in got["accounts"]] == [
            (a["account"], a["days"]) for a in want["accounts"]
        ], month


def _collected_feeds(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("select count(distinct feed_id) from feed_days")
            ).scalar_one()
    except sa.exc.OperationalError:
        return 0  # the schema may not be there yet
    finally:
        engine.dispose()


def test_sigkill_mid_run_then_again_equals_a_clean_run(setup, releaf):
    url, expected = setup
    proc = _spawn(START, END)
    deadline = time.monotonic() + 120
    # Kill once some feeds are written and others are not: the middle of the run.
    while time.monotonic() < deadline and _collected_feeds(url) < 2:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    assert 2 <= _collected_feeds(url) < 8, "the run was not caught mid-way"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    again = _spawn(START, END)
    _out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    _assert_ground_truth(releaf, expected)


def test_two_overlapping_runs_at_once_do_not_double_count(setup, releaf):
    _url, expected = setup
    first = _spawn(START, "2026-10-05")
    second = _spawn("2026-09-20", END)
    for proc in (first, second):
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    _assert_ground_truth(releaf, expected)
