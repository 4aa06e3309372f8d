"""A night on Dagster's Celery executor: Postgres (the Dagster instance and the store), a
Redis broker and three Celery workers, each standing for a host, over MPS Monitor
simulators on real HTTPS.

The night is started as an operator would (`releaf collect`, RELEAF_EXECUTOR=celery): the
instance's run launcher starts the run, whose executor sends each piece to the broker and
a worker runs it. Its deposits are compared with those of the same night run in one
process (RELEAF_EXECUTOR=in_process) in a second home and store.
"""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.launch import PROGRESS_TAG
from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests import redis_server
from releaf_pipeline_tests.celery_workers import CeleryWorkers, worker_config
from releaf_pipeline_tests.e2e.runs import exe, until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.long]

SERVERS = ("north", "south", "west")
FEEDS_PER_SERVER = 100
ACTIVATION = "2026-09-15"
START, END = "2026-09-15", "2026-09-20"
NOW = "2026-09-21T03:00:00+00:00"
COLLECT_SECONDS = 240
PIECE_STEP = "meter_readings.collect_piece"


@pytest.fixture
def redis() -> Iterator[redis_server.RedisServer]:
    """A Redis server of this test's: the broker (database 0) and result backend (1)."""
    try:
        server = redis_server.start()
    except redis_server.RedisUnavailable as exc:
        redis_server.unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Site:
    """Where a night is collected: a Dagster home, its store, and the environment every
    process on it (command, run, workers) shares."""

    home: Path
    env: dict[str, str]


def _simulators(stack: ExitStack, tmp_path: Path, servers: int, feeds: int) -> list[Simulator]:
    """`servers` simulators, each a dealer's server with `feeds` customers of its own."""
    sims = []
    for i in range(servers):
        fleet = Fleet(
            FleetConfig(
                seed=100 + i, customers=feeds, devices_per_customer=2,
                dealer_code=f"D-{2001 + i}", history_end=date(2026, 10, 31),
            )
        )  # fmt: skip
        sim = Simulator(fleet, workdir=tmp_path / f"sim{i}")
        sim.set_now(_now())
        sims.append(stack.enter_context(sim))
    return sims


def _now() -> datetime:
    return datetime.fromisoformat(NOW)


