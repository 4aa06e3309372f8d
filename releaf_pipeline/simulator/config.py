"""What fleet to simulate: `FleetConfig`, the late-data cases it can ask for, and the
scenario facts a generated fleet reports.

The default config asks for the seeded fleet with its built-in scenarios (meter resets,
devices added mid-range, DCA outages, never-uploaded days) and none of the configured
late-data cases (`publication_delays`, `publish_in_local_time`, `device_outages`,
`customer_outages`, `out_of_order_uploads`, `managed_changes`) and no `meter_glitches`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple


class DeviceOutage(NamedTuple):
    """One device's DCA is offline while the customer's other devices keep reporting.

    `customer` is an index into `Fleet.customer_codes`, `device` an index into
    `Fleet.device_ids(code)`. The device's readings dated `first`..`upload - 1 day` are
    withheld and all uploaded on `upload`. The device must have a reading on `first`, and
    `first`..`upload - 1 day` must lie within the fleet's history.
    """

    customer: int
    device: int
    first: date
    upload: date


class CustomerOutage(NamedTuple):
    """A whole customer's DCA is offline, as in the scenario outages.

    Every device's readings dated `first`..`upload - 1 day` are withheld and all uploaded
    on `upload`; a device whose first reading is after `first` is not affected. `customer`
    is an index into `Fleet.customer_codes`, and `first`..`upload - 1 day` must lie within
    the fleet's history.
    """

    customer: int
    first: date
    upload: date


class OutOfOrderUpload(NamedTuple):
    """One reading uploaded out of order: the device's reading dated `date` is withheld
    and uploaded on `upload`, while its later readings are published on time.

    By then the device has newer readings, so the reading lies behind the nightly re-read
    window. `customer` and `device` are indexes as in `DeviceOutage`; the device must have
    a reading on `date`, and `upload` must be at least two days after it (the day after is
    the normal publication). The reading is published together with the one dated
    `upload - 1 day`.
    """

    customer: int
    device: int
    date: date
    upload: date


class ManagedChange(NamedTuple):
    """From `at` on, `Device/List` shows a device with `IsManaged` = `managed`.

    `customer` and `device` are indexes as in `DeviceOutage`; `at` is an aware datetime,
    or a date meaning its 00:00 UTC.
    """

    customer: int
    device: int
    at: date | datetime
    managed: bool


class MeterGlitch(NamedTuple):
    """A device's DCA reports `pages` fewer pages than the day before on `date` (a stale or
    mis-read value), then recovers: the readings after it are the meter's own.

    `customer` and `device` are indexes as in `DeviceOutage`. The device must have a reading
    on `date` and on the day before, and at least `pages` mono pages.
    """

    customer: int
    device: int
    date: date
    pages: int = 1


class ManagedFlip(NamedTuple):
    """A configured `ManagedChange` resolved to ids, with `at` as an aware UTC datetime."""

    customer_code: str
    device_id: str
    at: datetime
    managed: bool


@dataclass(frozen=True)
class FleetConfig:
    """What fleet to generate. Equal configs always generate equal fleets."""

    seed: int = 7
    customers: int = 4
    # Each customer gets this many devices, plus or minus a seeded variation of up to 2
    # (never fewer than 2); devices added mid-range by the scenarios come on top.
    devices_per_customer: int = 6
    history_start: date = date(2026, 8, 1)
    history_end: date = date(2027, 3, 31)
    dealer_code: str = "D-1042"
    scenarios: bool = True
    # (customer index, hours): the reading dated D is published that many hours after
    # 00:00 UTC of D + 1 (to the second; may be negative, but above -24).
    publication_delays: tuple[tuple[int, float], ...] = ()
    # When true, every customer without an explicit delay publishes D's reading 30 minutes
    # after D ends in its own `TimeZoneIana`; otherwise at 00:00 UTC of D + 1.
    publish_in_local_time: bool = False
    device_outages: tuple[DeviceOutage, ...] = ()
    customer_outages: tuple[CustomerOutage, ...] = ()
    # Several per device are allowed; they apply in time order (ties in config order).
    managed_changes: tuple[ManagedChange, ...] = ()
    meter_glitches: tuple[MeterGlitch, ...] = ()
    out_of_order_uploads: tuple[OutOfOrderUpload, ...] = ()
    # The customers' codes, in order, in place of the seeded ones (one per customer):
    # another dealer's fleet whose customers carry the same codes (see `Fleet.as_dealer`).
    customer_codes: tuple[str, ...] = ()


class MeterReset(NamedTuple):
    """A device whose meter restarted from zero on `date` (that day's reading = its pages)."""

    customer_code: str
    device_id: str
    date: date


class StaleSpan(NamedTuple):
    """Readings dated `start`..`end` (inclusive) held back until `upload_date`.

    The DCA is offline from `start` and reconnects on `upload_date` (the day after `end`),
    uploading every reading it missed. A DCA usually serves a whole customer site, so the
    scenario and customer outages withhold the readings of every device of that customer;
    a configured `DeviceOutage` withholds one device's. There is one `StaleSpan` per
    affected device.
    """

    customer_code: str
    device_id: str
    start: date
    end: date
    upload_date: date


class AddedDevice(NamedTuple):
    """A device that joined the fleet mid-range: no reading before `first_date`."""

    customer_code: str
    device_id: str
    first_date: date


class MissingDay(NamedTuple):
    """A date whose reading the device's DCA never uploads."""

    customer_code: str
    device_id: str
    date: date


def check_config(cfg: FleetConfig) -> dict[int, int]:
    """Refuse a bad config with ValueError; return the publication delays in seconds.

    Device indexes are not checked here: they can only be checked against the generated
    devices (see `generation.generate_devices`).
    """
    if cfg.history_end < cfg.history_start:
        raise ValueError("history_end is before history_start")
    if cfg.customers < 0:
        raise ValueError("customers must be >= 0")
    _check_customer_codes(cfg)
    delays = _publication_delays(cfg)
    for outage in (*cfg.customer_outages, *cfg.device_outages):
        _check_customer(cfg, outage.customer, repr(outage))
        _check_window(cfg, outage.first, outage.upload, repr(outage))
    for late in cfg.out_of_order_uploads:
        _check_customer(cfg, late.customer, repr(late))
        _check_window(cfg, late.date, late.upload, repr(late))
        if late.upload - late.date < timedelta(days=2):
            raise ValueError(f"{late!r}: upload is not at least two days after date")
    for change in cfg.managed_changes:
        _check_managed_change(cfg, change)
    for glitch in cfg.meter_glitches:
        _check_meter_glitch(cfg, glitch)
    return delays


def _check_customer(cfg: FleetConfig, index: int, what: str) -> None:
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"{what}: customer index must be an int, got {index!r}")
    if not 0 <= index < cfg.customers:
        raise ValueError(f"{what}: no customer index {index} (the fleet has {cfg.customers})")


