"""The simulator's clock decides what is served: time of day, publication delays, DCA
outages and IsManaged changes, over real HTTPS."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH, DEVICE_LIST_PATH, PING_PATH
from releaf_pipeline.simulator.config import (
    CustomerOutage,
    DeviceOutage,
    FleetConfig,
    ManagedChange,
    ManagedFlip,
)
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.simulator.helpers import (
    TODAY,
    TOKEN,
    counters_body,
    devices_body,
    listed_rows,
    served_dates,
    tls,
)

# ---- the clock -------------------------------------------------------------------------------


def test_clock_advance_and_todays_reading(sim: Simulator, client: httpx.Client, code: str) -> None:
    def dates() -> set[str]:
        env = client.post(COUNTER_LIST_PATH, json=counters_body(code, "2026-11-20", "2026-11-30"))
        return {c["Date"] for row in env.json()["Result"] for c in row["Counters"]}

    assert max(dates()) == "2026-11-26"
    sim.advance()
    assert sim.today == TODAY + timedelta(days=1)
    assert max(dates()) == "2026-11-27"
    ping = client.get(PING_PATH).json()["Result"]
    assert ping["ServerTimeUtc"] == "2026-11-28T05:00:00Z"
    sim.advance(2)
    assert max(dates()) == "2026-11-29"


def test_late_upload_appears_on_upload_date(sim: Simulator, client: httpx.Client) -> None:
    span = next(s for s in sim.fleet.stale_spans if s.start.month != s.end.month)
    body = counters_body(span.customer_code, span.start.isoformat(), span.end.isoformat())
    sim.set_today(span.upload_date - timedelta(days=1))
    assert client.post(COUNTER_LIST_PATH, json=body).json()["Result"] == []
    devices = client.post(DEVICE_LIST_PATH, json=devices_body(span.customer_code)).json()
    assert all(
        d["LastUpdate"].startswith(str(span.start - timedelta(days=1))) for d in devices["Result"]
    )
    assert all(d["IsOffline"] for d in devices["Result"])
    sim.set_today(span.upload_date)
    rows = client.post(COUNTER_LIST_PATH, json=body).json()["Result"]
    assert span.device_id in {r["DeviceId"] for r in rows}
    assert all(len(r["Counters"]) == (span.end - span.start).days + 1 for r in rows)


def test_reset_is_served(sim: Simulator, client: httpx.Client) -> None:
    reset = sim.fleet.resets[0]
    day_before = reset.date - timedelta(days=1)
    body = counters_body(reset.customer_code, day_before.isoformat(), reset.date.isoformat())
    rows = client.post(COUNTER_LIST_PATH, json=body).json()["Result"]
    (row,) = [r for r in rows if r["DeviceId"] == reset.device_id]
    before, on = (c["Mono"] + c["Color"] for c in row["Counters"])
    assert on < before


# ---- late data: the clock's time of day, delays, outages, IsManaged changes ------------------

LATE_FIRST, LATE_UPLOAD = date(2026, 10, 5), date(2026, 10, 12)
FLIP_AT = datetime(2026, 10, 8, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def late_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    # One server for every late-data case, each on its own customer: 1 publishes 7.5 hours
    # late, 2 has one device offline, 3 a whole DCA offline, 4 a device whose flag flips.
    base = FleetConfig(customers=6, scenarios=False)
    probe = Fleet(base)
    code = probe.customer_codes[4]
    flipped = not probe.managed(code)[probe.device_ids(code)[0]]
    config = dataclasses.replace(
        base,
        publication_delays=((1, 7.5),),
        device_outages=(DeviceOutage(2, 1, LATE_FIRST, LATE_UPLOAD),),
        customer_outages=(CustomerOutage(3, LATE_FIRST, LATE_UPLOAD),),
        managed_changes=(ManagedChange(4, 0, FLIP_AT, flipped),),
    )
    workdir = tmp_path_factory.mktemp("late-sim")
    with Simulator(Fleet(config), token=TOKEN, today=TODAY, workdir=workdir) as sim:
        yield sim


@pytest.fixture
def late_client(late_sim: Simulator) -> Iterator[httpx.Client]:
    late_sim.set_today(TODAY)
    with httpx.Client(
        base_url=late_sim.url,
        verify=tls(late_sim),
        headers={"X-Dealer-Token": TOKEN},
        timeout=5.0,
    ) as c:
        yield c


def test_clock_has_a_time_of_day(sim: Simulator, client: httpx.Client) -> None:
    def server_time() -> str:
        return client.get(PING_PATH).json()["Result"]["ServerTimeUtc"]

    assert sim.now == datetime(2026, 11, 27, 5, tzinfo=UTC)
    sim.set_now(datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC))
    assert (sim.today, server_time()) == (TODAY, "2026-11-27T02:15:30Z")
    sim.advance()
    assert (sim.today, server_time()) == (TODAY + timedelta(days=1), "2026-11-28T02:15:30Z")
    # Any aware datetime is taken, and kept in UTC.
    sim.set_now(datetime(2026, 11, 28, 1, 0, tzinfo=timezone(timedelta(hours=2))))
    assert sim.now.tzinfo is UTC
    assert (sim.today, server_time()) == (date(2026, 11, 27), "2026-11-27T23:00:00Z")
    sim.set_today(date(2026, 12, 3))
    assert server_time() == "2026-12-03T05:00:00Z"
    with pytest.raises(ValueError, match="aware"):
        sim.set_now(datetime(2026, 11, 27, 2))
    with pytest.raises(AttributeError):
        sim.today = TODAY  # type: ignore[misc]
    assert sim.now == datetime(2026, 12, 3, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        Simulator(Fleet(FleetConfig(customers=1)), now=datetime(2026, 11, 27, 2))
    early = Simulator(Fleet(FleetConfig(customers=1)), now=datetime(2026, 11, 27, 2, tzinfo=UTC))
    assert (early.now, early.today) == (datetime(2026, 11, 27, 2, tzinfo=UTC), TODAY)


def test_publication_delay_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    on_time, late = late_sim.fleet.customer_codes[:2]
    day = date(2026, 11, 10)
    start = day - timedelta(days=5)
    late_sim.set_now(datetime(2026, 11, 11, 2, tzinfo=UTC))
    assert all(
        max(dates) == day for dates in served_dates(late_client, on_time, start, day).values()
    )
    served = served_dates(late_client, late, start, day)
    assert served and all(max(dates) == day - timedelta(days=1) for dates in served.values())
    late_sim.set_now(datetime(2026, 11, 11, 8, tzinfo=UTC))
    served = served_dates(late_client, late, start, day)
    assert served and all(max(dates) == day for dates in served.values())


def test_local_time_publication_over_https(tmp_path: Path) -> None:
    fleet = Fleet(FleetConfig(customers=8, scenarios=False, publish_in_local_time=True))
    by_zone = {fleet.customer(c)["TimeZoneIana"]: c for c in fleet.customer_codes}
    west, east = by_zone["America/Los_Angeles"], by_zone["Europe/London"]
    day = date(2026, 11, 10)  # PST (UTC-8) and GMT (UTC+0)

    with (
        Simulator(fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as sim,
        httpx.Client(base_url=sim.url, verify=tls(sim), headers={"X-Dealer-Token": TOKEN}) as c,
    ):

        def has_day(code: str, when: datetime) -> bool:
            sim.set_now(when)
            served = served_dates(c, code, day - timedelta(days=3), day)
            assert served
            return all(day in dates for dates in served.values())

        assert not has_day(east, datetime(2026, 11, 11, 0, 29, tzinfo=UTC))
        assert has_day(east, datetime(2026, 11, 11, 0, 30, tzinfo=UTC))
        # The pipeline's 02:00 UTC night: London's day is there, Los Angeles' is not.
        assert has_day(east, datetime(2026, 11, 11, 2, tzinfo=UTC))
        assert not has_day(west, datetime(2026, 11, 11, 2, tzinfo=UTC))
        assert not has_day(west, datetime(2026, 11, 11, 8, 29, tzinfo=UTC))
        assert has_day(west, datetime(2026, 11, 11, 8, 30, tzinfo=UTC))
        # In summer time London's day is published before it has ended in UTC.
        sim.set_now(datetime(2026, 10, 5, 23, 30, tzinfo=UTC))
        served = served_dates(c, east, date(2026, 10, 1), date(2026, 10, 5))
        assert all(max(dates) == date(2026, 10, 5) for dates in served.values())


def test_one_device_offline_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    fleet = late_sim.fleet
    code = fleet.customer_codes[2]
    offline = fleet.device_ids(code)[1]
    (span,) = [s for s in fleet.stale_spans if s.customer_code == code]
    assert (span.device_id, span.start, span.upload_date) == (offline, LATE_FIRST, LATE_UPLOAD)

    late_sim.set_today(LATE_UPLOAD - timedelta(days=1))
    served = served_dates(late_client, code, LATE_FIRST, LATE_UPLOAD)
    assert offline not in served
    assert set(served) == set(fleet.device_ids(code)) - {offline}
    assert all(max(dates) == date(2026, 10, 10) for dates in served.values())
    listed = listed_rows(late_client, code)
    assert set(listed) == set(fleet.device_ids(code))
    assert listed[offline]["IsOffline"] is True
    assert listed[offline]["LastUpdate"].startswith("2026-10-04")
    assert not any(row["IsOffline"] for dev, row in listed.items() if dev != offline)

    late_sim.set_today(LATE_UPLOAD)
    served = served_dates(late_client, code, LATE_FIRST, LATE_UPLOAD)
    withheld = [LATE_FIRST + timedelta(days=k) for k in range(7)]
    assert served[offline] == withheld
    truth = fleet.readings(code, late_sim.now)
    assert served == {
        dev: sorted(d for d in days if d >= LATE_FIRST) for dev, days in truth.items()
    }
    assert listed_rows(late_client, code)[offline]["IsOffline"] is False


def test_customer_outage_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    fleet = late_sim.fleet
    code, other = fleet.customer_codes[3], fleet.customer_codes[0]
    spans = [s for s in fleet.stale_spans if s.customer_code == code]
    assert {s.device_id for s in spans} == set(fleet.device_ids(code))

    late_sim.set_today(LATE_UPLOAD - timedelta(days=1))
    assert served_dates(late_client, code, LATE_FIRST, LATE_UPLOAD) == {}
    assert served_dates(late_client, other, LATE_FIRST, LATE_UPLOAD)
    listed = listed_rows(late_client, code)
    assert set(listed) == set(fleet.device_ids(code))
    assert all(row["IsOffline"] for row in listed.values())

    late_sim.set_today(LATE_UPLOAD)
    served = served_dates(late_client, code, LATE_FIRST, LATE_UPLOAD)
    assert set(served) == set(fleet.device_ids(code))
    assert all(len(dates) == 7 for dates in served.values())


def test_managed_flip_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    fleet = late_sim.fleet
    code = fleet.customer_codes[4]
    dev = fleet.device_ids(code)[0]
    (flip,) = fleet.managed_changes
    assert flip == ManagedFlip(code, dev, FLIP_AT, not fleet.managed(code)[dev])
    for when, shown in (
        (FLIP_AT - timedelta(minutes=1), not flip.managed),
        (FLIP_AT, flip.managed),
    ):
        late_sim.set_now(when)
        assert fleet.managed_at(code, when)[dev] is shown
        listed = listed_rows(late_client, code)
        assert listed[dev]["IsManaged"] is shown
        assert {d: row["IsManaged"] for d, row in listed.items()} == fleet.managed_at(code, when)
        assert (dev in listed_rows(late_client, code, "Managed")) is shown
        assert (dev in listed_rows(late_client, code, "NotManaged")) is not shown
