"""Certificates credit exactly what was deposited through their months."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.certificates import ForestryProject
from releaf_pipeline.lib.monthly_close import issue_certificates
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.credit import credit_through
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.tables import certificates, deposits

NOW = datetime(2026, 9, 1, tzinfo=UTC)
PROJECT = ForestryProject("Sierra Nevada Restoration", "Plumas National Forest, California")


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="east", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(engine, [FeedSpec("east", "C1", "acct-a", date(2026, 9, 1), "all")], now=NOW)
    yield engine
    engine.dispose()


def _deposit(engine, day: date, pages: int, at: datetime) -> None:
    (feed,) = list_feeds(engine)
    with engine.begin() as conn:
        conn.execute(deposits.delete().where(deposits.c.feed_id == feed.id, deposits.c.day == day))
        conn.execute(
            deposits.insert().values(
                feed_id=feed.id, day=day, account="acct-a", pages=pages, updated_at=at
            )
        )


def _close(engine, tmp_path, month: str, today: date, at: datetime) -> None:
    issued, _ = issue_certificates(
        engine, month, today=today, now=lambda: at, project=PROJECT, directory=tmp_path / "c"
    )
    assert [c.certificate.account for c in issued] == ["acct-a"]


def test_certificates_credit_what_was_deposited_and_name_what_is_not(engine, tmp_path):
    for i in range(30):
        _deposit(engine, date(2026, 9, 1) + timedelta(days=i), 100 + i, NOW)
    issued_at = datetime(2026, 10, 11, 3, tzinfo=UTC)
    _close(engine, tmp_path, "2026-09", date(2026, 10, 11), issued_at)
    (credit,) = credit_through(engine, "2026-09")
    assert (credit.credited, credit.deposited, credit.difference) == (3435, 3435, 0)
    assert credit.explained

    # A late reading changes a September day after the issue: the next certificate's.
    _deposit(engine, date(2026, 9, 30), 129 + 40, issued_at + timedelta(days=1))
    (credit,) = credit_through(engine, "2026-09")
    assert credit.difference == 40 and credit.changed_since_issue == 1 and credit.explained

    # October's certificate carries it as an adjustment: exact again through October.
    for i in range(31):
        _deposit(engine, date(2026, 10, 1) + timedelta(days=i), 50, issued_at)
    _close(engine, tmp_path, "2026-10", date(2026, 11, 11), datetime(2026, 11, 11, tzinfo=UTC))
    (credit,) = credit_through(engine, "2026-10")
    assert (credit.credited, credit.deposited) == (3435 + 40 + 31 * 50, 3435 + 40 + 31 * 50)

    # A certificate that credits pages nobody deposited is an error, not an adjustment.
    with engine.begin() as conn:
        conn.execute(
            certificates.update()
            .where(certificates.c.month == "2026-10")
            .values(pages=certificates.c.pages + 7)
        )
    (credit,) = credit_through(engine, "2026-10")
    assert credit.difference == -7 and not credit.explained
    assert credit_through(engine, "2026-11") == []


def test_pages_lost_before_the_issue_are_not_explained_by_the_issue(engine, tmp_path):
    _deposit(engine, date(2026, 9, 3), 500, NOW)
    _close(engine, tmp_path, "2026-09", date(2026, 10, 11), datetime(2026, 10, 11, tzinfo=UTC))
    # A deposit rewritten with an old time (a restored backup, say): not after the issue.
    _deposit(engine, date(2026, 9, 3), 400, NOW)
    (credit,) = credit_through(engine, "2026-09")
    assert credit.difference == -100 and not credit.explained
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(certificates)).scalar() == 1


def test_an_unwritable_certificates_directory_issues_nothing_and_says_where(engine, tmp_path):
    from releaf_pipeline.lib.certificate_pdf import CertificateFileError

    for i in range(30):
        _deposit(engine, date(2026, 9, 1) + timedelta(days=i), 100, NOW)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory\n")
    at = datetime(2026, 10, 11, 3, tzinfo=UTC)
    with pytest.raises(CertificateFileError, match="RELEAF_CERTIFICATES_DIR") as err:
        issue_certificates(engine, "2026-09", today=date(2026, 10, 11), now=lambda: at,
                           project=PROJECT, directory=blocked / "certs")  # fmt: skip
    assert str(blocked / "certs") in str(err.value) and "\n" not in str(err.value)
    with engine.connect() as conn:
        assert conn.execute(certificates.select()).first() is None
    # Once the directory can be written, the month closes as if nothing had happened.
    _close(engine, tmp_path, "2026-09", date(2026, 10, 11), at)
