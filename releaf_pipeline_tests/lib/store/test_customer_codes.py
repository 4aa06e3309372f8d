"""Customer codes in the registry compare without regard to case, as the contract says:
one customer feeds one account however its code is written, the database holds to it, a
store made before is migrated once its twins are mended, and registering costs what its
rows do."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.codes import CaseTwinsError, remove_case_twin
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_names import AmbiguousFeedError, find_feeds
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.migrate import current_revision, head_revision, upgrade
from releaf_pipeline.lib.store.registry import (
    FeedRecord,
    FeedSpec,
    RegistryError,
    add_server,
    list_feeds,
)
from releaf_pipeline.lib.store.tables import feeds

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAY = date(2026, 10, 1)
UPPER, LOWER = "AAAA1111AAAA1111", "aaaa1111aaaa1111"


@pytest.fixture
def engine(store_url):
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def _server(engine, name="east", dealer="D-1"):
    cipher = TokenCipher(Fernet.generate_key())
    return add_server(
        engine, cipher, name=name, url=f"https://{name}.example", token="tok",
        ca_bundle_pem=None, dealer_code=dealer, now=NOW,
    )  # fmt: skip


def _spec(code, account="acct-a", server="east"):
    return FeedSpec(server, code, account, DAY, "all")


def test_a_code_differing_only_in_case_is_the_same_customer(engine):
    _server(engine)
    add_feeds(engine, [_spec(UPPER)], now=NOW)

    with pytest.raises(RegistryError, match=f"already feeds account 'acct-a' \\(as {UPPER}"):
        add_feeds(engine, [_spec(LOWER, "acct-z")], now=NOW)
    with pytest.raises(RegistryError, match="appears twice") as twice:
        add_feeds(engine, [_spec("B-1", "acct-b"), _spec("b-1", "acct-z")], now=NOW)
    assert twice.value.index == 1
    assert [(f.customer_code, f.account) for f in list_feeds(engine)] == [(UPPER, "acct-a")]

    # A removed feed keeps its code: it comes back with its history, not as a new feed.
    with engine.begin() as conn:
        conn.execute(feeds.update().values(removed_at=NOW))
    with pytest.raises(RegistryError, match=f"feed resume east/{UPPER}"):
        add_feeds(engine, [_spec(LOWER, "acct-z")], now=NOW)


def test_the_same_customer_through_another_record_of_its_dealer_is_refused(engine):
    _server(engine, "east", "D-1")
    add_feeds(engine, [_spec(UPPER)], now=NOW)
    # Two records of one dealer exist only in stores from before they were refused.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE servers SET dealer_code = 'D-2'"))
    _server(engine, "west", "D-1")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE servers SET dealer_code = 'D-1'"))
    with pytest.raises(RegistryError, match="same dealer already feeds account 'acct-a'"):
        add_feeds(engine, [_spec(LOWER, "acct-z", server="west")], now=NOW)


def test_the_database_holds_one_active_feed_per_customer_and_server(engine):
    server = _server(engine)
    add_feeds(engine, [_spec(UPPER)], now=NOW)
    row = {
        "server_id": server.id, "customer_code": LOWER, "customer_key": LOWER,
        "account": "acct-z", "activation_date": DAY, "scope": "all", "created_at": NOW,
    }  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(feeds.insert().values(**row))
    # Once the first is removed, the constraint leaves room (the registry still refuses).
    with engine.begin() as conn:
        conn.execute(feeds.update().values(removed_at=NOW))
        conn.execute(feeds.insert().values(**row))


def _store_at_0006_with_twins(url: str) -> sa.Engine:
    """A store as releaf left it before codes were keyed: one customer fed twice on
    `east`, and on `west` a twin already removed."""
    engine = sa.create_engine(url)
    upgrade(engine, "0006")
    with engine.begin() as conn:
        for sid, name in ((1, "east"), (2, "west")):
            conn.execute(
                sa.text(
                    "INSERT INTO servers (id, name, url, token_sealed, dealer_code, created_at) "
                    "VALUES (:id, :name, :url, 'sealed', :dealer, :now)"
                ),
                {"id": sid, "name": name, "url": f"https://{name}.example", "dealer": name,
                 "now": NOW},
            )  # fmt: skip
        for sid, code, account, removed in (
            (1, UPPER, "acct-a", None), (1, LOWER, "acct-z", None),
            (2, UPPER, "acct-a", NOW), (2, LOWER, "acct-w", None),
        ):  # fmt: skip
            conn.execute(
                sa.text(
                    "INSERT INTO feeds (server_id, customer_code, account, activation_date, "
                    "scope, created_at, inputs_version, removed_at) "
                    "VALUES (:sid, :code, :account, :day, 'all', :now, 0, :removed)"
                ),
                {"sid": sid, "code": code, "account": account, "day": DAY, "now": NOW,
                 "removed": removed},
            )  # fmt: skip
    return engine


def test_a_store_feeding_a_customer_twice_is_upgraded_once_one_feed_is_removed(store_url):
    old = _store_at_0006_with_twins(store_url)

    # Refused, in one line naming both feeds and the command; the store stays as it was.
    with pytest.raises(CaseTwinsError) as refused:
        make_engine(store_url)
    line = str(refused.value)
    assert "\n" not in line
    assert f"east/{LOWER} (account acct-z)" in line and f"east/{UPPER} (account acct-a)" in line
    assert "west" not in line, "a removed twin holds nothing up"
    assert f"`releaf feed remove east/{UPPER}`" in line
    assert current_revision(old) == "0006"

    # The feed named is removed on the store as it is; then the upgrade goes through.
    (twin,) = refused.value.named(f"east/{LOWER}")
    remove_case_twin(old, twin, now=NOW)
    old.dispose()
    engine = make_engine(store_url)
    assert current_revision(engine) == head_revision()
    active = [(f.server_name, f.customer_code, f.account) for f in list_feeds(engine)]
    assert active == [("east", UPPER, "acct-a"), ("west", LOWER, "acct-w")]
    with engine.connect() as conn:
        keys = conn.execute(sa.select(feeds.c.customer_key).distinct()).scalars().all()
    assert keys == [LOWER]
    with pytest.raises(RegistryError, match="already feeds account 'acct-a'"):
        add_feeds(engine, [_spec(LOWER, "acct-z")], now=NOW)
    engine.dispose()


def _feed(fid: int, server: str, code: str) -> FeedRecord:
    return FeedRecord(fid, fid, server, code, f"acct-{fid}", DAY, "all", None)


def test_a_name_that_fits_two_feeds_is_refused_saying_how_to_name_each():
    slashed = [_feed(1, "x", "y/EEEE5555EEEE5555"), _feed(2, "x/y", "EEEE5555EEEE5555")]
    with pytest.raises(AmbiguousFeedError) as refused:
        find_feeds(slashed, ["x/y/EEEE5555EEEE5555"])
    line = str(refused.value)
    assert "customer y/EEEE5555EEEE5555 on server x," in line
    assert "customer EEEE5555EEEE5555 on server x/y)" in line
    assert "--server x with y/EEEE5555EEEE5555 or --server x/y with EEEE5555EEEE5555" in line
    assert find_feeds(slashed, ["eeee5555eeee5555"], server="x/y") == ([slashed[1]], [])
    assert find_feeds(slashed, ["y/EEEE5555EEEE5555"], server="x") == ([slashed[0]], [])

    shared = [_feed(1, "east", "C-1"), _feed(2, "west", "c-1")]
    with pytest.raises(AmbiguousFeedError, match=r"as east/C-1 or west/c-1$"):
        find_feeds(shared, ["C-1"])
    assert find_feeds(shared, ["WEST/C-1"]) == ([], ["WEST/C-1"]), "server names are exact"
    assert find_feeds(shared, ["west/C-1"]) == ([shared[1]], [])


def test_importing_costs_what_its_rows_do(tmp_path):
    """The database's own work (SQLite virtual machine steps, not time) for an import of
    4 times the rows is about 4 times as much, not 16."""

    def steps_to_import(n: int) -> int:
        engine = make_engine(f"sqlite:///{tmp_path / f'store-{n}.db'}")
        _server(engine)
        counted = [0]

        def tick() -> int:
            counted[0] += 1
            return 0

        sa.event.listen(engine, "checkout", lambda dbapi, *_: dbapi.set_progress_handler(tick, 100))
        add_feeds(engine, [_spec(f"C{i:07d}", f"acct-{i % 97}") for i in range(n)], now=NOW)
        engine.dispose()
        return counted[0]

    small, large = steps_to_import(1000), steps_to_import(4000)
    assert large / small < 6, (small, large)
