from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    RegistryError,
    add_server,
    get_server,
    list_feeds,
    server_token,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def engine(store_url):
    """A fresh store on each backend (SQLite file, Postgres database)."""
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


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


def _every_stored_value(engine) -> list[str]:
    """Every value of every row of every table, as text."""
    values = []
    with engine.connect() as conn:
        reflected = sa.MetaData()
        reflected.reflect(conn)
        for table in reflected.sorted_tables:
            for row in conn.execute(sa.select(table)):
                values += [str(v) for v in row]
    return values


def test_server_token_is_sealed_in_the_database(engine, cipher):
    server = _server(engine, cipher)
    assert server_token(engine, cipher, server.id).get_secret_value() == "tok-1"
    with engine.connect() as conn:
        sealed = conn.execute(sa.text("SELECT token_sealed FROM servers")).scalars().all()
    assert len(sealed) == 1 and "tok-1" not in sealed[0]
    stored = _every_stored_value(engine)
    assert any("D-1" in v for v in stored), "the check reads the servers rows"
    assert not any("tok-1" in v for v in stored)
    if engine.dialect.name == "sqlite":
        # The file itself too: free pages and the WAL must not keep a plain copy.
        engine.dispose()
        assert b"tok-1" not in Path(engine.url.database).read_bytes()
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
