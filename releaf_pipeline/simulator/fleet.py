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

On top of that a config can ask for the ways real DCAs send data late, at chosen dates:
a customer whose readings are published hours after its day ends (`publication_delays`,
`publish_in_local_time`), one device's DCA offline while the others report
(`device_outages`), a whole customer's DCA offline (`customer_outages`), and `IsManaged`
changing at a given moment (`managed_changes`). The default config asks for none of them.

Time is UTC throughout. Every query's `as_of` is a moment: an aware `datetime`, or a
`date` meaning that date at 00:00 UTC.
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "AddedDevice",
    "CustomerOutage",
    "DeviceOutage",
    "Fleet",
    "FleetConfig",
    "ManagedChange",
    "ManagedFlip",
    "MeterReset",
    "MissingDay",
    "StaleSpan",
]


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


class ManagedChange(NamedTuple):
    """From `at` on, `Device/List` shows a device with `IsManaged` = `managed`.

    `customer` and `device` are indexes as in `DeviceOutage`; `at` is an aware datetime,
    or a date meaning its 00:00 UTC.
    """

    customer: int
    device: int
    at: date | datetime
    managed: bool


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

# Moments are whole seconds on one UTC timeline: ordinal day * _DAY + seconds into the day.
# Integers keep the per-reading visibility check as cheap as the date ordinals it replaced.
_DAY = 86_400
_LOCAL_PUBLICATION_LAG = 30 * 60


def _seconds(moment: date | datetime) -> int:
    """`moment` on the fleet's timeline; a date means its 00:00 UTC."""
    if isinstance(moment, datetime):
        if moment.utcoffset() is None:
            raise ValueError(f"{moment!r} is a naive datetime; give one with a time zone")
        u = moment.astimezone(UTC)
        # Sub-second parts are dropped: visibility times are whole seconds, so flooring
        # the query moment never changes which readings it sees.
        return u.toordinal() * _DAY + u.hour * 3600 + u.minute * 60 + u.second
    return moment.toordinal() * _DAY


