"""Accounts' display names in the store, and the certificates that print them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pypdf import PdfReader

from releaf_pipeline.lib.certificates import ForestryProject, certificate_id
from releaf_pipeline.lib.monthly_close import issue_certificates
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.accounts import account_name, account_names
from releaf_pipeline.lib.store.certificates import get_certificate, list_certificates
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.migrate import upgrade
from releaf_pipeline.lib.store.registry import FeedSpec, RegistryError, add_server, list_feeds
from releaf_pipeline.lib.store.tables import accounts

NOW = datetime(2026, 9, 1, tzinfo=UTC)
SEPT = date(2026, 9, 1)
PROJECT = ForestryProject("Sierra Nevada Restoration", "Plumas National Forest, California")


@pytest.fixture
def engine(store_url):
    """A store with one server, `east`."""
    engine = make_engine(store_url)
    add_server(engine, TokenCipher(Fernet.generate_key()), name="east", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    yield engine
    engine.dispose()


def _feed(code: str, account: str, name: str | None = None) -> FeedSpec:
    return FeedSpec("east", code, account, SEPT, "all", account_name=name)


def _updated_at(engine, account: str) -> datetime:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(accounts.c.updated_at).where(accounts.c.account == account)
        ).scalar_one()


def test_a_name_is_set_replaced_and_left_alone(engine):
    add_feeds(engine, [_feed("C1", "acct-a", "Acme Corp"), _feed("C2", "acct-b")], now=NOW)
    assert account_names(engine) == {"acct-a": "Acme Corp"}
    assert account_name(engine, "acct-b") is None

    # Another feed without a name leaves the name; the same name changes nothing.
    later = datetime(2026, 9, 5, tzinfo=UTC)
    add_feeds(engine, [_feed("C3", "acct-a"), _feed("C4", "acct-a", "Acme Corp")], now=later)
    assert account_name(engine, "acct-a") == "Acme Corp"
    assert _updated_at(engine, "acct-a") == NOW

    # A different name replaces it.
    add_feeds(engine, [_feed("C5", "acct-a", "  Acme Corporation ")], now=later)
    assert account_name(engine, "acct-a") == "Acme Corporation"
    assert _updated_at(engine, "acct-a") == later
    # Non-Latin names are kept as given.
    add_feeds(engine, [_feed("C6", "acct-b", "Łódź Print")], now=later)
    assert account_names(engine) == {"acct-a": "Acme Corporation", "acct-b": "Łódź Print"}


@pytest.mark.parametrize(
    ("specs", "message", "index"),
    [
        ([_feed("C1", "acct-a", "Acme\nCorp")], "control characters", 0),
        ([_feed("C1", "acct-a", "x" * 101)], "at most 100 characters", 0),
        ([_feed("C1", "acct-a", " ")], "empty", 0),
        (
            [_feed("C1", "acct-a", "Acme"), _feed("C2", "acct-b"), _feed("C3", "acct-a", "Acne")],
            "account 'acct-a' is given two names, 'Acme' and 'Acne'",
            2,
        ),
        # A good name with a bad feed is not kept either.
        ([_feed("C1", "acct-a", "Acme"), _feed("C1", "acct-b")], "appears twice", 1),
    ],
)
def test_bad_names_and_feeds_store_nothing(engine, specs, message, index):
    add_feeds(engine, [_feed("C0", "acct-a", "Before")], now=NOW)
    with pytest.raises(RegistryError, match=message) as exc:
        add_feeds(engine, specs, now=NOW)
    assert exc.value.index == index
    assert [f.customer_code for f in list_feeds(engine)] == ["C0"]
    assert account_names(engine) == {"acct-a": "Before"}


def _pdf_text(path: str) -> str:
    return " ".join(PdfReader(path).pages[0].extract_text().split())


def test_a_certificate_keeps_the_name_it_was_issued_with(engine, tmp_path: Path):
    add_feeds(engine, [_feed("C1", "acct-a", "Acme Corp"), _feed("C2", "acct-b")], now=NOW)

    def close(month: str, today: date):
        # Nothing was collected, so the months close by grace, with zero pages.
        issued, _ = issue_certificates(
            engine, month, today=today, now=lambda: NOW, project=PROJECT,
            directory=tmp_path / "certs",
        )  # fmt: skip
        return {c.certificate.account: c for c in issued}

    september = close("2026-09", date(2026, 10, 11))
    assert september["acct-a"].certificate.account_name == "Acme Corp"
    assert september["acct-b"].certificate.account_name is None
    # The name is not part of the id.
    sept_a = september["acct-a"].certificate
    assert sept_a.id == certificate_id("acct-a", SEPT, date(2026, 9, 30), 0, 0)

    add_feeds(engine, [_feed("C3", "acct-a", "Acme Corporation")], now=NOW)
    october = close("2026-10", date(2026, 11, 11))
    assert october["acct-a"].certificate.account_name == "Acme Corporation"

    kept = get_certificate(engine, sept_a.id)
    assert kept is not None and kept.certificate == sept_a
    assert [(c.month, c.certificate.account_name) for c in list_certificates(engine)] == [
        ("2026-09", "Acme Corp"),
        ("2026-09", None),
        ("2026-10", "Acme Corporation"),
        ("2026-10", None),
    ]
    certs = tmp_path / "certs"
    # Stored relative to the directory, which another host may mount elsewhere.
    assert kept.pdf_path == f"2026-09/{kept.certificate.id}.pdf"
    assert kept.pdf_file(Path("/mnt/elsewhere")) == Path("/mnt/elsewhere") / kept.pdf_path
    sept_text = _pdf_text(kept.pdf_file(certs))
    assert "Acme Corp account acct-a" in sept_text and "Acme Corporation" not in sept_text
    assert "Acme Corporation account acct-a" in _pdf_text(october["acct-a"].pdf_file(certs))
    assert "acct-b" in _pdf_text(september["acct-b"].pdf_file(certs))


def test_migration_0005_leaves_issued_certificates_as_they_were(store_url):
    engine = sa.create_engine(store_url)
    upgrade(engine, "0004")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("certificates")}
    assert "account_name" not in columns
    assert not sa.inspect(engine).has_table("accounts")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO certificates (id, account, month, period_start, period_end, pages,"
                " adjustment_pages, project_name, project_location, issued_on, closed_by,"
                " pdf_path, created_at) VALUES ('RC-202609-0000000000', 'acct-a', '2026-09',"
                " '2026-09-01', '2026-09-30', 5, 0, 'P', 'L', '2026-10-01', 'complete',"
                " '/x.pdf', '2026-10-01 00:00:00+00:00')"
            )
        )
    assert upgrade(engine) is True
    engine.dispose()
    engine = make_engine(store_url)
    (cert,) = list_certificates(engine)
    assert cert.certificate.account_name is None and cert.certificate.pages == 5
    assert account_names(engine) == {}
    engine.dispose()
