"""Rule 6 in the store: an account's pages per month, over all its feeds."""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.reports import month_report
from releaf_pipeline.lib.store.tables import deposits

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_month_report_sums_two_feeds_into_one_account(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="s", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(
        engine,
        [FeedSpec("s", c, a, date(2026, 10, 1), "all") for c, a in
         (("C1", "acc-a"), ("C2", "acc-a"), ("C3", "acc-b"))],
        now=NOW,
    )  # fmt: skip
    ids = {f.customer_code: f.id for f in list_feeds(engine)}
    rows = [
        ("C1", date(2026, 10, 31), 5), ("C1", date(2026, 11, 1), 10),
        ("C1", date(2026, 11, 30), 20), ("C2", date(2026, 11, 15), 300),
        ("C2", date(2026, 12, 1), 4000), ("C3", date(2026, 11, 2), 7),
    ]  # fmt: skip
    account = {"C1": "acc-a", "C2": "acc-a", "C3": "acc-b"}
    with engine.begin() as conn:
        conn.execute(
            deposits.insert(),
            [{"feed_id": ids[c], "day": d, "account": account[c], "pages": p, "updated_at": NOW}
             for c, d, p in rows],
        )  # fmt: skip
        assert conn.execute(sa.select(sa.func.count()).select_from(deposits)).scalar() == 6

    november = month_report(engine, "2026-11")

    assert [(a.account, a.pages) for a in november] == [("acc-a", 330), ("acc-b", 7)]
    assert november[0].days == {date(2026, 11, 1): 10, date(2026, 11, 15): 300,
                                date(2026, 11, 30): 20}  # fmt: skip
    assert [(a.account, a.pages) for a in month_report(engine, "2026-10")] == [("acc-a", 5)]
