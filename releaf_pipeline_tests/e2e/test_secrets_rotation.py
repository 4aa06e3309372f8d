"""`releaf secrets rotate`: tokens re-encrypted under a new key, collection never stops."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import TokenCipher, load_keys
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.registry import server_token
from releaf_pipeline.settings import read_settings

pytestmark = pytest.mark.e2e


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
    keys = load_keys(home)
    assert len(keys) == 2 and keys[1] == old_key and keys[0] != old_key
    after = _sealed(registered)
    assert after != before
    # Sealed under the new key alone; the old key no longer opens it.
    assert server_token(registered, TokenCipher([keys[0]]), 1).reveal() == sim.token
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
    keys = load_keys(home, read_settings().secret_keys)
    assert server_token(registered, TokenCipher(keys), 1).reveal() == sim.token
    assert new not in releaf("server", "list", "--json").out
