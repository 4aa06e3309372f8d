"""The synthetic fleet: deterministic, contract-shaped, and carrying its scenario cases."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import date, timedelta

import pytest

from releaf_pipeline.lib.mpsmonitor.fleet import Fleet, FleetConfig


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
