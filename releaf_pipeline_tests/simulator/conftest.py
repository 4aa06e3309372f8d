"""Fixtures of the simulator's tests: one running simulator per test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.simulator.helpers import TODAY, TOKEN, tls


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    workdir = tmp_path_factory.mktemp("sim")
    with Simulator(Fleet(), token=TOKEN, today=TODAY, workdir=workdir) as sim:
        yield sim


@pytest.fixture
def sim(shared_sim: Simulator) -> Iterator[Simulator]:
    # One server for the module; every test starts from a clean clock, queue and log.
    shared_sim.clear_faults()
    shared_sim.latency = 0.0
    shared_sim.set_today(TODAY)
    shared_sim.reset_log()
    yield shared_sim
    shared_sim.clear_faults()
    shared_sim.latency = 0.0


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.url, verify=tls(sim), headers={"X-Dealer-Token": TOKEN}, timeout=5.0
    ) as c:
        yield c


@pytest.fixture
def code(sim: Simulator) -> str:
    return sim.fleet.customer_codes[0]
