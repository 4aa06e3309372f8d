"""A reading uploaded out of order: dated before the device's newest reading, published
days after it, and then served on every later night."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from releaf_pipeline.simulator.config import DeviceOutage, FleetConfig, OutOfOrderUpload
from releaf_pipeline.simulator.fleet import Fleet

DAY, UPLOAD = date(2026, 10, 21), date(2026, 10, 29)


def served(fleet: Fleet, code: str, device: str, as_of: date | datetime) -> list[date]:
    rows = fleet.counter_rows(code, DAY - timedelta(days=5), UPLOAD + timedelta(days=5), as_of)
    (row,) = [r for r in rows if r["DeviceId"] == device]
    return [date.fromisoformat(c["Date"]) for c in row["Counters"]]


def test_the_reading_comes_after_the_devices_later_ones_and_stays():
    fleet = Fleet(
        FleetConfig(scenarios=False, out_of_order_uploads=(OutOfOrderUpload(1, 2, DAY, UPLOAD),))
    )
    code = fleet.customer_codes[1]
    device = fleet.device_ids(code)[2]
    # The night before the upload: the device's newer readings are there, DAY is not.
    before = served(fleet, code, device, datetime(2026, 10, 28, 23, 59, tzinfo=UTC))
    assert DAY not in before and max(before) == UPLOAD - timedelta(days=2)
    assert fleet.readings(code, UPLOAD - timedelta(days=1))[device].get(DAY) is None
    # The device's listing shows the newest reading all along, not the missing one.
    (row,) = [r for r in fleet.devices(code, UPLOAD - timedelta(days=1)) if r["Id"] == device]
    assert row["LastUpdate"].startswith("2026-10-27") and row["IsOffline"] is False
    # From the upload on, on every later night, it is served on its own date.
    for night in (UPLOAD, UPLOAD + timedelta(days=1), UPLOAD + timedelta(days=30)):
        assert DAY in served(fleet, code, device, night)
    # Only that reading of that device moved: ground truth is the fleet without the case.
    plain = Fleet(FleetConfig(scenarios=False))
    assert fleet.readings(code) == plain.readings(code)
    late = fleet.readings(code, UPLOAD - timedelta(days=1))
    on_time = plain.readings(code, UPLOAD - timedelta(days=1))
    on_time[device].pop(DAY)
    assert late == on_time


def test_an_outage_holding_the_reading_longer_keeps_it():
    fleet = Fleet(
        FleetConfig(
            scenarios=False,
            device_outages=(DeviceOutage(0, 0, DAY, date(2026, 11, 5)),),
            out_of_order_uploads=(OutOfOrderUpload(0, 0, DAY, UPLOAD),),
        )
    )
    code = fleet.customer_codes[0]
    device = fleet.device_ids(code)[0]
    assert DAY not in fleet.readings(code, UPLOAD + timedelta(days=1))[device]
    assert DAY in fleet.readings(code, date(2026, 11, 5))[device]


@pytest.mark.parametrize(
    ("late", "message"),
    [
        (OutOfOrderUpload(0, 0, DAY, DAY + timedelta(days=1)), "at least two days after"),
        (OutOfOrderUpload(0, 0, DAY, DAY), "not after first"),
        (OutOfOrderUpload(7, 0, DAY, UPLOAD), "no customer index 7"),
        (OutOfOrderUpload(0, 9, DAY, UPLOAD), "no device index 9"),
        (OutOfOrderUpload(0, 0, date(2026, 7, 1), UPLOAD), "not within the history"),
    ],
)
def test_a_bad_out_of_order_upload_is_refused(late: OutOfOrderUpload, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Fleet(FleetConfig(scenarios=False, out_of_order_uploads=(late,)))


def test_a_reading_never_uploaded_cannot_come_out_of_order():
    fleet = Fleet()
    (missing, *_) = fleet.missing
    index = fleet.customer_codes.index(missing.customer_code)
    device = fleet.device_ids(missing.customer_code).index(missing.device_id)
    late = OutOfOrderUpload(index, device, missing.date, missing.date + timedelta(days=5))
    with pytest.raises(ValueError, match="no reading dated"):
        Fleet(FleetConfig(out_of_order_uploads=(late,)))