def _moment(t: int) -> datetime:
    day, sec = divmod(t, _DAY)
    return datetime.combine(date.fromordinal(day), time(), UTC) + timedelta(seconds=sec)


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
        "flips",
        "info",
        "listed_from",
        "managed",
        "minute",
        "mono",
        "visible_from",
    )

    def __init__(self, info: dict[str, Any], managed: bool, minute: int) -> None:
        self.info = info
        # IsManaged before any configured change; `flips` holds (moment, flag) in time order.
        self.managed = managed
        self.flips: list[tuple[int, bool]] = []
        self.minute = minute
        self.first_idx = 0
        # Device/List shows the device from this moment: its first reading's publication.
        self.listed_from = 0
        # Lifetime counters at the end of day index i (index 0 = history_start).
        self.mono: list[int] = []
        self.color: list[int] = []
        # The moment (see `_seconds`) from which the reading of day i is served;
        # None when the device has no reading that day, ever.
        self.visible_from: list[int | None] = []

    def managed_at(self, t: int) -> bool:
        """IsManaged at moment `t`: the last change at or before `t`, else the base flag."""
        flag = self.managed
        for at, managed in self.flips:
            if at > t:
                break
            flag = managed
        return flag

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

    Every query takes an `as_of` moment, the server's "now": an aware `datetime`, or a
    `date` meaning its 00:00 UTC. A reading dated D is published at `publication_time(code,
    D)`: 00:00 UTC of D + 1 unless the config delays it, so with a date T as `as_of` it is
    served when D < T. A reading withheld by a DCA outage is published when the outage's
    upload happens, i.e. together with the reading dated `upload - 1 day`. Never-uploaded
    days never show.
    """

    def __init__(self, config: FleetConfig | None = None) -> None:
        """Generate the fleet described by `config` (the defaults when None).

        Raises ValueError for a config that names a customer or device that does not
        exist, an outage whose upload is not after its first day or that does not lie
        within the history (such outages are refused, not ignored), or a naive datetime.
        """
        self.config: FleetConfig = config if config is not None else FleetConfig()
        cfg = self.config
        if cfg.history_end < cfg.history_start:
            raise ValueError("history_end is before history_start")
        if cfg.customers < 0:
            raise ValueError("customers must be >= 0")
        self._delays = self._check_config(cfg)
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
        # Device indexes can only be checked against generated devices: generate the few
        # customers the config names now, so a bad index fails here and not mid-test.
        # Generation is per customer and seeded, so doing it early changes nothing.
        named = {o.customer for o in cfg.device_outages} | {m.customer for m in cfg.managed_changes}
        for index in sorted(named):
            self._devices_of(self.customer_codes[index])

    @staticmethod
    def _check_config(cfg: FleetConfig) -> dict[int, int]:
        """Refuse a bad late-data config; return the publication delays in seconds."""

        def customer(index: int, what: str) -> None:
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"{what}: customer index must be an int, got {index!r}")
            if not 0 <= index < cfg.customers:
                raise ValueError(
                    f"{what}: no customer index {index} (the fleet has {cfg.customers})"
                )

        def window(first: date, upload: date, what: str) -> None:
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

        delays: dict[int, int] = {}
        for pair in cfg.publication_delays:
            index, hours = pair
            what = f"publication_delays {pair!r}"
            customer(index, what)
            if index in delays:
                raise ValueError(f"{what}: customer {index} has more than one delay")
            number = isinstance(hours, int | float) and not isinstance(hours, bool)
            if not (number and math.isfinite(hours) and hours > -24):
                raise ValueError(f"{what}: hours must be a finite number above -24")
            delays[index] = round(hours * 3600)
        for outage in cfg.customer_outages:
            customer(outage.customer, repr(outage))
            window(outage.first, outage.upload, repr(outage))
        for outage in cfg.device_outages:
            customer(outage.customer, repr(outage))
            window(outage.first, outage.upload, repr(outage))
        for change in cfg.managed_changes:
            customer(change.customer, repr(change))
            if not isinstance(change.at, date):
                raise ValueError(f"{change!r}: at must be a datetime or a date")
            if isinstance(change.at, datetime) and change.at.utcoffset() is None:
                raise ValueError(f"{change!r}: at is a naive datetime; give it a time zone")
            if not isinstance(change.managed, bool):
                raise ValueError(f"{change!r}: managed must be a bool")
        return delays

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

    @property
    def managed_changes(self) -> list[ManagedFlip]:
        """The configured `IsManaged` changes resolved to ids, in config order."""
        return [
            ManagedFlip(
                self.customer_codes[m.customer],
                self.device_ids(self.customer_codes[m.customer])[m.device],
                _moment(_seconds(m.at)),
                m.managed,
            )
            for m in self.config.managed_changes
        ]

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

    def devices(self, code: str, as_of: date | datetime) -> list[dict[str, Any]]:
        """`Device/List` rows of the customer's devices listed at `as_of`.

        A device is listed once its first reading's date has been published (see
        `publication_time`), whether or not that reading was withheld. The counters and
        `LastUpdate` come from the latest reading served at `as_of`; `IsManaged` is the
        flag shown at `as_of` (see `managed_at`). Rows are in generation order; the server
        sorts them.
        """
        t = _seconds(as_of)
        today = t // _DAY
        rows = []
        for dev in self._devices_of(code):
            if dev.listed_from > t:
                continue
            last = self._latest_visible(dev, t)
            info = dev.info
            rows.append(
                {
                    "Id": dev.id,
                    "CustomerCode": code,
                    "IsManaged": dev.managed_at(t),
                    "CounterMono": 0 if last is None else dev.mono[last],
                    "CounterColor": 0 if last is None else dev.color[last],
                    "LastUpdate": None if last is None else self._stamp(dev, last),
                    # A DCA that has not reported for a couple of (UTC) days shows as offline.
                    "IsOffline": last is None or today - (self._start_ord + last) > 2,
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
        self, code: str, from_date: date, to_date: date, as_of: date | datetime
    ) -> list[dict[str, Any]]:
        """`Counter/List` rows: one per device with a reading served at `as_of` dated
        from..to (inclusive)."""
        t = _seconds(as_of)
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

    def readings(
        self, code: str, as_of: date | datetime | None = None
    ) -> dict[str, dict[date, int]]:
        """Ground truth: device_id -> {date: life count (Mono + Color)} served at `as_of`.

        `as_of=None` means everything the server will ever serve, late uploads included.
        Devices with no reading served are left out, as `Counter/List` leaves them out.
        """
        t = None if as_of is None else _seconds(as_of)
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
        """device_id -> IsManaged for every device of the customer, before any configured
        `managed_changes` (so for a config without them, the flag at every moment)."""
        return {dev.id: dev.managed for dev in self._devices_of(code)}

    def managed_at(self, code: str, as_of: date | datetime) -> dict[str, bool]:
        """device_id -> IsManaged shown at `as_of`, for every device of the customer
        (listed yet or not): the configured changes dated at or before `as_of` applied."""
        t = _seconds(as_of)
        return {dev.id: dev.managed_at(t) for dev in self._devices_of(code)}

    def device_ids(self, code: str) -> list[str]:
        """The customer's device ids in generation order: the indexes a config names."""
        return [dev.id for dev in self._devices_of(code)]

    def publication_time(self, code: str, day: date) -> datetime:
        """When the reading dated `day` is normally published (outages aside), in UTC."""
        return _moment(self._publish_seconds(self._customers[code], day.toordinal()))

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
        # A customer east of UTC publishes D's reading before D ends in UTC, so the scan
        # starts at the moment's own UTC date.
        for i in range(min(t // _DAY - self._start_ord, self._ndays - 1), dev.first_idx - 1, -1):
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

    def _publish_seconds(self, cust: _Customer, day_ord: int) -> int:
        """The moment the reading dated `day_ord` (an ordinal) is normally published."""
        delay = self._delays.get(cust.index)
        if delay is None and self.config.publish_in_local_time:
            # The day ends at the next local midnight; converting that instant to UTC
            # takes care of daylight saving time.
            tz = ZoneInfo(cust.info["TimeZoneIana"])
            end = datetime.combine(date.fromordinal(day_ord + 1), time(), tz)
            return _seconds(end) + _LOCAL_PUBLICATION_LAG
        return (day_ord + 1) * _DAY + (delay or 0)

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

        published = [self._publish_seconds(cust, self._start_ord + i) for i in range(self._ndays)]
        for i, dev in enumerate(devices):
            dev.first_idx = self._idx(first_date.get(i, start))
            dev.listed_from = published[dev.first_idx]
            self._fill_counters(rng, dev, published, is_new=i in first_date)

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
        # The configured cases come last and draw nothing from `rng`, so they never change
        # the seeded fleet underneath them.
        self._configured(cust, devices)
        return devices

    def _configured(self, cust: _Customer, devices: list[_Device]) -> None:
        """Apply the config's outages and IsManaged changes that name this customer."""
        cfg = self.config

        def device(index: int, what: str) -> _Device:
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"{what}: device index must be an int, got {index!r}")
            if not 0 <= index < len(devices):
                raise ValueError(
                    f"{what}: customer {cust.index} has no device index {index} "
                    f"(it has {len(devices)})"
                )
            return devices[index]

        for c_out in cfg.customer_outages:
            if c_out.customer == cust.index:
                self._outage(cust, devices, c_out.first, c_out.upload)
        for d_out in cfg.device_outages:
            if d_out.customer != cust.index:
                continue
            dev = device(d_out.device, repr(d_out))
            if dev.first_idx > self._idx(d_out.first):
                raise ValueError(
                    f"{d_out!r}: the device's first reading is dated "
                    f"{date.fromordinal(self._start_ord + dev.first_idx)}, after first"
                )
            self._outage(cust, [dev], d_out.first, d_out.upload)
        for change in cfg.managed_changes:
            if change.customer == cust.index:
                dev = device(change.device, repr(change))
                dev.flips.append((_seconds(change.at), change.managed))
        for dev in devices:
            # A stable sort: changes at the same moment apply in config order.
            dev.flips.sort(key=lambda flip: flip[0])

    @staticmethod
    def _pick(rng: random.Random, devices: list[_Device]) -> _Device:
        """A managed device when there is one, so the case is in scope for both scopes."""
        pool = [d for d in devices if d.managed] or devices
        return pool[rng.randrange(len(pool))]

    def _fill_counters(
        self, rng: random.Random, dev: _Device, published: list[int], *, is_new: bool
    ) -> None:
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
            dev.visible_from[i] = published[i]

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
        # The backlog goes up when the DCA would have published the day before `upload`.
        released = self._publish_seconds(cust, last.toordinal())
        for dev in devices:
            if dev.first_idx > lo:
                continue
            for i in range(lo, hi + 1):
                vf = dev.visible_from[i]
                # Overlapping outages hold a reading until the last of them uploads.
                if vf is not None and vf < released:
                    dev.visible_from[i] = released
            cust.stale.append(StaleSpan(cust.info["Code"], dev.id, first, last, upload))

    def _miss(self, cust: _Customer, dev: _Device, d: date) -> None:
        i = self._idx(d)
        if not (dev.first_idx < i < self._ndays) or dev.visible_from[i] is None:
            return
        dev.visible_from[i] = None
        cust.missing.append(MissingDay(cust.info["Code"], dev.id, d))
