"""A key that is valid but not the one the tokens were sealed with is refused before a
command writes anything or records a run: one line naming the setting to fix."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.defs.health.server_health import fleet_health
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.launch import open_instance
from releaf_pipeline.lib.secrets import SecretKeyError
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.settings import read_settings

pytestmark = pytest.mark.e2e

NOW = "2026-10-01T06:00:00+00:00"


@pytest.fixture
def registered(home, sim, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_NOW", NOW)
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    for code in sim.fleet.customer_codes[:2]:
        r = releaf(
            "feed", "add", "--server", "east", "--customer-code", code, "--account", "acct-a",
            "--activation-date", "2026-09-20", "--scope", "all",
        )  # fmt: skip
        assert r.code == 0, r.err
    return home


def _written(home) -> dict:
    """What a command could have written: server health, health events, feed-days,
    deposits, and the runs in the instance."""
    engine = make_engine(f"sqlite:///{home / 'releaf.db'}")
    try:
        with engine.connect() as conn:
            state = {
                table: conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()
                for table in ("health_events", "feed_days", "deposits", "readings")
            }
            state["servers"] = conn.execute(
                sa.text("select healthy, health_checked_at, health_reason from servers")
            ).all()
    finally:
        engine.dispose()
    instance = open_instance(read_settings())
    try:
        state["runs"] = instance.get_runs_count()
    finally:
        instance.dispose()
    return state


COMMANDS = [
    ("collect", "--start", "2026-09-30"),
    ("backfill", "--start", "2026-09-28", "--end", "2026-09-30"),
    ("nightly", "--date", "2026-09-30"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_wrong_key_in_the_variable_is_refused_before_anything_is_written(
    registered, releaf, monkeypatch, command
):
    before = _written(registered)
    monkeypatch.setenv("RELEAF_SECRET_KEY", Fernet.generate_key().decode())
    r = releaf(*command)
    assert r.code != 0
    (line,) = r.err.strip().splitlines()
    assert line.startswith("releaf: error: RELEAF_SECRET_KEY opens none of the 1 stored")
    assert _written(registered) == before
    assert before["runs"] == 0


def test_a_wrong_key_file_is_refused_naming_the_file(registered, releaf):
    before = _written(registered)
    (registered / "releaf.key").write_bytes(Fernet.generate_key() + b"\n")
    r = releaf("nightly", "--date", "2026-09-30")
    assert r.code != 0
    (line,) = r.err.strip().splitlines()
    assert f"the key file {registered / 'releaf.key'} opens none" in line
    assert "restore the key file from a backup" in line
    assert _written(registered) == before


def test_the_health_check_refuses_a_wrong_key_before_it_writes(registered, monkeypatch):
    before = _written(registered)
    monkeypatch.setenv("RELEAF_SECRET_KEY", Fernet.generate_key().decode())
    resources = {
        # As the definitions configure it: the key as the variable that holds it.
        "store": StoreResource(home=str(registered), secret_key=dg.EnvVar("RELEAF_SECRET_KEY")),
        "mpsmonitor": MPSMonitorResource(backoff_base_seconds=0.01),
        "clock": ClockResource(frozen_at=datetime(2026, 10, 1, 7, tzinfo=UTC).isoformat()),
        "rules": RulesResource(),
    }
    with pytest.raises(SecretKeyError, match="RELEAF_SECRET_KEY opens none"):
        dg.materialize([fleet_health], instance=dg.DagsterInstance.ephemeral(), resources=resources)
    assert _written(registered) == before


def test_a_new_token_can_still_be_given_after_the_key_is_lost(registered, sim, releaf, monkeypatch):
    # The way back from a lost key: a new key, and each server given its token again.
    (registered / "releaf.key").unlink()
    monkeypatch.setenv("RELEAF_SECRET_KEY", Fernet.generate_key().decode())
    assert "opens none" in releaf("nightly", "--date", "2026-09-30").err
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "update", "east")
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    r = releaf("collect", "--start", "2026-09-30")
    assert r.code == 0, r.err
