"""Seeded generation of a fleet: customers, devices, daily counters and scenario cases.

Everything here is drawn from `random.Random` instances seeded by the `FleetConfig`, in a
fixed order, so equal configs generate equal fleets on every run and every machine. Each
customer has its own seed, so its devices can be generated on first use, in any order.
The timeline, devices, customers and calendar are in `model`; the cases' edits in `cases`.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

from releaf_pipeline.simulator.cases import (
    dca_outage,
    device_outage,
    meter_glitch,
    miss_reading,
    named_device,
    reset_meter,
    upload_late,
)
from releaf_pipeline.simulator.config import AddedDevice, FleetConfig
from releaf_pipeline.simulator.model import Calendar, Customer, Device, seconds

_TIME_ZONES = (
    "America/Denver",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Phoenix",
    "Europe/London",
)

_PRODUCTS = (
    ("Kyocera", "TASKalfa 5053ci"),
    ("Kyocera", "ECOSYS M3655idn"),
    ("HP", "LaserJet Pro M404dn"),
    ("HP", "Color LaserJet Enterprise M555"),
    ("Canon", "imageRUNNER ADVANCE DX C5840i"),
    ("Ricoh", "IM C3000"),
    ("Xerox", "VersaLink C405"),
    ("Brother", "HL-L6200DW"),
)

# Scenario kinds, assigned to customers round-robin so no customer carries more than two.
_KIND_MONTH_END_OUTAGE = 0
_KIND_RESET_AND_MISSING = 1
_KIND_ADDED = 2
_KIND_RESET_AND_OUTAGE = 3
_KINDS = 4


def make_customers(cfg: FleetConfig) -> list[Customer]:
    """The fleet's customers, with unique codes, drawn from `cfg.seed` (or given by
    `cfg.customer_codes`)."""
    rng = random.Random(cfg.seed)
    customers: list[Customer] = []
    codes: set[str] = set()
    for i in range(cfg.customers):
        code = f"{rng.getrandbits(64):016X}"
        while code in codes:
            code = f"{rng.getrandbits(64):016X}"
        codes.add(code)
        # A given code is used after the draw, so the rest of the fleet is the seed's own.
        if cfg.customer_codes:
            code = cfg.customer_codes[i]
        info = {
            "Id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "Code": code,
            "Description": f"Customer {i + 1}",
            "TimeZoneIana": _TIME_ZONES[rng.randrange(len(_TIME_ZONES))],
        }
        customers.append(Customer(i, info, rng.getrandbits(64)))
    return customers


def generate_devices(cfg: FleetConfig, cal: Calendar, cust: Customer) -> list[Device]:
    """Build one customer's devices, their counters and its scenario cases.

    Records the scenario facts on `cust`. Raises ValueError for a configured case that
    names a device the customer does not have.
    """
    rng = random.Random(cust.rng_seed)
    n_base = max(2, cfg.devices_per_customer + rng.randint(-2, 2))
    devices = [_new_device(rng, cust, n) for n in range(n_base)]
    kind = cust.index % _KINDS if cfg.scenarios else None
    # The first customer of each kind gets the canonical dates; later ones are shifted
    # by a seeded offset so a large fleet does not have every event on the same day.
    shift = timedelta(days=0 if cust.index < _KINDS else rng.randint(-30, 30))
    start = cfg.history_start
    first_date: dict[int, date] = {}
    if kind == _KIND_ADDED:
        first_date = _add_devices(rng, cal, cust, devices, start, shift)

    # Every customer has a managed device and, with three or more, an unmanaged one.
    if not any(d.managed for d in devices):
        devices[0].managed = True
    if len(devices) >= 3 and not any(not d.managed for d in devices):
        devices[rng.randrange(n_base)].managed = False

    published = [cal.publish_seconds(cust, cal.start_ord + i) for i in range(cal.ndays)]
    for i, dev in enumerate(devices):
        dev.first_idx = cal.idx(first_date.get(i, start))
        dev.listed_from = published[dev.first_idx]
        _fill_counters(rng, cal, dev, published, is_new=i in first_date)

    if kind == _KIND_ADDED:
        for i, d in first_date.items():
            cust.added.append(AddedDevice(cust.code, devices[i].id, d))
    else:
        _scenario_case(kind, rng, cfg, cal, cust, devices, shift)
    # The configured cases come last and draw nothing from `rng`, so they never change
    # the seeded fleet underneath them.
    _configured(cfg, cal, cust, devices)
    return devices


def _add_devices(
    rng: random.Random,
    cal: Calendar,
    cust: Customer,
    devices: list[Device],
    start: date,
    shift: timedelta,
) -> dict[int, date]:
    """Devices that join mid-history, appended to `devices`: their indexes' first dates."""
    first_date: dict[int, date] = {}
    for offset in (80, 128):
        d = _next_weekday(start + timedelta(days=offset) + shift)
        if cal.in_range(d) and d > start:
            dev = _new_device(rng, cust, len(devices))
            # New devices arrive as managed contracts, so both scopes see them.
            dev.managed = True
            first_date[len(devices)] = d
            devices.append(dev)
    return first_date


