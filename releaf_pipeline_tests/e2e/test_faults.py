"""Every fault the simulator can put on the wire, through one Dagster collection of one day.

Each test checks three things: what the affected feed-day records (status and reason), that
the other feeds' deposits are exactly the ground truth, and that once the fault is gone a
later run of the same partition collects the feed-day and deposits the ground truth.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from releaf_pipeline.defs.collection.assets import daily_deposits, meter_readings
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO, step_outputs_io_manager
from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
)
from releaf_pipeline.lib.store.collection import INVALID_COUNTER, feed_day_statuses
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    add_server,
    list_feeds,
    update_server_connection,
)
from releaf_pipeline.lib.store.tables import anomalies, deposits
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.ground_truth import expected_feed_deposits

pytestmark = pytest.mark.e2e

DAY = date(2026, 10, 5)
TODAY = date(2026, 10, 12)
ACTIVATION = date(2026, 9, 1)
NOW = "2026-10-12T03:00:00+00:00"
REGISTERED_AT = datetime(2026, 9, 1, tzinfo=UTC)
ATTEMPTS = 3
# Short enough that a 2 s delay trips it, long enough for a loopback answer under load.
SHORT_TIMEOUT = 1.5
UNKNOWN_CODE = "DEADBEEFDEADBEEF"


# ---- setup and helpers ---------------------------------------------------------------------


@pytest.fixture
def store(home) -> StoreResource:
    return StoreResource(home=str(home))


def _register(store: StoreResource, sim: Simulator, name: str, ca_pem: str, codes, prefix: str):
    engine = store.engine()
    add_server(
        engine, store.cipher(), name=name, url=sim.url, token=sim.token,
        ca_bundle_pem=ca_pem, dealer_code="D-1042", now=REGISTERED_AT,
    )  # fmt: skip
    specs = [FeedSpec(name, c, f"{prefix}-{i}", ACTIVATION, "all") for i, c in enumerate(codes)]
    add_feeds(engine, specs, now=REGISTERED_AT)


@pytest.fixture
def feeds(store, sim) -> dict[int, str]:
    """The simulator's four customers as four feeds on four accounts: feed id -> code."""
    sim.set_today(TODAY)
    _register(store, sim, "east", sim.ca_bundle.read_text(), sim.fleet.customer_codes, "acct")
    out = {f.id: f.customer_code for f in list_feeds(store.engine())}
    assert len(out) == 4
    return out


def _feed_id(feeds: dict[int, str], code: str) -> int:
    (fid,) = [fid for fid, c in feeds.items() if c == code]
    return fid


def _materialize(store: StoreResource, day: date = DAY, *, timeout: float = 10.0):
    result = dg.materialize(
        [meter_readings, daily_deposits],
        partition_key=day.isoformat(),
        resources={
            "store": store,
            "mpsmonitor": MPSMonitorResource(
                backoff_base_seconds=0.01, max_attempts=ATTEMPTS, timeout_seconds=timeout
            ),
            "clock": ClockResource(frozen_at=NOW),
            "rules": RulesResource(),
            STEP_OUTPUTS_IO: step_outputs_io_manager,
        },
    )
    assert result.success
    return result


def _retries(result) -> int:
    """The retries the collection counted, from the run's tags (as its log says)."""
    return int(result.dagster_run.tags["releaf/run.retries"])


def _statuses(store: StoreResource, day: date = DAY) -> dict[int, tuple[str, str | None]]:
    return {r.feed_id: (r.status, r.reason) for r in feed_day_statuses(store.engine(), day, day)}


def _deposits(store: StoreResource, day: date = DAY) -> dict[int, int]:
    with store.engine().connect() as conn:
        rows = conn.execute(
            sa.select(deposits.c.feed_id, deposits.c.pages).where(deposits.c.day == day)
        ).all()
    return {fid: int(pages) for fid, pages in rows}


def _truth(fleet: Fleet, code: str, day: date = DAY, *, without: date | None = None) -> int:
    """The ground-truth deposit of `code`'s feed on `day`; `without` drops that date's
    readings, as if the server had never sent them."""
    readings = fleet.readings(code, as_of=TODAY)
    if without is not None:
        readings = {
            dev: {d: c for d, c in counts.items() if d != without}
            for dev, counts in readings.items()
        }
    return expected_feed_deposits(readings, fleet.managed(code), ACTIVATION, "all", day)[day]


