"""The synthetic fleet: deterministic, contract-shaped, and carrying its scenario cases."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from releaf_pipeline.simulator.config import (
    CustomerOutage,
    DeviceOutage,
    FleetConfig,
    ManagedChange,
    ManagedFlip,
    MeterGlitch,
    StaleSpan,
)
from releaf_pipeline.simulator.fleet import Fleet


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet()


def _business_days(start: date, end: date) -> int:
    return sum((start + timedelta(days=k)).weekday() < 5 for k in range((end - start).days + 1))


def _snapshot(f: Fleet) -> tuple:
    return (
        f.customer_codes,
        [f.customer(c) for c in f.customer_codes],
        [f.devices(c, date(2026, 12, 1)) for c in f.customer_codes],
        [f.readings(c) for c in f.customer_codes],
        f.resets,
        f.stale_spans,
        f.added,
        f.missing,
    )


def test_same_seed_same_fleet() -> None:
    assert _snapshot(Fleet()) == _snapshot(Fleet(FleetConfig(seed=7)))


def test_different_seed_different_fleet(fleet: Fleet) -> None:
    other = Fleet(FleetConfig(seed=8))
    assert other.customer_codes != fleet.customer_codes
    assert other.readings(other.customer_codes[0]) != fleet.readings(fleet.customer_codes[0])


def test_customers_are_contract_shaped(fleet: Fleet) -> None:
    assert len(fleet.customer_codes) == 4
    assert len(set(fleet.customer_codes)) == 4
    for n, code in enumerate(fleet.customer_codes, start=1):
        assert re.fullmatch(r"[0-9A-F]{16}", code)
        cust = fleet.customer(code)
        assert set(cust) == {"Id", "Code", "Description", "TimeZoneIana"}
        assert cust["Code"] == code
        assert cust["Description"] == f"Customer {n}"
        uuid.UUID(cust["Id"])
        assert "/" in cust["TimeZoneIana"]
    with pytest.raises(KeyError):
        fleet.customer("0000000000000000")
    assert not fleet.has_customer("0000000000000000")


@pytest.mark.parametrize("seed", range(6))
def test_device_counts_and_managed_mix(seed: int) -> None:
    f = Fleet(FleetConfig(seed=seed, customers=6, devices_per_customer=4))
    added = {a.device_id for a in f.added}
    for code in f.customer_codes:
        managed = f.managed(code)
        base = [d for d in managed if d not in added]
        assert 2 <= len(base) <= 6
        assert any(managed.values())
        if len(managed) >= 3:
            assert not all(managed.values())
    tiny = Fleet(FleetConfig(seed=seed, customers=3, devices_per_customer=1, scenarios=False))
    assert all(len(tiny.managed(c)) >= 2 for c in tiny.customer_codes)


def test_device_rows_carry_the_contract_fields(fleet: Fleet) -> None:
    code = fleet.customer_codes[1]
    as_of = date(2026, 12, 1)
    rows = fleet.devices(code, as_of)
    truth = fleet.readings(code, as_of)
    assert {r["Id"] for r in rows} == set(fleet.managed(code))
    for row in rows:
        assert row["CustomerCode"] == code
        assert row["IsManaged"] == fleet.managed(code)[row["Id"]]
        for name in ("SerialNumber", "AssetNumber", "SystemName"):
            assert isinstance(row[name], str) and row[name]
        assert re.fullmatch(r"10\.\d+\.\d+\.\d+", row["IpAddress"])
        assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", row["MacAddress"])
        assert set(row["Product"]) == {"Brand", "Model"}
        latest = max(truth[row["Id"]])
        assert row["CounterMono"] + row["CounterColor"] == truth[row["Id"]][latest]
        assert row["LastUpdate"].startswith(latest.isoformat() + "T23:")
        assert row["LastUpdate"].endswith("Z")


def test_todays_reading_is_not_visible(fleet: Fleet) -> None:
    code = fleet.customer_codes[2]
    today = date(2026, 11, 18)
    seen = fleet.readings(code, today)
    assert all(d < today for days in seen.values() for d in days)
    assert any(today - timedelta(days=1) in days for days in seen.values())
    tomorrow = fleet.readings(code, today + timedelta(days=1))
    assert all(today in days for days in tomorrow.values())


def test_counters_only_grow_except_at_resets(fleet: Fleet) -> None:
    resets = {(r.device_id, r.date) for r in fleet.resets}
    for code in fleet.customer_codes:
        for device_id, days in fleet.readings(code).items():
            dates = sorted(days)
            for prev, cur in itertools.pairwise(dates):
                if days[cur] < days[prev]:
                    assert (device_id, cur) in resets


def test_weekdays_print_and_weekends_are_mostly_quiet(fleet: Fleet) -> None:
    weekday, weekend = [], []
    for code in fleet.customer_codes:
        resets = {(r.device_id, r.date) for r in fleet.resets}
        for device_id, days in fleet.readings(code).items():
            for d, count in days.items():
                prev = days.get(d - timedelta(days=1))
                if prev is None or (device_id, d) in resets:
                    continue
                (weekday if d.weekday() < 5 else weekend).append(count - prev)
    assert all(20 <= p <= 400 for p in weekday)
    assert sum(p == 0 for p in weekend) > 0.7 * len(weekend)
    assert all(0 <= p <= 15 for p in weekend)


def test_meter_resets_restart_from_zero(fleet: Fleet) -> None:
    resets = fleet.resets
    assert len(resets) >= 2
    assert len({r.customer_code for r in resets}) >= 2
    for r in resets:
        days = fleet.readings(r.customer_code)[r.device_id]
        before = days[r.date - timedelta(days=1)]
        on = days[r.date]
        assert on < before
        # The day's reading is that day's printing alone: a weekday's 20..400 pages.
        assert 20 <= on <= 400
        rows = fleet.counter_rows(r.customer_code, r.date, r.date, r.date + timedelta(days=1))
        (row,) = [x for x in rows if x["DeviceId"] == r.device_id]
        (counter,) = row["Counters"]
        assert counter["Mono"] + counter["Color"] == on
        assert counter["Mono"] < 400 and counter["Color"] < 400


def test_devices_added_mid_range(fleet: Fleet) -> None:
    added = fleet.added
    assert len(added) >= 2
    start = fleet.config.history_start
    for a in added:
        assert a.first_date - start > timedelta(days=31)
        days = fleet.readings(a.customer_code)[a.device_id]
        assert min(days) == a.first_date
        assert fleet.first_date(a.device_id) == a.first_date
        # Not listed until its first reading is served.
        listed = {d["Id"] for d in fleet.devices(a.customer_code, a.first_date)}
        assert a.device_id not in listed
        listed = {d["Id"] for d in fleet.devices(a.customer_code, a.first_date + timedelta(days=1))}
        assert a.device_id in listed
        month_before = fleet.counter_rows(
            a.customer_code,
            a.first_date - timedelta(days=31),
            a.first_date - timedelta(days=1),
            a.first_date,
        )
        assert a.device_id not in {r["DeviceId"] for r in month_before}


def test_stale_span_is_uploaded_late_across_a_month_end(fleet: Fleet) -> None:
    spans = fleet.stale_spans
    assert spans
    crossing = [s for s in spans if s.start.month != s.end.month]
    assert crossing
    span = crossing[0]
    assert (span.start, span.end, span.upload_date) == (
        date(2026, 9, 28),
        date(2026, 10, 8),
        date(2026, 10, 9),
    )
    for s in spans:
        assert (s.end - s.start).days + 1 >= 6
        assert _business_days(s.start, s.end) >= 3
        assert s.upload_date == s.end + timedelta(days=1)
    # A DCA serves the whole site: every device of that customer is held back together.
    code = span.customer_code
    affected = {s.device_id for s in spans if s.customer_code == code and s.start == span.start}
    assert affected == set(fleet.managed(code))

    in_span = {span.start + timedelta(days=k) for k in range((span.end - span.start).days + 1)}
    day_before = fleet.readings(code, span.upload_date - timedelta(days=1))
    for days in day_before.values():
        assert not in_span & set(days)
        assert max(days) == span.start - timedelta(days=1)
    on_upload = fleet.readings(code, span.upload_date)
    for days in on_upload.values():
        assert in_span <= set(days)
    rows = fleet.counter_rows(code, span.start, span.end, span.upload_date - timedelta(days=1))
    assert rows == []
    rows = fleet.counter_rows(code, span.start, span.end, span.upload_date)
    assert {r["DeviceId"] for r in rows} == affected
    assert all(len(r["Counters"]) == len(in_span) for r in rows)


def test_missing_days_are_never_uploaded(fleet: Fleet) -> None:
    missing = fleet.missing
    assert len(missing) >= 3
    for m in missing:
        days = fleet.readings(m.customer_code)[m.device_id]
        assert m.date not in days
        assert m.date - timedelta(days=1) in days or m.date + timedelta(days=1) in days


def test_each_customer_carries_at_most_two_kinds_of_case() -> None:
    f = Fleet(FleetConfig(customers=12))
    for code in f.customer_codes:
        kinds = {
            "reset": any(r.customer_code == code for r in f.resets),
            "stale": any(s.customer_code == code for s in f.stale_spans),
            "added": any(a.customer_code == code for a in f.added),
            "missing": any(m.customer_code == code for m in f.missing),
        }
        assert 1 <= sum(kinds.values()) <= 2


def test_without_scenarios_nothing_is_injected() -> None:
    f = Fleet(FleetConfig(scenarios=False))
    assert (f.resets, f.stale_spans, f.added, f.missing) == ([], [], [], [])
    start, end = f.config.history_start, f.config.history_end
    for code in f.customer_codes:
        for days in f.readings(code).values():
            assert len(days) == (end - start).days + 1


def test_counter_rows_match_ground_truth(fleet: Fleet) -> None:
    as_of = date(2026, 10, 8)
    lo, hi = date(2026, 9, 1), date(2026, 10, 31)
    for code in fleet.customer_codes:
        rows = fleet.counter_rows(code, lo, hi, as_of)
        truth = {
            dev: {d: n for d, n in days.items() if lo <= d <= hi}
            for dev, days in fleet.readings(code, as_of).items()
        }
        truth = {dev: days for dev, days in truth.items() if days}
        got = {
            r["DeviceId"]: {
                date.fromisoformat(c["Date"]): c["Mono"] + c["Color"] for c in r["Counters"]
            }
            for r in rows
        }
        assert got == truth
        for r in rows:
            dates = [c["Date"] for c in r["Counters"]]
            assert dates == sorted(dates)
            assert r["CustomerCode"] == code
            assert r["LastUpdate"].startswith(dates[-1])


def test_readings_after_history_end_stop(fleet: Fleet) -> None:
    code = fleet.customer_codes[0]
    end = fleet.config.history_end
    later = fleet.readings(code, end + timedelta(days=30))
    assert max(max(days) for days in later.values()) == end
    assert (
        fleet.counter_rows(
            code, end + timedelta(days=1), end + timedelta(days=20), end + timedelta(days=30)
        )
        == []
    )


def test_large_fleet_is_cheap() -> None:
    import time

    t0 = time.perf_counter()
    f = Fleet(FleetConfig(customers=300))
    f.readings(f.customer_codes[-1])
    assert len(f.customer_codes) == 300
    assert time.perf_counter() - t0 < 2.0


# ---- the late-data configuration ----------------------------------------------------------


def _fingerprint(f: Fleet) -> str:
    """A hash of everything a test can observe of `f`: readings, daily visibility, rows."""
    h = hashlib.sha256()

    def put(x: object) -> None:
        h.update(json.dumps(x, sort_keys=True, default=str).encode())

    put([f.resets, f.stale_spans, f.added, f.missing])
    start, end = f.config.history_start, f.config.history_end
    for code in f.customer_codes:
        put([code, f.customer(code), f.managed(code)])
        put({dev: sorted(days.items()) for dev, days in f.readings(code).items()})
        day = start
        while day <= end + timedelta(days=3):
            put({dev: len(days) for dev, days in f.readings(code, day).items()})
            if day.day in (1, 10, 20):
                put(f.devices(code, day))
                put(f.counter_rows(code, day - timedelta(days=40), day, day))
            day += timedelta(days=1)
    return h.hexdigest()


def test_default_fleet_is_what_it_was_before_the_late_data_options() -> None:
    # Computed with the fleet as it was before moments, delays and configured outages.
    assert _fingerprint(Fleet()) == (
        "7741d89b9bfa09b716f02b991cec9ad48a12a45e0938379d56027e152812b645"
    )
    assert _fingerprint(Fleet(FleetConfig(customers=9, seed=3))) == (
        "c1f10cb3eff73781bc6b15776834ade32c2026075e7d7e83b6d5810f1dc31e1c"
    )


def _utc(y: int, m: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=UTC)


def test_a_date_means_midnight_utc(fleet: Fleet) -> None:
    code = fleet.customer_codes[0]
    day = date(2026, 10, 9)
    midnight = _utc(2026, 10, 9)
    # The same instant written in Denver's time zone.
    denver = midnight.astimezone(ZoneInfo("America/Denver"))
    for as_of in (midnight, denver):
        assert fleet.readings(code, as_of) == fleet.readings(code, day)
        assert fleet.devices(code, as_of) == fleet.devices(code, day)
        assert fleet.counter_rows(code, date(2026, 9, 1), day, as_of) == fleet.counter_rows(
            code, date(2026, 9, 1), day, day
        )
    assert fleet.publication_time(code, day - timedelta(days=1)) == midnight
    with pytest.raises(ValueError, match="naive"):
        fleet.readings(code, datetime(2026, 10, 9, 2))
    with pytest.raises(ValueError, match="naive"):
        fleet.devices(code, datetime(2026, 10, 9, 2))


def test_publication_delay_per_customer() -> None:
    f = Fleet(FleetConfig(scenarios=False, publication_delays=((1, 7.5),)))
    on_time, late = f.customer_codes[0], f.customer_codes[1]
    day = date(2026, 10, 5)
    assert f.publication_time(late, day) == _utc(2026, 10, 6, 7, 30)
    assert f.publication_time(on_time, day) == _utc(2026, 10, 6)

    night = _utc(2026, 10, 6, 2)
    assert all(day in days for days in f.readings(on_time, night).values())
    seen = f.readings(late, night)
    assert all(max(days) == day - timedelta(days=1) for days in seen.values())
    assert all(
        row["LastUpdate"].startswith("2026-10-04") and not row["IsOffline"]
        for row in f.devices(late, night)
    )
    assert all(day in days for days in f.readings(late, _utc(2026, 10, 6, 7, 30)).values())
    assert not any(day in days for days in f.readings(late, _utc(2026, 10, 6, 7, 29)).values())
    # Delays change when readings appear, never what they are.
    assert f.readings(late) == Fleet(FleetConfig(scenarios=False)).readings(late)


def test_local_time_publication_west_and_east_across_dst() -> None:
    f = Fleet(FleetConfig(customers=8, scenarios=False, publish_in_local_time=True))
    by_zone = {f.customer(c)["TimeZoneIana"]: c for c in f.customer_codes}
    west, east = by_zone["America/Los_Angeles"], by_zone["Europe/London"]
    # Los Angeles: PDT (UTC-7) until 2026-11-01, then PST (UTC-8).
    assert f.publication_time(west, date(2026, 10, 5)) == _utc(2026, 10, 6, 7, 30)
    assert f.publication_time(west, date(2026, 10, 31)) == _utc(2026, 11, 1, 7, 30)
    assert f.publication_time(west, date(2026, 11, 1)) == _utc(2026, 11, 2, 8, 30)
    # London: BST (UTC+1) until 2026-10-25, so its day is published before it ends in UTC.
    assert f.publication_time(east, date(2026, 10, 5)) == _utc(2026, 10, 5, 23, 30)
    assert f.publication_time(east, date(2026, 11, 5)) == _utc(2026, 11, 6, 0, 30)

    day = date(2026, 10, 5)
    night = _utc(2026, 10, 6, 2)
    assert not any(day in days for days in f.readings(west, night).values())
    assert all(day in days for days in f.readings(west, _utc(2026, 10, 6, 7, 30)).values())
    assert all(day in days for days in f.readings(east, _utc(2026, 10, 5, 23, 30)).values())
    assert not any(day in days for days in f.readings(east, _utc(2026, 10, 5, 23, 29)).values())
    listed = f.devices(east, _utc(2026, 10, 5, 23, 45))
    assert all(row["LastUpdate"].startswith("2026-10-05") for row in listed)

    # An explicit delay wins over local time.
    index = f.customer_codes.index(east)
    g = Fleet(
        FleetConfig(
            customers=8,
            scenarios=False,
            publish_in_local_time=True,
            publication_delays=((index, 3),),
        )
    )
    assert g.publication_time(east, day) == _utc(2026, 10, 6, 3)
    assert g.publication_time(west, day) == _utc(2026, 10, 6, 7, 30)


def test_one_device_offline_while_the_others_report() -> None:
    first, upload = date(2026, 10, 5), date(2026, 10, 12)
    f = Fleet(FleetConfig(scenarios=False, device_outages=(DeviceOutage(1, 2, first, upload),)))
    code = f.customer_codes[1]
    offline = f.device_ids(code)[2]
    assert f.stale_spans == [StaleSpan(code, offline, first, date(2026, 10, 11), upload)]

    before = f.readings(code, upload - timedelta(days=1))
    assert max(before[offline]) == first - timedelta(days=1)
    assert all(max(days) == date(2026, 10, 10) for dev, days in before.items() if dev != offline)
    rows = {r["Id"]: r for r in f.devices(code, upload - timedelta(days=1))}
    assert set(rows) == set(f.device_ids(code))
    assert rows[offline]["IsOffline"] and rows[offline]["LastUpdate"].startswith("2026-10-04")
    assert not any(r["IsOffline"] for dev, r in rows.items() if dev != offline)
    served = f.counter_rows(code, first, upload, upload - timedelta(days=1))
    assert offline not in {r["DeviceId"] for r in served}

    after = f.readings(code, upload)
    assert all(max(days) == date(2026, 10, 11) for days in after.values())
    assert after == {
        dev: {d: n for d, n in days.items() if d < upload} for dev, days in f.readings(code).items()
    }
    # Ground truth is everything ever served: the withheld readings are part of it.
    assert f.readings(code) == Fleet(FleetConfig(scenarios=False)).readings(code)


def test_customer_outage_at_given_dates() -> None:
    first, upload = date(2026, 11, 2), date(2026, 11, 9)
    f = Fleet(FleetConfig(customer_outages=(CustomerOutage(2, first, upload),)))
    code = f.customer_codes[2]
    spans = [s for s in f.stale_spans if s.start == first]
    assert {s.device_id for s in spans} == {
        dev for dev in f.device_ids(code) if f.first_date(dev) <= first
    }
    assert all(
        (s.customer_code, s.end, s.upload_date) == (code, upload - timedelta(days=1), upload)
        for s in spans
    )
    # This customer's second added device joins after the outage and is not held back.
    assert len(spans) == len(f.device_ids(code)) - 1
    # The scenario cases of the default fleet are still there, untouched.
    assert f.added == Fleet().added
    assert f.counter_rows(code, first, upload, upload - timedelta(days=1)) == []
    held = f.counter_rows(code, first, upload, upload)
    assert {r["DeviceId"] for r in held} == {s.device_id for s in spans}
    assert all(len(r["Counters"]) == 7 for r in held)


def test_an_outage_uploads_at_the_customers_publication_time() -> None:
    first, upload = date(2026, 11, 2), date(2026, 11, 9)
    f = Fleet(
        FleetConfig(
            scenarios=False,
            publication_delays=((0, 7.5),),
            customer_outages=(CustomerOutage(0, first, upload),),
        )
    )
    code = f.customer_codes[0]
    assert f.counter_rows(code, first, upload, _utc(2026, 11, 9, 7, 29)) == []
    rows = f.counter_rows(code, first, upload, _utc(2026, 11, 9, 7, 30))
    assert all([c["Date"] for c in r["Counters"]][-1] == "2026-11-08" for r in rows)
    assert all(len(r["Counters"]) == 7 for r in rows)


def test_managed_changes_apply_from_their_moment() -> None:
    probe = Fleet(FleetConfig(scenarios=False))
    code = probe.customer_codes[2]
    dev = probe.device_ids(code)[1]
    base = probe.managed(code)[dev]
    at = _utc(2026, 10, 10, 12)
    back = date(2026, 10, 20)
    f = Fleet(
        FleetConfig(
            scenarios=False,
            # Out of time order on purpose: changes apply in time order.
            managed_changes=(
                ManagedChange(2, 1, back, base),
                ManagedChange(2, 1, at, not base),
            ),
        )
    )
    assert f.managed(code) == probe.managed(code)
    assert f.managed_changes == [
        ManagedFlip(code, dev, _utc(2026, 10, 20), base),
        ManagedFlip(code, dev, at, not base),
    ]
    others = {d: m for d, m in probe.managed(code).items() if d != dev}
    for as_of, want in (
        (_utc(2026, 10, 10, 11, 59), base),
        (at, not base),
        (_utc(2026, 10, 19, 23, 59), not base),
        (back, base),
    ):
        shown = f.managed_at(code, as_of)
        assert shown[dev] is want
        assert {d: m for d, m in shown.items() if d != dev} == others
        rows = {r["Id"]: r["IsManaged"] for r in f.devices(code, as_of)}
        assert rows == shown
    # Readings do not depend on the flag.
    assert f.readings(code) == probe.readings(code)


def test_device_ids_are_in_generation_order(fleet: Fleet) -> None:
    for code in fleet.customer_codes:
        ids = fleet.device_ids(code)
        assert ids == list(fleet.managed(code))
        added = [a.device_id for a in fleet.added if a.customer_code == code]
        # Devices added mid-range come after the customer's original ones.
        assert ids[len(ids) - len(added) :] == added


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"publication_delays": ((4, 1.0),)}, "no customer index 4"),
        ({"publication_delays": ((0, 1.0), (0, 2.0))}, "more than one delay"),
        ({"publication_delays": ((0, -24),)}, "above -24"),
        ({"publication_delays": ((0, float("nan")),)}, "finite"),
        (
            {"customer_outages": (CustomerOutage(-1, date(2026, 9, 1), date(2026, 9, 3)),)},
            "no customer index -1",
        ),
        (
            {"customer_outages": (CustomerOutage(0, date(2026, 9, 3), date(2026, 9, 3)),)},
            "not after first",
        ),
        (
            {"device_outages": (DeviceOutage(0, 0, date(2026, 9, 3), date(2026, 9, 1)),)},
            "not after first",
        ),
        (
            {"device_outages": (DeviceOutage(0, 99, date(2026, 9, 1), date(2026, 9, 3)),)},
            "no device index 99",
        ),
        (
            {"device_outages": (DeviceOutage(0, 0, date(2026, 7, 30), date(2026, 8, 3)),)},
            "not within the history",
        ),
        (
            {"customer_outages": (CustomerOutage(0, date(2027, 3, 30), date(2027, 4, 2)),)},
            "not within the history",
        ),
        (
            {"managed_changes": (ManagedChange(0, 0, datetime(2026, 9, 1, 12), True),)},
            "naive",
        ),
        (
            {"managed_changes": (ManagedChange(0, 6, date(2026, 9, 1), True),)},
            "no device index 6",
        ),
        (
            {"managed_changes": (ManagedChange(9, 0, date(2026, 9, 1), True),)},
            "no customer index 9",
        ),
    ],
)
def test_bad_late_data_config_is_refused(over: dict, message: str) -> None:
    # Customer 0 of the default fleet has devices 0..5.
    with pytest.raises(ValueError, match=re.escape(message)):
        Fleet(FleetConfig(**over))


def test_device_outage_before_the_devices_first_reading_is_refused(fleet: Fleet) -> None:
    added = fleet.added[0]
    index = fleet.customer_codes.index(added.customer_code)
    device = fleet.device_ids(added.customer_code).index(added.device_id)
    outage = DeviceOutage(index, device, added.first_date - timedelta(days=1), added.first_date)
    with pytest.raises(ValueError, match="first reading"):
        Fleet(FleetConfig(device_outages=(outage,)))


def test_a_meter_glitch_reports_fewer_pages_for_one_day_then_recovers() -> None:
    plain = Fleet(FleetConfig(scenarios=False))
    code = plain.customer_codes[1]
    glitched = Fleet(
        FleetConfig(
            scenarios=False,
            meter_glitches=(
                MeterGlitch(1, 2, date(2026, 10, 14)),
                MeterGlitch(1, 2, date(2026, 10, 20), pages=40),
            ),
        )
    )
    device = plain.device_ids(code)[2]
    before, after = plain.readings(code), glitched.readings(code)
    true, read = before[device], after[device]
    assert read[date(2026, 10, 14)] == true[date(2026, 10, 13)] - 1
    assert read[date(2026, 10, 20)] == true[date(2026, 10, 19)] - 40
    # Only those two readings differ: the meter itself, and every other device, is as it was.
    assert {d for d in true if read[d] != true[d]} == {date(2026, 10, 14), date(2026, 10, 20)}
    assert read[date(2026, 10, 15)] == true[date(2026, 10, 15)]
    assert {k: v for k, v in after.items() if k != device} == {
        k: v for k, v in before.items() if k != device
    }
    # Counter/List serves the glitch as it serves any reading.
    rows = glitched.counter_rows(code, date(2026, 10, 14), date(2026, 10, 14), date(2026, 10, 16))
    (row,) = [r for r in rows if r["DeviceId"] == device]
    (counter,) = row["Counters"]
    assert counter["Mono"] + counter["Color"] == true[date(2026, 10, 13)] - 1


@pytest.mark.parametrize(
    ("glitch", "message"),
    [
        (MeterGlitch(0, 9, date(2026, 9, 1)), "no device index 9"),
        (MeterGlitch(7, 0, date(2026, 9, 1)), "no customer index 7"),
        (MeterGlitch(0, 0, date(2026, 8, 1)), "not after the history's first day"),
        (MeterGlitch(0, 0, date(2026, 9, 1), pages=0), "pages must be an int >= 1"),
        (MeterGlitch(0, 0, date(2026, 9, 1), pages=10**9), "fewer than 1000000000 mono pages"),
    ],
)
def test_bad_meter_glitch_is_refused(glitch: MeterGlitch, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Fleet(FleetConfig(scenarios=False, meter_glitches=(glitch,)))
