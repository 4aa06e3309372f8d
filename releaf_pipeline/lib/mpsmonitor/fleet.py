"""A seeded, deterministic synthetic print fleet: the data behind the MPS Monitor simulator.

The fleet is pure data and knows nothing about HTTP. For a given `FleetConfig` every
customer, device and daily reading is the same on every run and every machine, so tests
can compute the expected pages from `Fleet.readings` and compare them with what the
pipeline deposited after talking to the simulator.

When `FleetConfig.scenarios` is true the fleet also carries the awkward cases a real
dealer's fleet has: meter resets, devices added mid-range, data collection agents (DCAs)
that go offline and upload their readings late (once across a month end), and days whose
readings never arrive at all. The facts are exposed (`resets`, `stale_spans`, `added`,
`missing`) so tests can find them instead of hard-coding dates.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

__all__ = [
    "AddedDevice",
    "Fleet",
    "FleetConfig",
    "MeterReset",
    "MissingDay",
    "StaleSpan",
]


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


class MeterReset(NamedTuple):
    """A device whose meter restarted from zero on `date` (that day's reading = its pages)."""

    customer_code: str
    device_id: str
    date: date


class StaleSpan(NamedTuple):
    """Readings dated `start`..`end` (inclusive) held back until `upload_date`.

    The DCA is offline from `start` and reconnects on `upload_date` (the day after `end`),
    uploading every reading it missed. A DCA serves a whole customer site, so an outage
    withholds the readings of every device of that customer; there is one `StaleSpan`
    per affected device.
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


class _Device:
    """One device's identity and precomputed daily counters."""

    __slots__ = (
        "color",
        "first_idx",
        "info",
        "managed",
        "minute",
        "mono",
        "visible_from",
    )

    def __init__(self, info: dict[str, Any], managed: bool, minute: int) -> None:
        self.info = info
        self.managed = managed
        self.minute = minute
        self.first_idx = 0
        # Lifetime counters at the end of day index i (index 0 = history_start).
        self.mono: list[int] = []
        self.color: list[int] = []
        # Ordinal of the first `as_of` date from which the reading of day i is served;
        # None when the device has no reading that day, ever.
        self.visible_from: list[int | None] = []

    @property
    def id(self) -> str:
        return self.info["Id"]


class _Customer:
    __slots__ = ("added", "devices", "index", "info", "missing", "resets", "rng_seed", "stale")

    def __init__(self, index: int, info: dict[str, Any], rng_seed: int) -> None:
        self.index = index
        self.info = info
        self.rng_seed = rng_seed
        self.devices: list[_Device] | None = None
        self.resets: list[MeterReset] = []
        self.stale: list[StaleSpan] = []
        self.added: list[AddedDevice] = []
        self.missing: list[MissingDay] = []


class Fleet:
    """The deterministic synthetic fleet of one dealer.

    Customers and their codes are generated up front; each customer's devices and daily
    counters are generated on first use (then cached), so a fleet of thousands of
    customers starts instantly and a simulator thread only pays for what it serves.
    Every query takes an `as_of` date: the server's "today". A reading dated D is served
    as of T when D < T (it is the counter at the end of D) and, when D lies in a DCA
    outage, T is on or after that outage's upload date. Never-uploaded days never show.
    """

    def __init__(self, config: FleetConfig | None = None) -> None:
        """Generate the fleet described by `config` (the defaults when None)."""
        self.config: FleetConfig = config if config is not None else FleetConfig()
        cfg = self.config
        if cfg.history_end < cfg.history_start:
            raise ValueError("history_end is before history_start")
        if cfg.customers < 0:
            raise ValueError("customers must be >= 0")
        self._start_ord = cfg.history_start.toordinal()
        self._ndays = cfg.history_end.toordinal() - self._start_ord + 1
        self._lock = threading.Lock()
        rng = random.Random(cfg.seed)
        self._customers: dict[str, _Customer] = {}
        self.customer_codes: list[str] = []
        for i in range(cfg.customers):
            code = f"{rng.getrandbits(64):016X}"
            while code in self._customers:
                code = f"{rng.getrandbits(64):016X}"
            info = {
                "Id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "Code": code,
                "Description": f"Customer {i + 1}",
                "TimeZoneIana": _TIME_ZONES[rng.randrange(len(_TIME_ZONES))],
            }
            self._customers[code] = _Customer(i, info, rng.getrandbits(64))
            self.customer_codes.append(code)

    # ---- scenario facts -------------------------------------------------------------

    # Reading these generates every customer, which is what a test wants anyway.

    @property
    def resets(self) -> list[MeterReset]:
        """Every meter reset, as (customer_code, device_id, date), in customer order."""
        return [r for c in self._all_customers() for r in c.resets]

    @property
    def stale_spans(self) -> list[StaleSpan]:
        """Every withheld-then-uploaded span, one entry per affected device."""
        return [s for c in self._all_customers() for s in c.stale]

    @property
    def added(self) -> list[AddedDevice]:
        """Every device added mid-range, as (customer_code, device_id, first_date)."""
        return [a for c in self._all_customers() for a in c.added]

    @property
    def missing(self) -> list[MissingDay]:
        """Every (customer_code, device_id, date) whose reading is never uploaded."""
        return [m for c in self._all_customers() for m in c.missing]

    def _all_customers(self) -> list[_Customer]:
        for code in self.customer_codes:
            self._devices_of(code)
        return [self._customers[code] for code in self.customer_codes]

    # ---- contract-shaped views --------------------------------------------------------

    def has_customer(self, code: str) -> bool:
        """Whether `code` is one of this fleet's customer codes."""
        return code in self._customers

    def customer(self, code: str) -> dict[str, Any]:
        """The `Result` of `GetCustomerByCode` for `code`; KeyError when unknown."""
        return dict(self._customers[code].info)

    def devices(self, code: str, as_of: date) -> list[dict[str, Any]]:
        """`Device/List` rows of the customer's devices whose first reading is before `as_of`.

        The counters and `LastUpdate` come from the latest reading served as of `as_of`.
        Rows are in generation order; the server sorts them.
        """
        t = as_of.toordinal()
        rows = []
        for dev in self._devices_of(code):
            if self._start_ord + dev.first_idx >= t:
                continue
            last = self._latest_visible(dev, t)
            info = dev.info
            rows.append(
                {
                    "Id": dev.id,
                    "CustomerCode": code,
                    "IsManaged": dev.managed,
                    "CounterMono": 0 if last is None else dev.mono[last],
                    "CounterColor": 0 if last is None else dev.color[last],
                    "LastUpdate": None if last is None else self._stamp(dev, last),
                    # A DCA that has not reported for a couple of days shows as offline.
                    "IsOffline": last is None or t - (self._start_ord + last) > 2,
                    "SerialNumber": info["SerialNumber"],
                    "AssetNumber": info["AssetNumber"],
                    "IpAddress": info["IpAddress"],
                    "MacAddress": info["MacAddress"],
                    "SystemName": info["SystemName"],
                    "Product": dict(info["Product"]),
                }
            )
        return rows

    def counter_rows(
        self, code: str, from_date: date, to_date: date, as_of: date
    ) -> list[dict[str, Any]]:
        """`Counter/List` rows: one per device with a reading served in from..to (inclusive)."""
        t = as_of.toordinal()
        lo = max(from_date.toordinal() - self._start_ord, 0)
        hi = min(to_date.toordinal() - self._start_ord, self._ndays - 1)
        rows = []
        for dev in self._devices_of(code):
            counters = []
            prev: int | None = None
            last = None
            for i in range(max(lo, dev.first_idx), hi + 1):
                vf = dev.visible_from[i]
                if vf is None or vf > t:
                    continue
                mono, color = dev.mono[i], dev.color[i]
                if prev is None:
                    mono_pages = color_pages = 0
                else:
                    # After a reset the server reports the restarted counter as the period.
                    pm, pc = dev.mono[prev], dev.color[prev]
                    mono_pages = mono - pm if mono >= pm else mono
                    color_pages = color - pc if color >= pc else color
                counters.append(
                    {
                        "Date": date.fromordinal(self._start_ord + i).isoformat(),
                        "Mono": mono,
                        "Color": color,
                        "MonoPagesInPeriod": mono_pages,
                        "ColorPagesInPeriod": color_pages,
                    }
                )
                prev = last = i
            if last is None:
                continue
            rows.append(
                {
                    "DeviceId": dev.id,
                    "CustomerCode": code,
                    "SerialNumber": dev.info["SerialNumber"],
                    "AssetNumber": dev.info["AssetNumber"],
                    "LastUpdate": self._stamp(dev, last),
                    "Counters": counters,
                }
            )
        return rows

    # ---- ground truth -----------------------------------------------------------------

    def readings(self, code: str, as_of: date | None = None) -> dict[str, dict[date, int]]:
        """Ground truth: device_id -> {date: life count (Mono + Color)} served as of `as_of`.

        `as_of=None` means everything the server will ever serve, late uploads included.
        Devices with no reading served are left out, as `Counter/List` leaves them out.
        """
        t = None if as_of is None else as_of.toordinal()
        out: dict[str, dict[date, int]] = {}
        for dev in self._devices_of(code):
            per_day = {}
            for i in range(dev.first_idx, self._ndays):
                vf = dev.visible_from[i]
                if vf is None or (t is not None and vf > t):
                    continue
                per_day[date.fromordinal(self._start_ord + i)] = dev.mono[i] + dev.color[i]
            if per_day:
                out[dev.id] = per_day
        return out

    def managed(self, code: str) -> dict[str, bool]:
        """device_id -> IsManaged for every device of the customer."""
        return {dev.id: dev.managed for dev in self._devices_of(code)}

    def first_date(self, device_id: str) -> date:
        """The date of the device's first reading (whether or not served yet)."""
        for code in self.customer_codes:
            for dev in self._devices_of(code):
                if dev.id == device_id:
                    return date.fromordinal(self._start_ord + dev.first_idx)
        raise KeyError(device_id)

    # ---- generation -------------------------------------------------------------------

    def _stamp(self, dev: _Device, idx: int) -> str:
        d = date.fromordinal(self._start_ord + idx)
        return f"{d.isoformat()}T23:{dev.minute:02d}:00Z"

    def _latest_visible(self, dev: _Device, t: int) -> int | None:
        for i in range(min(t - 1 - self._start_ord, self._ndays - 1), dev.first_idx - 1, -1):
            vf = dev.visible_from[i]
            if vf is not None and vf <= t:
                return i
        return None

    def _devices_of(self, code: str) -> list[_Device]:
        cust = self._customers[code]
        devices = cust.devices
        if devices is None:
            with self._lock:
                if cust.devices is None:
                    cust.devices = self._generate(cust)
                devices = cust.devices
        return devices

    def _idx(self, d: date) -> int:
        return d.toordinal() - self._start_ord

    def _in_range(self, d: date) -> bool:
        return 0 <= self._idx(d) < self._ndays

    def _new_device(self, rng: random.Random, cust: _Customer, n: int) -> _Device:
        brand, model = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
        info = {
            "Id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "SerialNumber": f"{brand[:2].upper()}{rng.randrange(10**7):07d}",
            "AssetNumber": f"A-{rng.randrange(1, 1000)}",
            "IpAddress": (
                f"10.{cust.index % 250 + 1}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            ),
            # Locally administered unicast, so no real vendor's address is ever shown.
            "MacAddress": ":".join(
                f"{(rng.randrange(256) & 0xFC) | 0x02 if k == 0 else rng.randrange(256):02x}"
                for k in range(6)
            ),
            "SystemName": f"PRN-{n + 1}{'ABCDEFGH'[rng.randrange(8)]}",
            "Product": {"Brand": brand, "Model": model},
        }
        return _Device(info, managed=rng.random() < 0.7, minute=rng.randrange(60))

    def _generate(self, cust: _Customer) -> list[_Device]:
        """Build one customer's devices, their counters and its scenario cases."""
        cfg = self.config
        rng = random.Random(cust.rng_seed)
        code = cust.info["Code"]
        n_base = max(2, cfg.devices_per_customer + rng.randint(-2, 2))
        devices = [self._new_device(rng, cust, n) for n in range(n_base)]
        first_date: dict[int, date] = {}
        kind = cust.index % _KINDS if cfg.scenarios else None
        # The first customer of each kind gets the canonical dates; later ones are shifted
        # by a seeded offset so a large fleet does not have every event on the same day.
        shift = timedelta(days=0 if cust.index < _KINDS else rng.randint(-30, 30))
        start = cfg.history_start

        if kind == _KIND_ADDED:
            for offset in (80, 128):
                d = _next_weekday(start + timedelta(days=offset) + shift)
                if self._in_range(d) and d > start:
                    dev = self._new_device(rng, cust, len(devices))
                    # New devices arrive as managed contracts, so both scopes see them.
                    dev.managed = True
                    first_date[len(devices)] = d
                    devices.append(dev)

        # Every customer has a managed device and, with three or more, an unmanaged one.
        if not any(d.managed for d in devices):
            devices[0].managed = True
        if len(devices) >= 3 and not any(not d.managed for d in devices):
            devices[rng.randrange(n_base)].managed = False

        for i, dev in enumerate(devices):
            dev.first_idx = self._idx(first_date.get(i, start))
            self._fill_counters(rng, dev, is_new=i in first_date)

        if kind == _KIND_ADDED:
            for i, d in first_date.items():
                cust.added.append(AddedDevice(code, devices[i].id, d))
        elif kind == _KIND_MONTH_END_OUTAGE:
            ends = _month_ends(start + timedelta(days=45), cfg.history_end - timedelta(days=10))
            if ends:
                month_end = ends[0] if cust.index < _KINDS else ends[rng.randrange(len(ends))]
                # Offline Sep 28, back Oct 9 for the default config: 9 business days.
                self._outage(
                    cust, devices, month_end - timedelta(days=2), month_end + timedelta(days=9)
                )
        elif kind == _KIND_RESET_AND_MISSING:
            reset_dev = self._pick(rng, devices)
            self._reset(cust, reset_dev, _next_weekday(start + timedelta(days=107) + shift))
            others = [d for d in devices if d is not reset_dev]
            missing_dev = others[rng.randrange(len(others))]
            for offset in (40, 41, 150):
                self._miss(cust, missing_dev, _next_weekday(start + timedelta(days=offset) + shift))
        elif kind == _KIND_RESET_AND_OUTAGE:
            self._outage(
                cust,
                devices,
                start + timedelta(days=165) + shift,
                start + timedelta(days=177) + shift,
            )
            reset_dev = self._pick(rng, devices)
            self._reset(cust, reset_dev, _next_weekday(start + timedelta(days=186) + shift))
        return devices

    @staticmethod
    def _pick(rng: random.Random, devices: list[_Device]) -> _Device:
        """A managed device when there is one, so the case is in scope for both scopes."""
        pool = [d for d in devices if d.managed] or devices
        return pool[rng.randrange(len(pool))]

    def _fill_counters(self, rng: random.Random, dev: _Device, *, is_new: bool) -> None:
        n = self._ndays
        dev.mono = [0] * n
        dev.color = [0] * n
        dev.visible_from = [None] * n
        mono = rng.randint(0, 2_000) if is_new else rng.randint(10_000, 500_000)
        # About a third of the fleet is mono-only.
        color_share = 0.0 if rng.random() < 0.3 else rng.uniform(0.1, 0.5)
        color = 0 if color_share == 0.0 else (rng.randint(0, 500) if is_new else mono // 8)
        weekday0 = self.config.history_start.weekday()
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
            dev.visible_from[i] = self._start_ord + i + 1

    def _reset(self, cust: _Customer, dev: _Device, d: date) -> None:
        i = self._idx(d)
        if not (dev.first_idx < i < self._ndays) or dev.visible_from[i] is None:
            return
        # The meter restarts at zero, so that day's reading is that day's pages alone and
        # every later reading drops by the counter it had the day before.
        dm, dc = dev.mono[i - 1], dev.color[i - 1]
        for j in range(i, self._ndays):
            dev.mono[j] -= dm
            dev.color[j] -= dc
        cust.resets.append(MeterReset(cust.info["Code"], dev.id, d))

    def _outage(self, cust: _Customer, devices: list[_Device], first: date, upload: date) -> None:
        # The DCA reports nothing from `first` until it reconnects on `upload`, and then
        # uploads everything it missed at once. Holding back only part of that window would
        # let the feed look healthy again before the backlog exists, and the contract's
        # recovery (re-collect from L + 1 once healthy) could never put those pages on
        # their own dates.
        last = upload - timedelta(days=1)
        if not (self._in_range(first) and self._in_range(last)) or last < first:
            return
        lo, hi = self._idx(first), self._idx(last)
        for dev in devices:
            if dev.first_idx > lo:
                continue
            for i in range(lo, hi + 1):
                if dev.visible_from[i] is not None:
                    dev.visible_from[i] = upload.toordinal()
            cust.stale.append(StaleSpan(cust.info["Code"], dev.id, first, last, upload))

    def _miss(self, cust: _Customer, dev: _Device, d: date) -> None:
        i = self._idx(d)
        if not (dev.first_idx < i < self._ndays) or dev.visible_from[i] is None:
            return
        dev.visible_from[i] = None
        cust.missing.append(MissingDay(cust.info["Code"], dev.id, d))