def _assert_exact(store, fleet, feeds: dict[int, str], ids, day: date = DAY) -> None:
    got = _deposits(store, day)
    want = {fid: _truth(fleet, feeds[fid], day) for fid in ids}
    # A zero would let "no deposit" and "deposit" look alike; the chosen days have pages.
    assert all(pages > 0 for pages in want.values()), want
    assert {fid: got.get(fid) for fid in ids} == want


def _assert_clean(store, fleet, feeds: dict[int, str], day: date = DAY) -> None:
    assert _statuses(store, day) == {fid: ("collected", None) for fid in feeds}
    _assert_exact(store, fleet, feeds, feeds, day)


def _count(sim: Simulator, path: str) -> int:
    return sum(1 for _, p in sim.request_log if p == path)


# ---- retried faults: 5xx, resets, time-outs --------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "params", "times", "timeout", "reason"),
    [
        pytest.param("status", {"status": 503}, ATTEMPTS - 1, 10.0, None, id="5xx-absorbed"),
        pytest.param("status", {"status": 500}, ATTEMPTS, 10.0, "server_error", id="5xx-exhausted"),
        pytest.param("reset", {}, 1, 10.0, None, id="reset-absorbed"),
        pytest.param("reset", {}, ATTEMPTS, 10.0, "unreachable", id="reset-exhausted"),
        pytest.param("delay", {"seconds": 4}, 1, SHORT_TIMEOUT, None, id="timeout-absorbed"),
        pytest.param(
            "delay", {"seconds": 4}, ATTEMPTS, SHORT_TIMEOUT, "timeout", id="timeout-exhausted"
        ),
    ],
)
def test_retried_fault(store, sim, fleet, feeds, fault, params, times, timeout, reason):
    code = fleet.customer_codes[1]
    hit = _feed_id(feeds, code)
    sim.inject(fault, path=COUNTER_LIST_PATH, customer=code, times=times, **params)

    result = _materialize(store, timeout=timeout)

    assert sim.pending_faults == 0
    # One Counter/List per feed, plus the retries of the hit one, bounded by max_attempts.
    assert _count(sim, COUNTER_LIST_PATH) == 3 + min(times + 1, ATTEMPTS)
    assert _retries(result) == min(times, ATTEMPTS - 1)
    statuses = _statuses(store)
    others = [fid for fid in feeds if fid != hit]
    assert all(statuses[fid] == ("collected", None) for fid in others)
    _assert_exact(store, fleet, feeds, others)
    if reason is None:
        assert statuses[hit] == ("collected", None)
        _assert_exact(store, fleet, feeds, [hit])
    else:
        status, why = statuses[hit]
        assert status == "failed" and why.startswith(f"{reason}:"), why
        assert COUNTER_LIST_PATH in why
        assert hit not in _deposits(store), "a failed feed-day must not be deposited as zero"

    _materialize(store, timeout=timeout)
    _assert_clean(store, fleet, feeds)


def test_throttling_honours_retry_after(store, sim, fleet, feeds, monkeypatch):
    code = fleet.customer_codes[2]
    # The request log has no times or bodies; stamp each answer to time the retry.
    stamps: list[tuple[float, str, bytes]] = []
    answer = sim._answer

    def stamped(method, path, token, raw):
        stamps.append((time.monotonic(), path, raw))
        return answer(method, path, token, raw)

    monkeypatch.setattr(sim, "_answer", stamped)
    sim.inject("throttle", path=COUNTER_LIST_PATH, customer=code, times=1, retry_after=1)

    result = _materialize(store)

    assert _retries(result) == 1
    assert _count(sim, COUNTER_LIST_PATH) == 5
    hits = [t for t, path, raw in stamps if path == COUNTER_LIST_PATH and code.encode() in raw]
    assert len(hits) == 2
    # Without Retry-After the back-off here would be at most 10 ms.
    assert hits[1] - hits[0] >= 0.95
    _assert_clean(store, fleet, feeds)