def _check_window(cfg: FleetConfig, first: date, upload: date, what: str) -> None:
    """Days withheld from `first` until `upload` must lie within the history."""
    for name, d in (("first", first), ("upload", upload)):
        if isinstance(d, datetime) or not isinstance(d, date):
            raise ValueError(f"{what}: {name} must be a date, got {d!r}")
    if upload <= first:
        raise ValueError(f"{what}: upload {upload} is not after first {first}")
    if first < cfg.history_start or upload - timedelta(days=1) > cfg.history_end:
        raise ValueError(
            f"{what}: the withheld days {first}..{upload - timedelta(days=1)} are "
            f"not within the history {cfg.history_start}..{cfg.history_end}"
        )


def _check_customer_codes(cfg: FleetConfig) -> None:
    codes = cfg.customer_codes
    if not codes:
        return
    if len(codes) != cfg.customers or len(set(codes)) != len(codes):
        raise ValueError(f"customer_codes must be {cfg.customers} different codes")
    if not all(isinstance(c, str) and c for c in codes):
        raise ValueError("customer_codes must be non-empty strings")


def _publication_delays(cfg: FleetConfig) -> dict[int, int]:
    """Each customer's publication delay in seconds, at most one per customer."""
    delays: dict[int, int] = {}
    for pair in cfg.publication_delays:
        index, hours = pair
        what = f"publication_delays {pair!r}"
        _check_customer(cfg, index, what)
        if index in delays:
            raise ValueError(f"{what}: customer {index} has more than one delay")
        number = isinstance(hours, int | float) and not isinstance(hours, bool)
        if not (number and math.isfinite(hours) and hours > -24):
            raise ValueError(f"{what}: hours must be a finite number above -24")
        delays[index] = round(hours * 3600)
    return delays


def _check_managed_change(cfg: FleetConfig, change: ManagedChange) -> None:
    _check_customer(cfg, change.customer, repr(change))
    if not isinstance(change.at, date):
        raise ValueError(f"{change!r}: at must be a datetime or a date")
    if isinstance(change.at, datetime) and change.at.utcoffset() is None:
        raise ValueError(f"{change!r}: at is a naive datetime; give it a time zone")
    if not isinstance(change.managed, bool):
        raise ValueError(f"{change!r}: managed must be a bool")


def _check_meter_glitch(cfg: FleetConfig, glitch: MeterGlitch) -> None:
    _check_customer(cfg, glitch.customer, repr(glitch))
    if isinstance(glitch.date, datetime) or not isinstance(glitch.date, date):
        raise ValueError(f"{glitch!r}: date must be a date")
    if not cfg.history_start < glitch.date <= cfg.history_end:
        raise ValueError(f"{glitch!r}: date is not after the history's first day, within it")
    if isinstance(glitch.pages, bool) or not isinstance(glitch.pages, int) or glitch.pages < 1:
        raise ValueError(f"{glitch!r}: pages must be an int >= 1")
