"""One server, one registration; one customer of a dealer, one feed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    RegistryError,
    add_server,
    list_feeds,
    list_servers,
    update_server_connection,
)

NOW = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def cipher():
    return TokenCipher(Fernet.generate_key())


def _add(engine, cipher, name, url, dealer="D-1"):
    return add_server(engine, cipher, name=name, url=url, token="t", ca_bundle_pem=None,
                      dealer_code=dealer, now=NOW)  # fmt: skip


@pytest.mark.parametrize(
    "again",
    [
        "https://127.0.0.1:18443/",
        "HTTPS://127.0.0.1:18443",
        "https://127.0.0.1:18443//",
    ],
)
def test_the_same_url_under_another_name_is_refused_naming_the_first(engine, cipher, again):
    _add(engine, cipher, "east", "https://127.0.0.1:18443")
    with pytest.raises(RegistryError, match="already registered as server 'east'"):
        _add(engine, cipher, "east-2", again, dealer="D-2")
    assert [s.name for s in list_servers(engine)] == ["east"]


def test_host_case_and_the_default_port_do_not_make_another_server(engine, cipher):
    server = _add(engine, cipher, "east", "https://MPS.Example.com:443/")
    assert server.url == "https://mps.example.com"
    with pytest.raises(RegistryError, match="already registered as server 'east'"):
        _add(engine, cipher, "west", "https://mps.example.com", dealer="D-9")


def test_the_same_dealer_behind_another_url_is_refused(engine, cipher):
    _add(engine, cipher, "east", "https://10.0.0.5")
    with pytest.raises(RegistryError, match="dealer D-1 is already registered as server 'east'"):
        _add(engine, cipher, "alias", "https://mps.example.com")
    # Another dealer is another server; re-pointing a server at a new URL is not a clash.
    _add(engine, cipher, "west", "https://mps.example.com", dealer="D-2")
    update_server_connection(engine, cipher, name="east", url="https://10.0.0.6", token="t2",
                             ca_bundle_pem=None, dealer_code="D-1", now=NOW)  # fmt: skip
    assert {s.name: s.url for s in list_servers(engine)} == {
        "east": "https://10.0.0.6",
        "west": "https://mps.example.com",
    }


def test_a_customer_of_one_dealer_feeds_one_account(engine, cipher):
    _add(engine, cipher, "east", "https://10.0.0.5")
    # Registered before identities were checked: two records of the same dealer.
    from releaf_pipeline.lib.store.tables import servers

    with engine.begin() as conn:
        conn.execute(
            servers.insert().values(name="east-old", url="https://10.0.0.9", token_sealed="x",
                                    dealer_code="D-1", created_at=NOW)
        )  # fmt: skip
    add_feeds(engine, [FeedSpec("east", "C1", "acct-a", date(2026, 9, 1), "all")], now=NOW)
    with pytest.raises(RegistryError, match="already feeds account 'acct-a' through server"):
        add_feeds(engine, [FeedSpec("east-old", "C1", "acct-b", date(2026, 9, 1), "all")],
                  now=NOW)  # fmt: skip
    assert [(f.server_name, f.account) for f in list_feeds(engine)] == [("east", "acct-a")]
