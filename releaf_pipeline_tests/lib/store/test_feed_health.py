from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.lib.mpsmonitor.models import Device, DeviceReadings
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.collection import save_collection
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.health import (
    clear_recollect,
    evaluate_feed_health,
    feed_health_states,
    health_history,
)
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds

NOW = datetime(2026, 10, 1, tzinfo=UTC)
A = date(2026, 9, 1)  # a Tuesday


@pytest.fixture
def setup(store_url):
    """A store on each backend with one server and one managed-scope feed from A."""
    engine = make_engine(store_url)
    add_server(engine, TokenCipher(Fernet.generate_key()), name="s", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(engine, [FeedSpec("s", "C", "a", A, "managed")], now=NOW)
    yield engine
    engine.dispose()


def _store(engine, counts_by_device, managed, last):
    feed = list_feeds(engine)[0]
    save_collection(
        engine, feed=feed,
        device_rows=[Device(d, "C", managed[d], 0) for d in counts_by_device],
        reading_rows=[DeviceReadings(d, c) for d, c in counts_by_device.items()],
        fetched_from=A - timedelta(days=31), fetched_to=last, run_id=None, now=NOW,
    )  # fmt: skip
    return list_feeds(engine)[0]


def days(first, last):
    return {first + timedelta(days=i): 100 + i for i in range((last - first).days + 1)}


def test_unhealthy_after_three_business_days_and_recollect_on_recovery(setup):
    engine = setup
    # The managed device stops after Fri Sep 11; the unmanaged one keeps reporting but
    # is out of scope, so it does not keep the feed fresh.
    feed = _store(
        engine, {"m": days(A, date(2026, 9, 11)), "u": days(A, date(2026, 9, 20))},
        {"m": True, "u": False}, date(2026, 9, 20),
    )  # fmt: skip
    changes = evaluate_feed_health(engine, feed, A, date(2026, 9, 20), holidays=(), now=NOW)
    # Mon 14, Tue 15, Wed 16: the third business day without data.
    assert changes == [(date(2026, 9, 16), False)]
    state = feed_health_states(engine)[feed.id]
    assert not state.healthy and state.last_data == date(2026, 9, 11)
    assert "no new data since 2026-09-11" in state.reason

    feed = _store(engine, {"m": days(A, date(2026, 9, 22))}, {"m": True}, date(2026, 9, 22))
    changes = evaluate_feed_health(
        engine, feed, date(2026, 9, 21), date(2026, 9, 22), holidays=(), now=NOW
    )
    assert changes == [(date(2026, 9, 21), True)]
    state = feed_health_states(engine)[feed.id]
    assert (state.recollect_from, state.recollect_to) == (date(2026, 9, 12), date(2026, 9, 22))
    # Re-collecting an older day does not evaluate it again.
    assert evaluate_feed_health(engine, feed, A, date(2026, 9, 22), holidays=(), now=NOW) == []
    clear_recollect(engine, feed.id, date(2026, 9, 12), date(2026, 9, 22))
    assert feed_health_states(engine)[feed.id].recollect_from is None
    assert [(e.healthy, e.day) for e in health_history(engine, "feed")] == [
        (False, date(2026, 9, 16)), (True, date(2026, 9, 21))
    ]  # fmt: skip


def test_holidays_extend_the_grace(setup):
    engine = setup
    feed = _store(engine, {"m": days(A, date(2026, 9, 11))}, {"m": True}, date(2026, 9, 16))
    changes = evaluate_feed_health(
        engine, feed, A, date(2026, 9, 16), holidays={date(2026, 9, 14)}, now=NOW
    )
    assert changes == []


@pytest.mark.parametrize("seed", range(20))
def test_unhealthy_feeds_between_is_each_days_latest_recorded_change(store_url, seed):
    """Changes recorded in any order of their days (a re-evaluation records an earlier
    day after a later one): on each day, a feed's state is the change recorded last among
    those dated on or before it, as replaying them one by one gives."""
    import random

    import sqlalchemy as sa

    from releaf_pipeline.lib.store.health import unhealthy_feeds_between
    from releaf_pipeline.lib.store.tables import health_events

    rnd = random.Random(seed)
    events = [
        {"subject": rnd.choice(["feed", "feed", "server"]), "subject_id": rnd.randint(1, 4),
         "healthy": rnd.random() < 0.5, "at": NOW, "reason": f"r{i}",
         "day": None if rnd.random() < 0.1 else A + timedelta(days=rnd.randint(0, 30))}
        for i in range(rnd.randint(0, 40))
    ]  # fmt: skip
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.delete(health_events))
            for event in events:
                conn.execute(health_events.insert().values(**event))
        first = A + timedelta(days=rnd.randint(0, 15))
        last = first + timedelta(days=rnd.randint(0, 20))
        found = unhealthy_feeds_between(engine, first, last)
    finally:
        engine.dispose()
    day = first
    while day <= last:
        state = {}
        for ev in events:
            if ev["subject"] == "feed" and ev["day"] is not None and ev["day"] <= day:
                state[ev["subject_id"]] = (ev["healthy"], ev["day"], ev["reason"])
        expected = [(f, since, why) for f, (ok, since, why) in sorted(state.items()) if not ok]
        assert found[day] == expected, day
        day += timedelta(days=1)
    assert sorted(found) == [first + timedelta(days=i) for i in range((last - first).days + 1)]
