"""The real dagster-daemon on a temporary DAGSTER_HOME (SQLite) heals a missing day."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 240


def _daemon_exe() -> str:
    return str(Path(sys.executable).parent / "dagster-daemon")


def test_daemon_launches_the_catch_up_run_for_a_missing_day(home, sim, releaf, monkeypatch):
    now = "2026-10-10T03:00:00+00:00"
    sim.set_today(date(2026, 10, 10))
    monkeypatch.setenv("RELEAF_NOW", now)
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    assert (
        releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle)).code
        == 0
    )
    code = sim.fleet.customer_codes[0]
    r = releaf("feed", "add", "--server", "east", "--customer-code", code, "--account", "a",
               "--activation-date", "2026-10-01", "--scope", "all")  # fmt: skip
    assert r.code == 0, r.err
    # 2026-10-05 is never collected as a partition: the daemon must notice.
    assert releaf("collect", "--start", "2026-10-01", "--end", "2026-10-04").code == 0
    assert releaf("collect", "--start", "2026-10-06", "--end", "2026-10-08").code == 0

    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RELEAF_NOW": now,
        "RELEAF_CATCHUP_SECONDS": "5",
        "RELEAF_HEALTH_CHECK_SECONDS": "5",
    }
    env.pop("RELEAF_DEALER_TOKEN", None)
    log = (home / "daemon.log").open("w")
    proc = subprocess.Popen(
        [_daemon_exe(), "run", "-m", "releaf_pipeline.definitions"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    run = None
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        with dg.DagsterInstance.get() as instance:
            while time.monotonic() < deadline:
                runs = instance.get_runs(filters=dg.RunsFilter(tags={"releaf/catchup": "missing"}))
                if runs and runs[0].status in (
                    dg.DagsterRunStatus.SUCCESS,
                    dg.DagsterRunStatus.FAILURE,
                ):
                    run = runs[0]
                    break
                assert proc.poll() is None, (home / "daemon.log").read_text()[-3000:]
                time.sleep(1)
            assert run is not None, (
                "no catch-up run within the wait:\n" + (home / "daemon.log").read_text()[-3000:]
            )
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["dagster/asset_partition_range_start"] == "2026-10-05"
            assert run.tags["dagster/asset_partition_range_end"] == "2026-10-05"
            assert run.tags.get("dagster/sensor_name") == "catch_up"
            assert "2026-10-05" in instance.get_materialized_partitions(
                dg.AssetKey("meter_readings")
            )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
