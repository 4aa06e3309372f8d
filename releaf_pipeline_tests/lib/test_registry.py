from datetime import UTC, date, datetime

import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    RegistryError,
    add_feeds,
    add_server,
    get_server,
    list_feeds,
    server_token,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path):
    return make_engine(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def cipher():
    return TokenCipher(Fernet.generate_key())


def _server(engine, cipher, name="east"):
    return add_server(
        engine,
        cipher,
        name=name,
        url="https://mps.example",
        token="tok-1",
        ca_bundle_pem=None,
        dealer_code="D-1",
        now=NOW,
    )


def test_server_token_is_sealed_in_the_database(engine, cipher, tmp_path):
    server = _server(engine, cipher)
    assert server_token(engine, cipher, server.id).reveal() == "tok-1"
    engine.dispose()
    assert b"tok-1" not in (tmp_path / "store.db").read_bytes()
    with pytest.raises(RegistryError, match="already registered"):
        _server(engine, cipher)


def test_unknown_server_names_the_fix(engine):
    with pytest.raises(RegistryError, match="releaf server list"):
        get_server(engine, "nope")


def test_feeds_are_all_or_none(engine, cipher):
    _server(engine, cipher)
    good = FeedSpec("east", "AAA", "acct-a", date(2026, 9, 1), "all")
    dup = FeedSpec("east", "AAA", "acct-b", date(2026, 9, 1), "all")
    with pytest.raises(RegistryError, match="appears twice") as exc:
        add_feeds(engine, [good, dup], now=NOW)
    assert exc.value.index == 1
    assert list_feeds(engine) == []
    add_feeds(engine, [good], now=NOW)
    with pytest.raises(RegistryError, match="already feeds account 'acct-a'"):
        add_feeds(engine, [dup], now=NOW)
    bad_server = FeedSpec("west", "BBB", "acct-b", date(2026, 9, 1), "all")
    with pytest.raises(RegistryError, match="no server named 'west'"):
        add_feeds(engine, [bad_server], now=NOW)
    assert [f.customer_code for f in list_feeds(engine)] == ["AAA"]
