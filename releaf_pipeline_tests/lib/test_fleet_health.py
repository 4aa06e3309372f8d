"""The fleet's health as an operator reads it: state, since, why, and what happens next."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.lib.fleet_health import assess_fleet
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.collection import record_status
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.health import record_server_health
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.tables import feed_health, feeds

NOW = datetime(2026, 10, 1, tzinfo=UTC)
TODAY = date(2026, 10, 20)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    cipher = TokenCipher(Fernet.generate_key())
    for name in ("s1", "s2"):
        add_server(engine, cipher, name=name, url=f"https://{name}", token="t",
                   ca_bundle_pem=None, dealer_code=f"D-{name}", now=NOW)  # fmt: skip
    placed = (("s1", "A"), ("s2", "B"), ("s2", "C"), ("s2", "D"), ("s2", "E"))
    specs = [FeedSpec(s, c, "acct", date(2026, 10, 1), "all") for s, c in placed]
    add_feeds(engine, specs, now=NOW)
    yield engine
    engine.dispose()


def _state(engine, customer: str) -> dict:
    fleet = assess_fleet(engine, TODAY, check_seconds=300, lookback_days=35)
    (f,) = [f for f in fleet.feeds if f.feed.customer_code == customer]
    return {"state": f.state, "why": f.why, "next": f.next, "since": f.since}


def test_each_feed_says_its_state_why_and_what_next(engine):
    by_code = {f.customer_code: f for f in list_feeds(engine)}
    record_server_health(engine, 1, healthy=False, reason="unreachable: refused", now=NOW)
    record_server_health(engine, 2, healthy=True, reason=None, now=NOW)
    record_status(engine, feed_id=by_code["A"].id, first=date(2026, 10, 17),
                  last=date(2026, 10, 19), status="paused", reason="s1 down", run_id=None,
                  now=NOW)  # fmt: skip
    record_status(engine, feed_id=by_code["B"].id, first=date(2026, 10, 19),
                  last=date(2026, 10, 19), status="failed",
                  reason="customer_not_found: no customer B", run_id=None, now=NOW,
                  kind="customer_not_found")  # fmt: skip
    record_status(engine, feed_id=by_code["C"].id, first=date(2026, 10, 19),
                  last=date(2026, 10, 19), status="failed", reason="timeout: slow", run_id=None,
                  now=NOW, kind="timeout")  # fmt: skip
    with engine.begin() as conn:
        conn.execute(feeds.update().values(synced_through=date(2026, 10, 19)))
        conn.execute(feed_health.insert().values(
            feed_id=by_code["D"].id, healthy=False, since_day=date(2026, 10, 15),
            last_data=date(2026, 10, 9), reason="no new data since 2026-10-09 (4 business days)",
            evaluated_day=date(2026, 10, 19), recollect_from=None, recollect_to=None,
        ))  # fmt: skip
        conn.execute(feed_health.insert().values(
            feed_id=by_code["E"].id, healthy=True, since_day=date(2026, 10, 1), last_data=None,
            reason=None, evaluated_day=date(2026, 10, 19), recollect_from=None,
            recollect_to=None,
        ))  # fmt: skip

    a = _state(engine, "A")
    assert a["state"] == "paused" and "s1 is unhealthy: unreachable" in a["why"]
    assert a["next"] == "re-collect 2026-10-17..2026-10-19 once s1 answers its health check"
    b = _state(engine, "B")
    assert b["state"] == "failing" and "customer_not_found" in b["why"]
    assert b["next"].startswith("not retried: fix the cause above, then run `releaf backfill")
    c = _state(engine, "C")
    assert c["next"] == "retried by the catch-up sensor on its next tick"
    d = _state(engine, "D")
    assert d["state"] == "stale" and d["since"] == date(2026, 10, 15)
    assert d["next"] == "re-collected from 2026-10-10 once its devices report again"
    assert _state(engine, "E")["state"] == "collecting"

    fleet = assess_fleet(engine, TODAY, check_seconds=300)
    assert [s.state for s in fleet.servers] == ["unhealthy", "healthy"]
    assert [f.feed.customer_code for f in fleet.troubled_feeds] == ["A", "B", "C", "D"]