# ---- bad responses: never retried, fail only the feed they belong to ------------------------


@pytest.mark.parametrize(
    ("fault", "path", "params", "needle"),
    [
        pytest.param("malformed", COUNTER_LIST_PATH, {}, "not valid JSON", id="malformed-json"),
        pytest.param(
            "malformed", CUSTOMER_PATH, {}, "not valid JSON", id="malformed-json-customer"
        ),
        pytest.param(
            "missing_field", COUNTER_LIST_PATH, {"field": "Counters"}, "'Counters'",
            id="missing-Counters",
        ),
        pytest.param(
            "missing_field", DEVICE_LIST_PATH, {"field": "IsManaged"}, "'IsManaged'",
            id="missing-IsManaged",
        ),
        pytest.param(
            "wrong_type", COUNTER_LIST_PATH, {"field": "Mono", "value": "not-a-number"}, "'Mono'",
            id="wrong-type-Mono",
        ),
    ],
)  # fmt: skip
def test_bad_response(store, sim, fleet, feeds, fault, path, params, needle):
    code = fleet.customer_codes[0]
    hit = _feed_id(feeds, code)
    # A server's feeds share one Device/List: a bad answer there sends every feed to ask
    # for its own devices, and the hit feed's own bad answer then fails it alone.
    shared = path == DEVICE_LIST_PATH
    sim.inject(fault, path=path, customer=code, times=2 if shared else 1, **params)

    _materialize(store)

    assert sim.pending_faults == 0
    assert _count(sim, path) == (5 if shared else 4), "a bad response is not worth retrying"
    statuses = _statuses(store)
    status, why = statuses[hit]
    assert status == "failed" and why.startswith("invalid_response:"), why
    assert needle in why
    others = [fid for fid in feeds if fid != hit]
    assert all(statuses[fid] == ("collected", None) for fid in others)
    _assert_exact(store, fleet, feeds, others)
    assert hit not in _deposits(store)

    _materialize(store)
    _assert_clean(store, fleet, feeds)


# ---- impossible readings: set aside, never deposited blindly --------------------------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        pytest.param(-5, "negative counter", id="negative"),
        pytest.param(10**12, "absurd counter", id="absurd"),
    ],
)
def test_impossible_counter_is_set_aside(store, sim, fleet, feeds, value, needle):
    code = fleet.customer_codes[3]
    hit = _feed_id(feeds, code)
    on_day = {dev for dev, counts in fleet.readings(code, as_of=TODAY).items() if DAY in counts}
    assert on_day
    sim.inject(
        "counter_value", path=COUNTER_LIST_PATH, customer=code, value=value, date=DAY.isoformat()
    )

    _materialize(store)

    assert sim.pending_faults == 0
    status, why = _statuses(store)[hit]
    assert status == "collected" and "impossible reading" in why and needle in why, why
    with store.engine().connect() as conn:
        flagged = conn.execute(
            sa.select(anomalies.c.device_id, anomalies.c.detail).where(
                anomalies.c.feed_id == hit,
                anomalies.c.day == DAY,
                anomalies.c.kind == INVALID_COUNTER,
            )
        ).all()
    assert {device for device, _ in flagged} == on_day
    assert all(detail and needle in detail for _, detail in flagged)
    others = [fid for fid in feeds if fid != hit]
    _assert_exact(store, fleet, feeds, others)
    # The day's pages are held back, as if the readings were absent...
    held = _truth(fleet, code, without=DAY)
    assert held != _truth(fleet, code)
    assert _deposits(store)[hit] == held

    # ...and the next night, which reads the days before its own again, finds the good
    # reading and puts every page back on its own date.
    nxt = DAY + timedelta(days=1)
    _materialize(store, nxt)
    assert _truth(fleet, code, nxt, without=DAY) != _truth(fleet, code, nxt)
    _assert_clean(store, fleet, feeds)
    _assert_clean(store, fleet, feeds, nxt)

    # A clean run of the day changes nothing more.
    _materialize(store)
    _assert_clean(store, fleet, feeds)
    _assert_clean(store, fleet, feeds, nxt)


