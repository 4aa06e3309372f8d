"""Months close in order: a month waiting for the month before is released by its own
grace date, and the months before are issued first."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.lib.certificates import ForestryProject
from releaf_pipeline.lib.monthly_close import close_status, issue_certificates
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.certificates import list_certificates
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.tables import deposits

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="east", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(engine, [FeedSpec("east", "C1", "acct-a", date(2026, 6, 1), "all")], now=NOW)
    yield engine
    engine.dispose()


def test_a_month_waiting_for_months_never_closed_issues_them_first(engine, tmp_path):
    # A backfill deposited months the close no longer looks at (June), so July waited for
    # June, August for July, and so on.
    (feed,) = list_feeds(engine)
    pages = {date(2026, m, 10): m * 100 for m in range(6, 11)}
    with engine.begin() as conn:
        conn.execute(deposits.insert(), [
            {"feed_id": feed.id, "day": d, "account": "acct-a", "pages": p, "updated_at": NOW}
            for d, p in pages.items()
        ])  # fmt: skip
    today = date(2026, 11, 5)
    (waiting,) = close_status(engine, "2026-10", today)
    assert not waiting.closable and "2026-09 is not issued yet" in waiting.waiting
    assert "closes with what is known on 2026-11-10" in waiting.waiting

    today = date(2026, 11, 10)
    project = ForestryProject("P", "L")
    issued, _ = issue_certificates(
        engine, "2026-10", today=today, now=lambda: NOW, project=project, directory=tmp_path
    )
    months = [(c.month, c.certificate.pages, c.certificate.adjustment_pages) for c in issued]
    assert months == [(f"2026-{m:02d}", m * 100, 0) for m in range(6, 11)]
    assert issued[0].certificate.period_start == date(2026, 6, 1)
    assert len(list_certificates(engine)) == 5
