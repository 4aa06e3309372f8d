"""`releaf secrets rotate`: tokens re-encrypted under a new key, collection never stops,
and a rotation killed at any point completes when run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import TokenCipher, load_keys
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.registry import list_servers, server_token
from releaf_pipeline.settings import read_settings, revealed
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = pytest.mark.e2e

TODAY = date(2026, 10, 1)
NOW = "2026-10-01T06:00:00+00:00"
ACTIVATION, LAST_DAY = date(2026, 9, 20), date(2026, 9, 30)
PAUSE_HOOK = "RELEAF_TEST_HOOK_PAUSE_ROTATION"


@pytest.fixture
def registered(home, sim, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    assert (
        releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle)).code
        == 0
    )
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    return make_engine(f"sqlite:///{home / 'releaf.db'}")


def _sealed(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("select token_sealed from servers")).scalar_one()


def test_rotate_with_the_key_file(registered, home, sim, releaf):
    before = _sealed(registered)
    old_key = load_keys(home)[0]
    r = releaf("secrets", "rotate")
    assert r.code == 0 and "re-encrypted 1 token" in r.out
    # Every token is under the new key, so the old one is dropped.
    (new_key,) = load_keys(home)
    assert new_key != old_key
    after = _sealed(registered)
    assert after != before
    assert server_token(registered, TokenCipher([new_key]), 1).get_secret_value() == sim.token
    with pytest.raises(Exception, match="cannot be decrypted"):
        server_token(registered, TokenCipher([old_key]), 1)
    assert (home / "releaf.key").stat().st_mode & 0o777 == 0o600
    # The server still answers with the rotated token.
    assert releaf("server", "list").code == 0


def test_rotate_with_the_environment_needs_new_and_old(registered, home, sim, releaf, monkeypatch):
    old = load_keys(home)[0].decode()
    monkeypatch.setenv("RELEAF_SECRET_KEY", old)
    r = releaf("secrets", "rotate")
    assert r.code != 0 and "NEW,OLD" in r.err
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("RELEAF_SECRET_KEY", f"{new},{old}")
    assert releaf("secrets", "rotate").code == 0
    monkeypatch.setenv("RELEAF_SECRET_KEY", new)  # the old key dropped everywhere
    keys = load_keys(home, revealed(read_settings().secret_keys))
    assert server_token(registered, TokenCipher(keys), 1).get_secret_value() == sim.token
    assert new not in releaf("server", "list", "--json").out


def test_a_rotation_stopped_after_its_new_key_is_completed_by_the_next(
    registered, home, sim, releaf
):
    # What a rotation killed right after writing its key file leaves: the new key first,
    # the tokens still sealed with the old one.
    (old,) = load_keys(home)
    interrupted = Fernet.generate_key()
    (home / "releaf.key").write_bytes(interrupted + b"\n" + old + b"\n")
    r = releaf("secrets", "rotate")
    assert r.code == 0, r.err
    (key,) = load_keys(home)
    assert key not in (old, interrupted)
    assert server_token(registered, TokenCipher([key]), 1).get_secret_value() == sim.token


def test_a_token_no_key_opens_stops_the_rotation_before_it_writes(registered, home, releaf):
    (home / "releaf.key").write_bytes(Fernet.generate_key() + b"\n")
    before = (home / "releaf.key").read_bytes()
    r = releaf("secrets", "rotate")
    assert r.code == 2
    assert "token of server east opens with no key" in r.err and "\n" not in r.err.strip()
    assert (home / "releaf.key").read_bytes() == before


# ---- killed at every step, then run again --------------------------------------------------


SERVERS = ("east", "west", "north")


@pytest.fixture
def three_sims(tmp_path) -> Iterator[dict[str, Simulator]]:
    """Three dealers, each its own server and token."""
    with ExitStack() as stack:
        sims = {}
        for i, name in enumerate(SERVERS):
            fleet = Fleet(FleetConfig(seed=11 + i, customers=1, dealer_code=f"D-70{i}1"))
            sims[name] = stack.enter_context(
                Simulator(fleet, token=f"token-of-{name}", today=TODAY, workdir=tmp_path / name)
            )
        yield sims


def _register(releaf, monkeypatch, sims: dict[str, Simulator]) -> list:
    feeds = []
    for name, sim in sims.items():
        monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
        r = releaf("server", "add", name, "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
        assert r.code == 0, r.err
        code = sim.fleet.customer_codes[0]
        account = f"acct-{name}"
        r = releaf(
            "feed", "add", "--server", name, "--customer-code", code, "--account", account,
            "--activation-date", ACTIVATION.isoformat(), "--scope", "all",
        )  # fmt: skip
        assert r.code == 0, r.err
        feeds.append((sim.fleet, (code, account, ACTIVATION, "all")))
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    return feeds


def _rotate(env: dict[str, str]) -> subprocess.Popen:
    exe = str(Path(sys.executable).parent / "releaf")
    return subprocess.Popen(
        [exe, "secrets", "rotate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _kill_at(step: int, marker: Path, env: dict[str, str]) -> str:
    """Run a rotation, SIGKILL it when it reaches its `step`th point; the point's name."""
    proc = _rotate({**env, PAUSE_HOOK: f"{step}:{marker}"})
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, f"the rotation ended before point {step}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"point {step} not reached"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return marker.read_text()


