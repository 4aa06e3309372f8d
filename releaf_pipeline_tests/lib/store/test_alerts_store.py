"""The store of alerts: a change is recorded once, a delivery is held by one sender at a
time, a refused one waits and then is given up, and each channel's state reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from releaf_pipeline.lib.store.alerts import (
    GIVEN_UP,
    PENDING,
    SENT,
    channel_states,
    claim_pending,
    finish,
    last_alerts,
    recent_alerts,
    record_alert,
)
from releaf_pipeline.lib.store.alerts import NewAlert as Alert
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.migrate import upgrade

NOW = datetime(2026, 10, 3, 2, 0, tzinfo=UTC)


def alert(key: str, kind: str = "server_unhealthy", subject: str = "server:1") -> Alert:
    return Alert(key, kind, subject, f"title {key}", f"text {key}", {"kind": kind})


@pytest.fixture
def engine(store_url):
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_change_is_recorded_once_and_each_delivery_held_by_one_sender(engine):
    with engine.begin() as conn:
        assert record_alert(conn, alert("a"), ["email", "webhook"], NOW)
        assert not record_alert(conn, alert("a"), ["email", "webhook"], NOW)
        assert record_alert(conn, alert("b", "server_recovered"), ["email"], NOW)
        assert last_alerts(conn, "server:") == {
            "server:1": ("server_recovered", {"kind": "server_recovered"})
        }
    with engine.begin() as conn:
        first = claim_pending(conn, "email", NOW)
    # A second sender at the same moment finds nothing to take.
    with engine.begin() as conn:
        assert claim_pending(conn, "email", NOW) == []
    assert [d.title for d in first] == ["title a", "title b"]
    with engine.begin() as conn:
        finish(conn, first[0], NOW, answer="250 OK")
        finish(conn, first[1], NOW, error="relay down", tries=3)
        (state,) = channel_states(conn, ["email"])
    assert state.failing and state.failing_since == NOW and state.last_error == "relay down"
    assert state.waiting == 1 and state.last_sent == NOW
    with engine.begin() as conn:
        (again,) = claim_pending(conn, "email", NOW + timedelta(minutes=1))
        finish(conn, again, NOW, answer="250 OK")
        (state,) = channel_states(conn, ["email"])
    assert not state.failing and state.waiting == 0
    with engine.connect() as conn:
        records = recent_alerts(conn)
    assert [r.title for r in records] == ["title b", "title a"]
    assert records[0].deliveries == {"email": (SENT, 4, "250 OK")}
    assert records[1].deliveries["webhook"] == (PENDING, 0, None)


def test_a_sender_that_died_holding_a_delivery_lets_go_and_old_ones_are_given_up(engine):
    with engine.begin() as conn:
        record_alert(conn, alert("a"), ["webhook"], NOW)
        (held,) = claim_pending(conn, "webhook", NOW)
    # Ten minutes on, the holder is taken for dead: the delivery is taken again.
    with engine.begin() as conn:
        assert claim_pending(conn, "webhook", NOW + timedelta(minutes=5)) == []
        (taken,) = claim_pending(conn, "webhook", NOW + timedelta(minutes=11))
        finish(conn, taken, NOW, error="HTTP 500", tries=3)
    # A day after it was recorded, a refused message is given up.
    with engine.begin() as conn:
        assert claim_pending(conn, "webhook", NOW + timedelta(days=1, minutes=1)) == []
        (state,) = channel_states(conn, ["webhook"])
        (record,) = recent_alerts(conn)
    assert state.given_up == 1 and state.waiting == 0 and not state.failing
    assert record.deliveries["webhook"][0] == GIVEN_UP and held.alert_id == taken.alert_id