def _register(releaf, monkeypatch, site: Site, sims: list[Simulator], tmp_path: Path) -> None:
    """Every simulator as a server of `site`, a feed per customer."""
    for name, value in site.env.items():
        monkeypatch.setenv(name, value)
    rows = []
    for name, sim in zip(SERVERS, sims, strict=False):
        monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
        r = releaf("server", "add", name, "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
        assert r.code == 0, r.err
        monkeypatch.delenv("RELEAF_DEALER_TOKEN")
        rows += [
            (name, code, f"acct-{name}-{n % 4}") for n, code in enumerate(sim.fleet.customer_codes)
        ]
    path = tmp_path / f"feeds-{site.home.name}.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["server", "customer_code", "account", "activation_date", "scope"])
        w.writerows([(s, code, acct, ACTIVATION, "all") for s, code, acct in rows])
    r = releaf("feed", "import", str(path))
    assert r.code == 0, r.err


def _report(releaf, monkeypatch, site: Site) -> dict:
    for name, value in site.env.items():
        monkeypatch.setenv(name, value)
    r = releaf("report", "--month", "2026-09", "--json")
    assert r.code == 0, r.err
    return r.json()


def _celery_site(
    home: Path, pg_url: str, instance_db: str, postgres_server, redis, **settings: str
) -> Site:
    """The home of the Celery runs: runs and events in Postgres, runs launched at once by
    the default run launcher (a run worker process per run), steps sent to Redis."""
    (home / "dagster.yaml").write_text(postgres_server.instance_yaml(instance_db))
    env = {
        "DAGSTER_HOME": str(home),
        "RELEAF_DATABASE_URL": pg_url,
        "RELEAF_SECRET_KEY": Fernet.generate_key().decode(),
        "RELEAF_NOW": NOW,
        "RELEAF_EXECUTOR": "celery",
        "RELEAF_CELERY_BROKER": redis.url(0),
        "RELEAF_CELERY_BACKEND": redis.url(1),
        **settings,
    }
    return Site(home, env)


def _reference_site(tmp_path: Path, postgres_server, celery: Site) -> Site:
    """A second home and store for the same night run in one process."""
    home = tmp_path / "single_process_home"
    home.mkdir()
    env = {
        **{k: v for k, v in celery.env.items() if not k.startswith("RELEAF_CELERY")},
        "DAGSTER_HOME": str(home),
        "RELEAF_DATABASE_URL": postgres_server.new_database("single_process_store"),
        "RELEAF_EXECUTOR": "in_process",
    }
    return Site(home, env)


def _workers(tmp_path: Path, site: Site, redis, visibility_seconds: int = 300) -> CeleryWorkers:
    """Three workers on the site's broker. A task taken by a worker that dies is handed to
    another once unacknowledged for `visibility_seconds` (Redis has no other way to know)."""
    config = worker_config(
        redis.url(0), redis.url(1),
        {"visibility_timeout": visibility_seconds, "unacked_restore_interval": 1,
         "unacked_restore_throttle": 1},
    )  # fmt: skip
    env = {k: v for k, v in site.env.items() if k != "DAGSTER_HOME"}
    return CeleryWorkers(tmp_path / "workers", config, env, count=3)


def _collect(site: Site) -> subprocess.Popen[str]:
    """`releaf collect` for the night, as an operator runs it on the site."""
    return subprocess.Popen(
        [exe("releaf"), "collect", "--start", START, "--end", END],
        env={**os.environ, **site.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def _finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=COLLECT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"releaf collect did not end in {COLLECT_SECONDS} s:\n{out}\n{err}")
    return proc.returncode, out, err


def _reference_report(releaf, monkeypatch, tmp_path, postgres_server, sims, celery: Site) -> dict:
    """The same night over the same fleets, run in one process, in a home of its own."""
    site = _reference_site(tmp_path, postgres_server, celery)
    _register(releaf, monkeypatch, site, sims, tmp_path)
    for sim in sims:
        sim.reset_log()
    r = releaf("collect", "--start", START, "--end", END)
    assert r.code == 0, r.err
    report = _report(releaf, monkeypatch, site)
    assert sum(a["pages"] for a in report["accounts"]) > 0
    return report


@dataclass
class Placement:
    """A piece's step, as run by a worker: where and in which process."""

    step: str
    worker: str
    pids: set[int]


def _run(site: Site) -> tuple[dg.DagsterRun, list[dg.EventLogEntry]]:
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1, runs
        return runs[0], list(instance.all_logs(runs[0].run_id))


def _placements(events: list[dg.EventLogEntry]) -> list[Placement]:
    """Each time a worker took a piece's step, in order: the worker Celery names and the
    processes that logged the step's events."""
    out: list[Placement] = []
    for e in events:
        ev = e.dagster_event
        if ev is None or not (ev.step_key or "").startswith(PIECE_STEP):
            continue
        if ev.event_type == dg.DagsterEventType.ENGINE_EVENT and "in celery worker" in (
            ev.message or ""
        ):
            worker = ev.engine_event_data.metadata["Celery worker"].value
            out.append(Placement(ev.step_key, str(worker), set()))
        elif ev.event_type == dg.DagsterEventType.STEP_START:
            mine = [p for p in out if p.step == ev.step_key]
            assert mine, f"{ev.step_key} started before a worker took it"
            mine[-1].pids.add(ev.pid)
    return out


def _run_pid(events: list[dg.EventLogEntry]) -> int:
    starts = [e for e in events if e.dagster_event_type == dg.DagsterEventType.RUN_START]
    assert len(starts) == 1
    return starts[0].dagster_event.pid


def test_a_night_on_three_celery_workers_collects_every_feed_once_like_one_process(
    home, releaf, tmp_path, monkeypatch, postgres_server, pg_url, redis
):
    site = _celery_site(
        home, pg_url, postgres_server.new_database("dagster_instance"), postgres_server, redis
    )
    with ExitStack() as stack:
        sims = _simulators(stack, tmp_path, len(SERVERS), FEEDS_PER_SERVER)
        _register(releaf, monkeypatch, site, sims, tmp_path)
        workers = stack.enter_context(_workers(tmp_path, site, redis))
        pids = {name: workers.pids(name) for name in workers.names}

        code, out, err = _finished(_collect(site))
        assert code == 0, (out, err)
        # One Counter/List per feed, on its own server.
        for sim in sims:
            for customer in sim.fleet.customer_codes:
                asked = [p for p in sim.requests_for(customer) if p == COUNTER_LIST_PATH]
                assert len(asked) == 1, (customer, sim.requests_for(customer))
        run, events = _run(site)
        assert run.status == dg.DagsterRunStatus.SUCCESS

        # Each server's feeds were one piece, and each piece ran once, on a worker: in a
        # process of a worker's, never in the run's own process.
        placements = _placements(events)
        assert len(placements) == len(SERVERS), placements
        assert len({p.step for p in placements}) == len(SERVERS)
        run_pid = _run_pid(events)
        for p in placements:
            host = p.worker.partition("@")[0]
            assert host in pids, p
            assert p.pids and p.pids <= pids[host], (p, pids)
            assert run_pid not in p.pids
        for name in workers.names:
            if any(p.worker.startswith(f"{name}@") for p in placements):
                assert "execute_plan" in workers.log(name) and "succeeded" in workers.log(name)
        celery_report = _report(releaf, monkeypatch, site)

        want = _reference_report(releaf, monkeypatch, tmp_path, postgres_server, sims, site)
    assert celery_report == want


def test_a_worker_killed_mid_piece_leaves_it_to_another_and_the_night_is_the_same(
    home, releaf, tmp_path, monkeypatch, postgres_server, pg_url, redis
):
    # Each piece takes seconds: its server answers in 0.25 s, 10 requests in flight.
    site = _celery_site(
        home, pg_url, postgres_server.new_database("dagster_instance"), postgres_server, redis,
        RELEAF_CONCURRENCY_PER_SERVER="10",
    )  # fmt: skip
    with ExitStack() as stack:
        sims = _simulators(stack, tmp_path, len(SERVERS), FEEDS_PER_SERVER)
        _register(releaf, monkeypatch, site, sims, tmp_path)
        for sim in sims:
            sim.latency = 0.25
        workers = stack.enter_context(_workers(tmp_path, site, redis, visibility_seconds=15))

        collecting = _collect(site)
        with dg.DagsterInstance.from_config(str(site.home)) as instance:

            def a_piece_under_way() -> tuple[str, str] | None:
                runs = instance.get_runs()
                if not runs:
                    return None
                tags = instance.get_run_by_id(runs[0].run_id).tags
                for p in _placements(list(instance.all_logs(runs[0].run_id))):
                    key = p.step.partition("[")[2].rstrip("]")
                    done, _, planned = tags.get(f"{PROGRESS_TAG}.{key}", "0/0").partition("/")
                    if 0 < int(done) < int(planned):
                        return p.step, p.worker.partition("@")[0]
                return None

            step, victim = until("a piece half collected", a_piece_under_way)
        workers.kill(victim)
        code, out, err = _finished(collecting)
        assert code == 0, (out, err)
        run, events = _run(site)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        # The piece went back to the broker and another worker ran it to the end.
        taken = [p.worker.partition("@")[0] for p in _placements(events) if p.step == step]
        assert taken[0] == victim and len(taken) >= 2 and victim not in taken[1:], taken
        celery_report = _report(releaf, monkeypatch, site)

        for sim in sims:
            sim.latency = 0.0
        want = _reference_report(releaf, monkeypatch, tmp_path, postgres_server, sims, site)
    assert celery_report == want


def test_three_workers_on_one_server_keep_within_its_limit(
    home, releaf, tmp_path, monkeypatch, postgres_server, pg_url, redis
):
    # 60 feeds in pieces of 20: three shards of the one server, 2 requests in flight each.
    site = _celery_site(
        home, pg_url, postgres_server.new_database("dagster_instance"), postgres_server, redis,
        RELEAF_CONCURRENCY_PER_SERVER="6", RELEAF_FEEDS_PER_PIECE="20",
    )  # fmt: skip
    with ExitStack() as stack:
        (sim,) = _simulators(stack, tmp_path, 1, 60)
        _register(releaf, monkeypatch, site, [sim], tmp_path)
        sim.latency = 0.2
        stack.enter_context(_workers(tmp_path, site, redis))
        sim.reset_log()

        code, out, err = _finished(_collect(site))
        assert code == 0, (out, err)
        _, events = _run(site)
        placements = _placements(events)
        assert len(placements) == 3, placements
        # The shards ran at once on different workers: the server saw more requests in
        # flight than one shard may have (2) ...
        assert len({p.worker for p in placements}) >= 2, placements
        assert sim.peak_in_flight > 2
        # ... and never more than its limit.
        assert sim.peak_in_flight <= 6
