"""Rule 1's scope history: recorded by the first collection covering a day, used per day."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline.lib.accounting.compute import compute_deposits
from releaf_pipeline.lib.mpsmonitor.models import Device, DeviceReadings
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.collection import save_collection
from releaf_pipeline.lib.store.deposits import update_deposits
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.scope import ScopeRun, cover
from releaf_pipeline.lib.store.tables import deposits

A = date(2026, 10, 1)
NOW = datetime(2026, 10, 1, tzinfo=UTC)


def d(n: int) -> date:
    return A + timedelta(days=n)


# --- cover: what a collection records ----------------------------------------------------


def test_a_first_collection_records_its_flag_on_every_day():
    assert cover([], d(0), d(4), True) == [ScopeRun(d(0), d(4), True)]


def test_the_next_night_extends_the_run():
    assert cover([ScopeRun(d(0), d(4), True)], d(3), d(5), True) == [ScopeRun(d(0), d(5), True)]


def test_a_changed_flag_applies_only_to_days_not_recorded_yet():
    runs = cover([ScopeRun(d(0), d(4), True)], d(2), d(6), False)
    assert runs == [ScopeRun(d(0), d(4), True), ScopeRun(d(5), d(6), False)]


def test_recorded_days_never_change_and_gaps_are_filled():
    runs = [ScopeRun(d(0), d(2), True), ScopeRun(d(6), d(8), False)]
    assert cover(runs, d(-2), d(10), False) == [
        ScopeRun(d(-2), d(-1), False),
        ScopeRun(d(0), d(2), True),
        ScopeRun(d(3), d(10), False),
    ]
    assert cover(runs, d(1), d(7), True) == [
        ScopeRun(d(0), d(5), True),
        ScopeRun(d(6), d(8), False),
    ]


# --- the store: a flag change never changes an earlier day -------------------------------


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="s", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=NOW)  # fmt: skip
    add_feeds(engine, [FeedSpec("s", "C", "acct", A, "managed")], now=NOW)
    yield engine
    engine.dispose()


def _night(engine, first: date, last: date, listed: dict[str, bool], counts: dict[str, dict]):
    save_collection(
        engine, feed=list_feeds(engine)[0],
        device_rows=[Device(name, "C", flag, 0) for name, flag in listed.items()],
        reading_rows=[DeviceReadings(name, c) for name, c in counts.items()],
        fetched_from=first, fetched_to=last, run_id=None, now=NOW,
    )  # fmt: skip
    update_deposits(engine, now=NOW)


def _deposits(engine) -> dict[date, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(deposits.c.day, deposits.c.pages)).all())


def _counts(first: int, last: int, per_day: int = 10, start: int = 1000) -> dict[date, int]:
    return {d(n): start + (n - first + 1) * per_day for n in range(first, last + 1)}


def test_a_device_leaving_management_keeps_its_earlier_days(engine):
    x = _counts(-1, 9)
    _night(engine, d(-31), d(4), {"x": True}, {"x": x})
    assert _deposits(engine) == {d(n): 10 for n in range(5)}

    # IsManaged turns false; the nights re-read the days before and collect new ones.
    for night in range(5, 10):
        _night(engine, d(night - 2), d(night), {"x": False}, {"x": x})
    assert _deposits(engine) == {d(n): (10 if n < 5 else 0) for n in range(10)}

    # Collecting everything again, flag still false, changes no day already collected.
    _night(engine, d(-31), d(9), {"x": False}, {"x": x})
    assert _deposits(engine) == {d(n): (10 if n < 5 else 0) for n in range(10)}


def test_a_device_first_listed_later_gets_its_flag_on_days_not_covered_for_it(engine):
    # The device's readings arrive while Device/List does not list it yet: out of scope.
    x = _counts(-1, 5)
    _night(engine, d(-31), d(5), {}, {"x": x})
    assert sum(_deposits(engine).values()) == 0
    # Once listed as managed, the first collection that covers those days for it sees
    # IsManaged true: its pages count, from the baseline on.
    _night(engine, d(-31), d(5), {"x": True}, {"x": x})
    assert _deposits(engine) == {d(n): 10 for n in range(6)}


# --- compute_deposits against a day-by-day reference --------------------------------------


def _reference(readings, activation, through, in_scope) -> dict[date, int]:
    out = {activation + timedelta(days=i): 0 for i in range((through - activation).days + 1)}
    for device, counts in readings.items():
        pre = [x for x in counts if activation - timedelta(days=31) <= x < activation]
        post = sorted(x for x in counts if activation <= x <= through)
        if pre:
            prev = counts[max(pre)]
        elif post:
            prev, post = counts[post[0]], post[1:]
        else:
            continue
        for day in post:
            pages = counts[day] - prev
            if in_scope(device, day):
                out[day] += counts[day] if pages < 0 else pages
            prev = counts[day]
    return out


@pytest.mark.parametrize("seed", range(30))
def test_per_day_scope_matches_the_reference(seed):
    rng = random.Random(seed)
    through = A + timedelta(days=20)
    readings, runs = {}, []
    for n in range(rng.randint(1, 4)):
        name, count, counts = f"x{n}", rng.randint(0, 9000), {}
        for offset in range(-35, 21):
            count += rng.randint(0, 200)
            if rng.random() < 0.05:
                count = rng.randint(0, 30)
            if rng.random() < 0.8:
                counts[A + timedelta(days=offset)] = count
        readings[name] = counts
        day = A + timedelta(days=rng.randint(-3, 3))
        while day <= through:
            length = rng.randint(1, 9)
            if rng.random() < 0.85:  # some days are covered by no run at all
                runs.append((1, name, day, day + timedelta(days=length - 1), rng.random() < 0.5))
            day += timedelta(days=length)

    def in_scope(device, day):
        return any(r[1] == device and r[2] <= day <= r[3] and r[4] for r in runs)

    frame = pd.DataFrame(
        [(1, x, day, c) for x, counts in readings.items() for day, c in counts.items()],
        columns=["feed_id", "device_id", "day", "life_count"],
    ).astype({"feed_id": np.int64, "life_count": np.int64})
    history = pd.DataFrame(
        runs, columns=["feed_id", "device_id", "first_day", "last_day", "managed"]
    )
    result = compute_deposits(
        frame,
        pd.DataFrame([(1, A, "managed")], columns=["feed_id", "activation_date", "scope"]),
        pd.DataFrame({"feed_id": [1], "device_id": ["x0"], "managed": [True]}),
        through,
        scope_history=history,
    )
    got = dict(zip(result.deposits["day"].dt.date, result.deposits["pages"], strict=True))
    assert got == _reference(readings, A, through, in_scope)
    # Every counted reset is reported, in scope that day or not.
    flagged = set(zip(result.anomalies["device_id"], result.anomalies["day"].dt.date, strict=True))
    resets = result.resets
    assert flagged == {
        (x, day.date())
        for x, day, s in zip(resets["device_id"], resets["day"], resets["in_scope"], strict=True)
        if s
    }
    assert all(
        in_scope(x, day.date()) == s
        for x, day, s in zip(resets["device_id"], resets["day"], resets["in_scope"], strict=True)
    )
