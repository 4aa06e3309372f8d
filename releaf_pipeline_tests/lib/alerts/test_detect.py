"""What there is to tell, from the store's health state: each change once (by its key),
recoveries only after a reported trouble, feed-days a person must collect, and no secret
in what is recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.lib.alerts.detect import health_changes, person_needed
from releaf_pipeline.lib.alerts.messages import (
    SERVER_RECOVERED,
    SERVER_UNHEALTHY,
    Links,
    scrub,
)
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.alerts import record_alert
from releaf_pipeline.lib.store.collection import record_status
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.health import record_server_health
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_servers

NOW = datetime(2026, 10, 3, 2, tzinfo=UTC)
TODAY = NOW.date()
LINKS = Links("https://dagster.example.com")


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="east", url="https://x",
               token="t0k3n-secret", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(engine, [FeedSpec("east", "C1", "acct-a", date(2026, 9, 1), "all")], now=NOW)
    yield engine
    engine.dispose()


def changes(engine) -> list:
    return health_changes(engine, TODAY, lookback_days=35, links=LINKS)


def test_a_server_is_said_unhealthy_once_and_recovered_only_after(engine):
    (server,) = list_servers(engine)
    record_server_health(engine, server.id, healthy=True, reason=None, now=NOW)
    assert changes(engine) == []  # healthy, never reported: nothing to say
    record_server_health(engine, server.id, healthy=False, reason="time-out", now=NOW)
    (down,) = changes(engine)
    assert down.kind == SERVER_UNHEALTHY and "time-out" in down.text
    assert down.event["feeds"] == ["east/C1"] and down.event["link"].endswith("fleet_health")
    with engine.begin() as conn:
        assert record_alert(conn, down, ["email"], NOW)
    # Seen again on the next tick: the same key, not recorded twice.
    (again,) = changes(engine)
    with engine.begin() as conn:
        assert not record_alert(conn, again, ["email"], NOW)
    record_server_health(engine, server.id, healthy=True, reason=None, now=NOW + timedelta(1))
    (back,) = changes(engine)
    assert back.kind == SERVER_RECOVERED and back.key != down.key
    with engine.begin() as conn:
        record_alert(conn, back, ["email"], NOW)
    # Recovered and said: nothing more until the next change.
    assert changes(engine) == []


def test_feed_days_a_person_must_collect(engine):
    (server,) = list_servers(engine)
    record_server_health(engine, server.id, healthy=True, reason=None, now=NOW)
    old = TODAY - timedelta(days=40)
    record_status(engine, feed_id=1, first=old, last=old + timedelta(days=2), status="paused",
                  reason="server east unhealthy", run_id=None, now=NOW)  # fmt: skip
    record_status(engine, feed_id=1, first=TODAY - timedelta(days=2), last=TODAY - timedelta(1),
                  status="failed", reason="customer_not_found: no such customer C1",
                  run_id=None, now=NOW, kind="customer_not_found")  # fmt: skip
    record_status(engine, feed_id=1, first=TODAY, last=TODAY, status="failed",
                  reason="timeout: read timed out", run_id=None, now=NOW,
                  kind="timeout")  # fmt: skip
    found = person_needed(engine, TODAY, lookback_days=35, links=LINKS)
    assert [(a.event["days"][0], a.event["days"][-1]) for a in found] == [
        ((TODAY - timedelta(days=2)).isoformat(), (TODAY - timedelta(1)).isoformat()),
        (old.isoformat(), (old + timedelta(days=2)).isoformat()),
    ]
    permanent, past = found
    assert "customer_not_found" in permanent.text and "releaf backfill" in permanent.event["next"]
    assert "past the 35-day catch-up look-back" in past.text
    # A timeout is retried by the catch-up: nothing for a person.
    assert all(TODAY.isoformat() not in a.event["days"] for a in found)


def test_secrets_are_taken_out():
    said = scrub("401 for token t0k3n-secret", ["t0k3n-secret", "", "ab"])
    assert said == "401 for token [redacted]"