# ---- duplicates and unknown customers -------------------------------------------------------


@pytest.mark.parametrize("path", [DEVICE_LIST_PATH, COUNTER_LIST_PATH])
def test_identical_duplicate_devices_are_tolerated(store, sim, fleet, feeds, path):
    code = fleet.customer_codes[1]
    sim.inject("duplicate_device", path=path, customer=code)

    _materialize(store)

    assert sim.pending_faults == 0
    _assert_clean(store, fleet, feeds)


def test_unknown_customer_fails_alone(store, sim, fleet, feeds):
    add_feeds(
        store.engine(),
        [FeedSpec("east", UNKNOWN_CODE, "acct-x", ACTIVATION, "all")],
        now=REGISTERED_AT,
    )
    unknown = max(f.id for f in list_feeds(store.engine()))

    _materialize(store)

    statuses = _statuses(store)
    status, why = statuses.pop(unknown)
    assert status == "failed" and why.startswith("customer_not_found:") and UNKNOWN_CODE in why
    assert _count(sim, CUSTOMER_PATH) == 5, "an unknown customer is not worth retrying"
    # The server's shared Device/List names the unknown code and is refused; each known
    # feed then lists its own devices.
    assert _count(sim, DEVICE_LIST_PATH) == 1 + 4
    assert statuses == {fid: ("collected", None) for fid in feeds}
    _assert_exact(store, fleet, feeds, feeds)
    assert unknown not in _deposits(store)


# ---- server-wide faults: the health check pauses every feed of the server ------------------


def test_untrusted_certificate_pauses_that_servers_feeds(store, sim, fleet, feeds, tmp_path):
    # A second dealer's server, whose certificate its own CA signed, registered with the
    # first server's CA: not trusted. Only its feeds pause.
    west_fleet = Fleet(FleetConfig(dealer_code="D-2001"))
    with Simulator(west_fleet, today=TODAY, workdir=tmp_path / "west") as west_sim:
        engine = store.engine()
        add_server(
            engine, store.cipher(), name="west", url=west_sim.url, token=west_sim.token,
            ca_bundle_pem=sim.ca_bundle.read_text(), dealer_code="D-2001", now=REGISTERED_AT,
        )  # fmt: skip
        codes = west_fleet.customer_codes[:2]
        add_feeds(engine, [FeedSpec("west", c, f"west-{i}", ACTIVATION, "all")
                           for i, c in enumerate(codes)], now=REGISTERED_AT)  # fmt: skip
        west = {f.id: f.customer_code for f in list_feeds(engine) if f.server_name == "west"}
        assert len(west) == 2

        _materialize(store)

        statuses = _statuses(store)
        for fid in west:
            status, why = statuses[fid]
            assert status == "paused" and "server west failed its health check (tls)" in why, why
        assert {fid: statuses[fid] for fid in feeds} == {fid: ("collected", None) for fid in feeds}
        _assert_exact(store, fleet, feeds, feeds)
        assert not set(west) & set(_deposits(store))
        assert west_sim.request_log == [], "nothing is sent to a server that is not trusted"

        update_server_connection(
            engine, store.cipher(), name="west", url=west_sim.url, token=west_sim.token,
            ca_bundle_pem=west_sim.ca_bundle.read_text(), dealer_code="D-2001",
            now=REGISTERED_AT,
        )  # fmt: skip
        _materialize(store)
        assert _statuses(store) == {fid: ("collected", None) for fid in feeds | west}
        _assert_exact(store, fleet, feeds, feeds)
        _assert_exact(store, west_fleet, west, west)


def test_revoked_token_pauses_every_feed(store, sim, fleet, feeds):
    sim.revoke_token()

    _materialize(store)

    assert sim.request_log == [("GET", PING_PATH)], "a 401 is not retried and stops the server"
    statuses = _statuses(store)
    assert set(statuses) == set(feeds)
    for status, why in statuses.values():
        assert status == "paused" and "health check (unauthorized)" in why, why
    assert _deposits(store) == {}

    sim.restore_token()
    _materialize(store)
    _assert_clean(store, fleet, feeds)