def _scenario_case(
    kind: int | None,
    rng: random.Random,
    cfg: FleetConfig,
    cal: Calendar,
    cust: Customer,
    devices: list[Device],
    shift: timedelta,
) -> None:
    """The seeded case of a customer's kind: a month-end outage, resets, missing days."""
    start = cfg.history_start
    if kind == _KIND_MONTH_END_OUTAGE:
        ends = _month_ends(start + timedelta(days=45), cfg.history_end - timedelta(days=10))
        if ends:
            month_end = ends[0] if cust.index < _KINDS else ends[rng.randrange(len(ends))]
            # Offline Sep 28, back Oct 9 for the default config: 9 business days.
            dca_outage(
                cal, cust, devices, month_end - timedelta(days=2), month_end + timedelta(days=9)
            )
    elif kind == _KIND_RESET_AND_MISSING:
        reset_dev = _pick(rng, devices)
        reset_meter(cal, cust, reset_dev, _next_weekday(start + timedelta(days=107) + shift))
        others = [d for d in devices if d is not reset_dev]
        missing_dev = others[rng.randrange(len(others))]
        for offset in (40, 41, 150):
            miss_reading(
                cal, cust, missing_dev, _next_weekday(start + timedelta(days=offset) + shift)
            )
    elif kind == _KIND_RESET_AND_OUTAGE:
        dca_outage(
            cal,
            cust,
            devices,
            start + timedelta(days=165) + shift,
            start + timedelta(days=177) + shift,
        )
        reset_dev = _pick(rng, devices)
        reset_meter(cal, cust, reset_dev, _next_weekday(start + timedelta(days=186) + shift))


def _configured(cfg: FleetConfig, cal: Calendar, cust: Customer, devices: list[Device]) -> None:
    """Apply the config's outages, out-of-order uploads and IsManaged changes that name
    this customer."""
    mine = cust.index
    for c_out in cfg.customer_outages:
        if c_out.customer == mine:
            dca_outage(cal, cust, devices, c_out.first, c_out.upload)
    for d_out in cfg.device_outages:
        if d_out.customer == mine:
            dev = named_device(cust, devices, d_out.device, repr(d_out))
            device_outage(cal, cust, dev, d_out)
    for late in cfg.out_of_order_uploads:
        if late.customer == mine:
            upload_late(cal, cust, named_device(cust, devices, late.device, repr(late)), late)
    for change in cfg.managed_changes:
        if change.customer == mine:
            dev = named_device(cust, devices, change.device, repr(change))
            dev.flips.append((seconds(change.at), change.managed))
    for glitch in cfg.meter_glitches:
        if glitch.customer == mine:
            dev = named_device(cust, devices, glitch.device, repr(glitch))
            meter_glitch(cal, dev, glitch.date, glitch.pages)
    for dev in devices:
        # A stable sort: changes at the same moment apply in config order.
        dev.flips.sort(key=lambda flip: flip[0])


def _new_device(rng: random.Random, cust: Customer, n: int) -> Device:
    brand, model = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
    info = {
        "Id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "SerialNumber": f"{brand[:2].upper()}{rng.randrange(10**7):07d}",
        "AssetNumber": f"A-{rng.randrange(1, 1000)}",
        "IpAddress": f"10.{cust.index % 250 + 1}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        # Locally administered unicast, so no real vendor's address is ever shown.
        "MacAddress": ":".join(
            f"{(rng.randrange(256) & 0xFC) | 0x02 if k == 0 else rng.randrange(256):02x}"
            for k in range(6)
        ),
        "SystemName": f"PRN-{n + 1}{'ABCDEFGH'[rng.randrange(8)]}",
        "Product": {"Brand": brand, "Model": model},
    }
    return Device(info, managed=rng.random() < 0.7, minute=rng.randrange(60))


def _pick(rng: random.Random, devices: list[Device]) -> Device:
    """A managed device when there is one, so the case is in scope for both scopes."""
    pool = [d for d in devices if d.managed] or devices
    return pool[rng.randrange(len(pool))]


def _fill_counters(
    rng: random.Random, cal: Calendar, dev: Device, published: list[int], *, is_new: bool
) -> None:
    n = cal.ndays
    dev.mono = [0] * n
    dev.color = [0] * n
    dev.visible_from = [None] * n
    mono = rng.randint(0, 2_000) if is_new else rng.randint(10_000, 500_000)
    # About a third of the fleet is mono-only.
    color_share = 0.0 if rng.random() < 0.3 else rng.uniform(0.1, 0.5)
    color = 0 if color_share == 0.0 else (rng.randint(0, 500) if is_new else mono // 8)
    weekday0 = cal.start.weekday()
    for i in range(dev.first_idx, n):
        if (weekday0 + i) % 7 < 5:
            pages = rng.randint(20, 400)
        elif rng.random() < 0.1:
            pages = rng.randint(1, 15)
        else:
            pages = 0
        c = round(pages * color_share)
        mono += pages - c
        color += c
        dev.mono[i] = mono
        dev.color[i] = color
        dev.visible_from[i] = published[i]


def _next_weekday(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _month_ends(start: date, end: date) -> list[date]:
    """Last days of the months between `start` and `end`, inclusive."""
    out = []
    d = date(start.year, start.month, 1)
    while True:
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        if last > end:
            return out
        if last >= start:
            out.append(last)
        d = nxt
