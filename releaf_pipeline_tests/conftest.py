"""Shared fixtures: a private DAGSTER_HOME per test, the simulator, the CLI in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from releaf_pipeline import cli
from releaf_pipeline.lib.mpsmonitor.fleet import Fleet, FleetConfig
from releaf_pipeline.lib.mpsmonitor.simulator import Simulator


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty DAGSTER_HOME for this test, with no store or key settings inherited."""
    path = tmp_path / "dagster_home"
    path.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    for name in ("RELEAF_DATABASE_URL", "RELEAF_SECRET_KEY", "RELEAF_DEALER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return path


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
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
