"""Dagster's project CLI, `dg`, on this project: `dg check defs`, `dg list defs --json`,
`dg launch` over a partition range and `dg dev`, each as an operator runs it from the
repository root with the virtualenv's `dg`, in a private DAGSTER_HOME and store.

`dg` is a dependency (pyproject pins it with Dagster): a missing `dg` fails, never skips.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import pytest

from releaf_pipeline.launch import CODE_LOCATION, DEFAULT_INSTANCE_YAML, REPOSITORY
from releaf_pipeline_tests.e2e.nights import register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).parent / "dg"
COMMAND_SECONDS = 60

ASSETS = {"meter_readings", "daily_deposits", "monthly_pages", "reforestation_certificates"}
JOBS = {"collection", "monthly_close", "server_health"}
SCHEDULES = {"nightly", "server_health"}
SENSORS = {"catchup_sensor", "monthly_close_sensor"}


@pytest.fixture
def dg_home(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private DAGSTER_HOME (with an instance file, telemetry off) and store for `dg`."""
    (home / "dagster.yaml").write_text(DEFAULT_INSTANCE_YAML)
    monkeypatch.setenv("RELEAF_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    return home


def _env() -> dict[str, str]:
    # The test's environment as the fixtures left it (DAGSTER_HOME, the store, RELEAF_NOW).
    return {**os.environ, "NO_COLOR": "1"}


def run_dg(*args: str, timeout: float = COMMAND_SECONDS) -> subprocess.CompletedProcess[str]:
    """`dg ARGS...` from the repository root, as an operator runs it."""
    assert DG.exists(), f"{DG} is missing: `pip install -e .` installs dagster-dg-cli"
    return subprocess.run(
        [str(DG), *args],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_check_defs_loads_the_code_location(dg_home):
    r = run_dg("check", "defs")
    output = r.stdout + r.stderr
    assert r.returncode == 0, output
    assert "Traceback" not in output
    assert "All definitions loaded successfully." in r.stdout
    # The project's own virtualenv is used as is: no warning about an unactivated one.
    assert "virtual environment" not in output


def test_list_defs_json_lists_exactly_the_definitions_object(dg_home):
    from releaf_pipeline.definitions import defs

    r = run_dg("list", "defs", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    listed = json.loads(r.stdout)

    assets = [a["asset_key"] for a in listed["assets"]]
    checks = [(c["asset_key"], c["name"]) for c in listed["asset_checks"]]
    jobs = [j["name"] for j in listed["jobs"]]
    schedules = [s["name"] for s in listed["schedules"]]
    sensors = [s["name"] for s in listed["sensors"]]
    for names in (assets, checks, jobs, schedules, sensors):
        assert len(names) == len(set(names)), f"listed twice: {names}"

    assert set(assets) >= ASSETS
    assert ("meter_readings", "feeds_fresh") in checks
    assert set(jobs) >= JOBS
    assert set(schedules) >= SCHEDULES
    assert set(sensors) >= SENSORS

    # dg loads releaf_pipeline.definitions:defs and nothing else (no autoloaded defs/ folder):
    # what it lists is what that object holds, whatever checks are added to it.
    graph = defs.resolve_asset_graph()
    expected_checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert expected_checks >= {("meter_readings", "feeds_fresh")}
    assert set(checks) == expected_checks
    assert set(assets) == {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert set(jobs) == {j.name for j in defs.jobs or []}
    assert set(schedules) == {s.name for s in defs.schedules or []}
    assert set(sensors) == {s.name for s in defs.sensors or []}


def test_launch_collects_a_partition_range(dg_home, sim, fleet, releaf, monkeypatch):
    today = date(2026, 9, 12)
    sim.set_today(today)
    monkeypatch.setenv("RELEAF_NOW", f"{today.isoformat()}T03:00:00+00:00")
    feeds = [(fleet.customer_codes[-1], "acct-dg", date(2026, 9, 1), "all")]
    register_feeds(releaf, sim, feeds, monkeypatch)

    r = run_dg(
        "launch",
        "--assets",
        "meter_readings,daily_deposits",
        "--partition-range",
        "2026-09-01...2026-09-10",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr

    # One run over the range, successful, both assets materialized.
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/asset_partition_range_start"] == "2026-09-01"
        assert run.tags["dagster/asset_partition_range_end"] == "2026-09-10"
        for key in ("meter_readings", "daily_deposits"):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None

    # The deposits are in the store, day by day as the simulator's ground truth has them.
    expected = expected_account_days(fleet, feeds, date(2026, 9, 10), as_of=today)["acct-dg"]
    report = releaf("report", "--month", "2026-09", "--json")
    assert report.code == 0, report.err
    (account,) = report.json()["accounts"]
    assert account["account"] == "acct-dg"
    days = {day: pages for day, pages in account["days"].items() if day <= "2026-09-10"}
    assert days == {d.isoformat(): p for d, p in expected.items()}
    assert sum(days.values()) > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    # A shell's background job may ignore SIGINT; dg dev maps SIGTERM to SIGINT's handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _live(group: int) -> list[str]:
    """The processes of a process group still running (zombies excluded), each as its
    pid and command line."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[2]) == group and fields[0] != "Z":
            try:
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                cmdline = b""
            live.append(f"{text.split(' ', 1)[0]} {cmdline.decode(errors='replace')[:200]}")
    return live


WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name jobs { name } } }
          ... on PythonError { message }
        }
      }
    }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
  pipelineOrError(
    params: {
      repositoryLocationName: "releaf_pipeline"
      repositoryName: "__repository__"
      pipelineName: "collection"
    }
  ) {
    __typename
    ... on Pipeline { runs { runId } }
  }
}
"""


def test_dev_serves_the_location_with_the_daemon(dg_home, releaf, tmp_path):
    # A run `releaf` started, before the UI is up: the UI must file it under its job.
    r = releaf("collect", "--start", "2026-09-01", "--end", "2026-09-01")
    assert r.code == 0, r.err
    with dg.DagsterInstance.get() as instance:
        (releaf_run,) = instance.get_runs()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dg-dev.log").open("w")
    assert DG.exists(), f"{DG} is missing: `pip install -e .` installs dagster-dg-cli"
    temporary_homes = set(REPO.glob(".tmp_dagster_home_*"))
    proc = subprocess.Popen(
        [str(DG), "dev", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        deadline = time.monotonic() + COMMAND_SECONDS
        data: dict = {}
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "dg-dev.log").read_text()
                try:
                    response = client.post(f"{url}/graphql", json={"query": WORKSPACE_QUERY})
                    data = response.json()["data"]
                    entries = data["workspaceOrError"]["locationEntries"]
                    statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    time.sleep(0.25)
                    continue
                loaded = entries and all(e["loadStatus"] != "LOADING" for e in entries)
                sensor = [s for s in statuses if s["daemonType"] == "SENSOR"]
                if loaded and sensor and sensor[0]["healthy"]:
                    break
                time.sleep(0.25)
            else:
                pytest.fail(f"dg dev not ready: {data}\n{(tmp_path / 'dg-dev.log').read_text()}")
            assert client.get(f"{url}/server_info").json()["dagster_version"] == dg.__version__

        (entry,) = data["workspaceOrError"]["locationEntries"]
        assert entry["name"] == CODE_LOCATION == "releaf_pipeline"
        assert entry["loadStatus"] == "LOADED"
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        (repository,) = location["repositories"]
        # The repository@location `releaf` files its runs under (releaf_pipeline/launch.py).
        assert repository["name"] == REPOSITORY
        assert {j["name"] for j in repository["jobs"]} >= JOBS
        job = data["pipelineOrError"]
        assert job["__typename"] == "Pipeline", job
        assert releaf_run.run_id in {run["runId"] for run in job["runs"]}
        # The instance is the DAGSTER_HOME given, not a temporary one.
        assert (dg_home / "history").is_dir()
        assert set(REPO.glob(".tmp_dagster_home_*")) <= temporary_homes
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            pytest.fail("dg dev did not stop on SIGTERM")
        finally:
            log.close()
        # A run the daemon launched just before may still be ending in its own process.
        deadline = time.monotonic() + COMMAND_SECONDS
        while _live(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        stray = _live(proc.pid)
        if stray:
            os.killpg(proc.pid, signal.SIGKILL)
        assert not stray, f"dg dev left processes running: {stray}"
    assert proc.returncode == 0, (tmp_path / "dg-dev.log").read_text()
