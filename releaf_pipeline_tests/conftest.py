"""Shared fixtures: a private DAGSTER_HOME per test, the simulator, the CLI in-process."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from releaf_pipeline import cli
from releaf_pipeline.dagster_internals import forget_loaded_jobs
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests import postgres
from releaf_pipeline_tests.instances import (
    IN_PROCESS_INSTANCE_YAML,
    NO_COMPUTE_LOGS_YAML,
    one_file_event_log_yaml,
)

MEMORY_DIR = Path("/dev/shm")
MEMORY_NEEDED = 4 << 30
"""Free bytes a memory-backed file system must have to hold the session's files."""


def pytest_configure(config: pytest.Config) -> None:
    """The session's temporary files go to memory (/dev/shm) when it has room: the tests
    replay hundreds of Dagster runs, each writing its own SQLite files and syncing them to
    disk after every event. A --basetemp given, or one set by the xdist controller for its
    workers, is kept."""
    if config.option.basetemp or not MEMORY_DIR.is_dir() or not os.access(MEMORY_DIR, os.W_OK):
        return
    if shutil.disk_usage(MEMORY_DIR).free < MEMORY_NEEDED:
        return
    config.option.basetemp = tempfile.mkdtemp(prefix="releaf-tests-", dir=MEMORY_DIR)
    config.stash[_MEMORY_BASETEMP] = config.option.basetemp


_MEMORY_BASETEMP = pytest.StashKey[str]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first: started last, one would keep its worker busy after the other
    worker has run out of tests."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The memory taken for the session's files is given back at its end."""
    made = config.stash.get(_MEMORY_BASETEMP, None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


def make_home(path: Path) -> Path:
    """A new DAGSTER_HOME at `path` whose instance executes runs in the process that submits
    them and keeps their events in one file."""
    path.mkdir()
    (path / "dagster.yaml").write_text(
        IN_PROCESS_INSTANCE_YAML + NO_COMPUTE_LOGS_YAML + one_file_event_log_yaml(path)
    )
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME for this test, with no store or key settings inherited; its instance
    executes runs in the test's process (`IN_PROCESS_INSTANCE_YAML`) and keeps their
    events in one file."""
    path = make_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    # The definitions configure their resources from the settings when imported: loaded
    # again for this home, not kept from another test's.
    fresh_definitions()
    for name in ("RELEAF_DATABASE_URL", "RELEAF_SECRET_KEY", "RELEAF_DEALER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return path


def fresh_definitions() -> None:
    """Forget the definitions this process loaded (and the job Dagster kept from its last
    run), so the next command or run loads them for the home and settings of now."""
    sys.modules.pop("releaf_pipeline.definitions", None)
    forget_loaded_jobs()


def capture_compute_logs(home: Path) -> None:
    """Make the instance at `home` capture its runs' stdout and stderr, as Dagster does by
    default: for the tests that scan everything a run leaves in DAGSTER_HOME."""
    (home / "dagster.yaml").write_text(IN_PROCESS_INSTANCE_YAML + one_file_event_log_yaml(home))


@pytest.fixture
def fleet() -> Fleet:
    """The default seeded fleet (scenarios on)."""
    return Fleet(FleetConfig())


@pytest.fixture
def sim(fleet: Fleet, tmp_path: Path) -> Iterator[Simulator]:
    """A running simulator over `fleet`, its clock at 2026-10-01."""
    with Simulator(fleet, today=date(2026, 10, 1), workdir=tmp_path / "sim") as server:
        yield server


@dataclass
class CliResult:
    """Exit code and output of one `releaf` invocation."""

    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def releaf(capsys: pytest.CaptureFixture[str]):
    """Run `releaf ARGS...` in-process; returns a CliResult."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        # As a command run in a process of its own: the definitions are loaded afresh,
        # their resources configured from the settings of this moment.
        fresh_definitions()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """A PostgreSQL server for the whole session (one per xdist worker), stopped at the end.

    `RELEAF_TEST_POSTGRES_URL` names an existing server to use instead. Without one the
    test fails on CI (CI=true) and is skipped elsewhere, saying how to get one.
    """
    try:
        server = postgres.acquire()
    except postgres.PostgresUnavailable as exc:
        postgres.unavailable(str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres_server: postgres.PostgresServer, request: pytest.FixtureRequest) -> str:
    """The SQLAlchemy URL of a new, empty Postgres database for this test."""
    return postgres_server.new_database(request.node.name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store's URL: a SQLite file under tmp_path, or a new Postgres database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")