def _every_token_opens(home: Path, sims: dict[str, Simulator], configured: str | None) -> None:
    keys = load_keys(home, configured)
    engine = make_engine(f"sqlite:///{home / 'releaf.db'}")
    try:
        # Sealed under the newest key alone, and each the token its server accepts.
        newest = TokenCipher([keys[0]])
        for server in list_servers(engine):
            token = server_token(engine, newest, server.id).get_secret_value()
            assert token == sims[server.name].token
    finally:
        engine.dispose()


def _collection_equals_truth(releaf, feeds) -> None:
    r = releaf("collect", "--start", ACTIVATION.isoformat(), "--end", LAST_DAY.isoformat())
    assert r.code == 0, r.err
    assert not r.err.strip(), r.err  # no feed left uncollected
    truth: dict = {}
    for fleet, feed in feeds:
        truth |= expected_account_days(fleet, [feed], LAST_DAY, as_of=TODAY)
    got = releaf("report", "--month", "2026-09", "--json").json()
    want = month_view(truth, "2026-09")
    assert [(a["account"], a["days"]) for a in got["accounts"]] == [
        (a["account"], a["days"]) for a in want["accounts"]
    ]


@pytest.mark.parametrize(
    ("mode", "points"),
    [
        # keys read; the new key file written, then in place; per token (3): sealed
        # again before and after its commit; the key file without the old keys written,
        # then in place.
        ("key file", 11),
        # keys read; per token (3): sealed again before and after its commit.
        ("environment", 7),
    ],
)
def test_a_rotation_killed_at_any_point_completes_when_run_again(
    three_sims, tmp_path, releaf, monkeypatch, mode, points
):
    monkeypatch.setenv("RELEAF_NOW", NOW)
    reached = []
    for step in range(1, points + 1):
        home = tmp_path / f"home-{step}"
        home.mkdir()
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        feeds = _register(releaf, monkeypatch, three_sims)
        configured = None
        if mode == "environment":
            # A rotation under way: NEW first, OLD (the key the tokens were sealed with) next.
            configured = f"{Fernet.generate_key().decode()},{load_keys(home)[0].decode()}"
            (home / "releaf.key").unlink()
            monkeypatch.setenv("RELEAF_SECRET_KEY", configured)
        env = dict(os.environ)
        reached.append(_kill_at(step, tmp_path / f"reached-{step}", env))

        again = _rotate(env)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert "re-encrypted" in out
        _every_token_opens(home, three_sims, configured)
        if mode == "key file":
            assert len(load_keys(home)) == 1, "a key no token needs was kept"
            assert not list(home.glob(".releaf.key.*.tmp")), "a partial key file was left"
        else:
            # The old key dropped from the variable, as the rotation's output says.
            monkeypatch.setenv("RELEAF_SECRET_KEY", configured.split(",")[0])
            _every_token_opens(home, three_sims, revealed(read_settings().secret_keys))
        if step == points:
            # Each token is the one its server takes (above); once, a whole collection too.
            _collection_equals_truth(releaf, feeds)
        monkeypatch.delenv("RELEAF_SECRET_KEY", raising=False)
    assert len(set(reached)) == points, reached
