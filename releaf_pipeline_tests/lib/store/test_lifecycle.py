"""Pausing, resuming, removing and amending what was registered, history kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.certificates import ForestryProject
from releaf_pipeline.lib.monthly_close import issue_certificates
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.lifecycle import (
    pause_feed,
    remove_feed,
    remove_server,
    resume_feed,
    update_feed,
)
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    RegistryError,
    add_server,
    list_feeds,
    list_servers,
)
from releaf_pipeline.lib.store.tables import deposits, feeds

NOW = datetime(2026, 9, 1, tzinfo=UTC)
SEPT = date(2026, 9, 1)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="east", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(engine, [FeedSpec("east", "C1", "acct-a", SEPT, "all")], now=NOW)
    yield engine
    engine.dispose()


def _feed(engine, **kw):
    (feed,) = [f for f in list_feeds(engine, **kw) if f.customer_code == "C1"]
    return feed


def _deposit(engine, day: date, pages: int) -> None:
    feed = _feed(engine)
    with engine.begin() as conn:
        conn.execute(deposits.insert().values(feed_id=feed.id, day=day, account=feed.account,
                                              pages=pages, updated_at=NOW))  # fmt: skip


def test_pause_resume_and_remove_keep_history(engine):
    _deposit(engine, SEPT, 100)
    assert pause_feed(engine, _feed(engine), now=NOW) and not pause_feed(engine, _feed(engine),
                                                                         now=NOW)  # fmt: skip
    assert not _feed(engine).collected
    assert resume_feed(engine, _feed(engine), now=NOW) and _feed(engine).collected
    remove_feed(engine, _feed(engine), now=NOW)
    assert list_feeds(engine) == [] and _feed(engine, removed=True).removed_at == NOW
    with engine.connect() as conn:
        assert conn.execute(sa.select(deposits.c.pages)).scalars().all() == [100]
    # Registering it again says how to bring it back; resuming does, with its history.
    with pytest.raises(RegistryError, match="was removed: `releaf feed resume east/C1`"):
        add_feeds(engine, [FeedSpec("east", "C1", "acct-a", SEPT, "all")], now=NOW)
    assert resume_feed(engine, _feed(engine, removed=True), now=NOW)
    assert _feed(engine).collected


def test_a_server_is_removed_only_once_its_feeds_are(engine):
    with pytest.raises(RegistryError, match=r"still feeds 1 customer.*C1.*releaf feed remove"):
        remove_server(engine, "east", now=NOW)
    remove_feed(engine, _feed(engine), now=NOW)
    remove_server(engine, "east", now=NOW)
    assert list_servers(engine) == [] and len(list_servers(engine, removed=True)) == 1
    with pytest.raises(RegistryError, match="no server named 'east'"):
        remove_server(engine, "east", now=NOW)


def test_account_moves_with_its_deposits_until_a_certificate_credits_them(engine, tmp_path):
    _deposit(engine, SEPT, 100)
    said = update_feed(engine, _feed(engine), now=NOW, account="acct-b")
    assert said == ["account acct-a -> acct-b: its deposits moved with it"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(deposits.c.account)).scalars().all() == ["acct-b"]
    issue_certificates(engine, "2026-09", today=date(2026, 10, 11), now=lambda: NOW,
                       project=ForestryProject("P", "L"), directory=tmp_path)  # fmt: skip
    with pytest.raises(RegistryError, match="the account can change from 2026-10-01 on"):
        update_feed(engine, _feed(engine), now=NOW, account="acct-c")
    with pytest.raises(RegistryError, match=r"\(`--from 2026-10-01`\)"):
        update_feed(
            engine, _feed(engine), now=NOW, account="acct-c", account_from=date(2026, 9, 30)
        )
    assert _feed(engine).account == "acct-b"


def test_account_moves_from_a_day_after_certificates_and_recomputes_keep_it(engine, tmp_path):
    _deposit(engine, SEPT, 100)
    issue_certificates(engine, "2026-09", today=date(2026, 10, 11), now=lambda: NOW,
                       project=ForestryProject("P", "L"), directory=tmp_path)  # fmt: skip
    for day, pages in ((date(2026, 10, 1), 10), (date(2026, 10, 5), 20)):
        _deposit(engine, day, pages)
    said = update_feed(engine, _feed(engine), now=NOW, account="acct-b",
                       account_from=date(2026, 10, 5))  # fmt: skip
    assert said == [
        "account acct-a -> acct-b from 2026-10-05: its deposits from that day on moved with "
        "it, the days before stay where they are"
    ]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deposits.c.day, deposits.c.account).order_by("day")).all()
    assert [tuple(r) for r in rows] == [
        (SEPT, "acct-a"), (date(2026, 10, 1), "acct-a"), (date(2026, 10, 5), "acct-b")
    ]  # fmt: skip
    # The deposits are due from that day, and the month closes on each account for the
    # days that went to it.
    assert _feed(engine).dirty_from == date(2026, 10, 5) and _feed(engine).account == "acct-b"
    with engine.begin() as conn:
        conn.execute(feeds.update().values(dirty_from=None))
    issued, _ = issue_certificates(engine, "2026-10", today=date(2026, 11, 11),
                                   now=lambda: NOW, project=ForestryProject("P", "L"),
                                   directory=tmp_path)  # fmt: skip
    got = {c.certificate.account: (c.certificate.pages, c.certificate.period_start)
           for c in issued}  # fmt: skip
    assert got == {"acct-a": (10, date(2026, 10, 1)), "acct-b": (20, date(2026, 10, 5))}


def test_activation_moves_within_what_certificates_allow(engine, tmp_path):
    _deposit(engine, SEPT + timedelta(days=4), 100)
    issue_certificates(engine, "2026-09", today=date(2026, 10, 11), now=lambda: NOW,
                       project=ForestryProject("P", "L"), directory=tmp_path)  # fmt: skip
    with pytest.raises(RegistryError, match="can move to 2026-09-05 at the latest"):
        update_feed(engine, _feed(engine), now=NOW, activation_date=date(2026, 9, 10))
    said = update_feed(engine, _feed(engine), now=NOW, activation_date=date(2026, 9, 5))
    assert "its deposits before it go with the next run" in said[0]
    earlier = update_feed(engine, _feed(engine), now=NOW, activation_date=date(2026, 8, 20))
    assert "releaf backfill --start 2026-08-20 --end 2026-09-05 --feed east/C1" in earlier[0]
    with engine.connect() as conn:
        assert conn.execute(sa.select(feeds.c.dirty_from)).scalar() == date(2026, 8, 20)


def test_a_scope_change_recomputes_from_activation(engine):
    said = update_feed(engine, _feed(engine), now=NOW, scope="managed")
    assert "recomputed by the next run" in said[0]
    feed = _feed(engine)
    assert feed.scope == "managed" and feed.dirty_from == SEPT
    with pytest.raises(RegistryError, match="scope must be"):
        update_feed(engine, feed, now=NOW, scope="some")
