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
(`device_outages`), a whole customer's DCA offline (`customer_outages`), one reading
uploaded days after the device's later ones (`out_of_order_uploads`), and `IsManaged`
changing at a given moment (`managed_changes`). The default config asks for none of them.

Time is UTC throughout. Every query's `as_of` is a moment: an aware `datetime`, or a
`date` meaning that date at 00:00 UTC.
"""

from __future__ import annotations

import threading
import zlib
from datetime import date, datetime
from typing import Any

from releaf_pipeline.simulator.config import (
    AddedDevice,
    FleetConfig,
    ManagedFlip,
    MeterReset,
    MissingDay,
    StaleSpan,
    check_config,
)
from releaf_pipeline.simulator.generation import generate_devices, make_customers
from releaf_pipeline.simulator.model import DAY, Calendar, Customer, Device, moment, seconds

_DESCRIPTION = ("SerialNumber", "AssetNumber", "IpAddress", "MacAddress", "SystemName")
"""What Device/List says of a device beyond the contract's fields: never kept by the client."""


class Fleet:
    """The deterministic synthetic fleet of one dealer.

    Customers and their codes are generated up front; each customer's devices and daily
    counters are generated on first use (then cached), so a fleet of thousands of
    customers starts instantly and a simulator only pays for what it serves.

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
        self._cal = Calendar(cfg, check_config(cfg))
        self._lock = threading.Lock()
        customers = make_customers(cfg)
        self._customers: dict[str, Customer] = {c.code: c for c in customers}
        self.customer_codes: list[str] = [c.code for c in customers]
        # Device indexes can only be checked against generated devices: generate the few
        # customers the config names now, so a bad index fails here and not mid-test.
        # Generation is per customer and seeded, so doing it early changes nothing.
        named = (
            {o.customer for o in cfg.device_outages}
            | {m.customer for m in cfg.managed_changes}
            | {u.customer for u in cfg.out_of_order_uploads}
            | {g.customer for g in cfg.meter_glitches}
        )
        for index in sorted(named):
            self._devices_of(self.customer_codes[index])

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
                moment(seconds(m.at)),
                m.managed,
            )
            for m in self.config.managed_changes
        ]

    def _all_customers(self) -> list[Customer]:
        for code in self.customer_codes:
            self._devices_of(code)
        return [self._customers[code] for code in self.customer_codes]

    def as_dealer(self, dealer_code: str) -> Fleet:
        """Another dealer's fleet whose customers carry this fleet's customer codes: the
        same history and shape, but other devices and other counters (drawn from a seed of
        `dealer_code`), without this fleet's configured late-data cases. What a server at
        the same URL serves after a dealer swap (`Simulator.swap_dealer`).

        Raises ValueError when `dealer_code` is this fleet's own.
        """
        if dealer_code == self.config.dealer_code:
            raise ValueError(f"{dealer_code} is this fleet's own dealer code")
        cfg = self.config
        return Fleet(
            FleetConfig(
                seed=zlib.crc32(dealer_code.encode()),
                customers=cfg.customers,
                devices_per_customer=cfg.devices_per_customer,
                history_start=cfg.history_start,
                history_end=cfg.history_end,
                dealer_code=dealer_code,
                scenarios=cfg.scenarios,
                customer_codes=tuple(self.customer_codes),
            )
        )

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
        t = seconds(as_of)
        today = t // DAY
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
                    "IsOffline": last is None or today - (self._cal.start_ord + last) > 2,
                    **{k: info[k] for k in _DESCRIPTION},
                    "Product": dict(info["Product"]),
                }
            )
        return rows

    def counter_rows(
        self, code: str, from_date: date, to_date: date, as_of: date | datetime
    ) -> list[dict[str, Any]]:
        """`Counter/List` rows: one per device with a reading served at `as_of` dated
        from..to (inclusive)."""
        t = seconds(as_of)
        cal = self._cal
        lo = max(cal.idx(from_date), 0)
        hi = min(cal.idx(to_date), cal.ndays - 1)
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
                        "Date": cal.date(i).isoformat(),
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
        t = None if as_of is None else seconds(as_of)
        out: dict[str, dict[date, int]] = {}
        for dev in self._devices_of(code):
            per_day = {}
            for i in range(dev.first_idx, self._cal.ndays):
                vf = dev.visible_from[i]
                if vf is None or (t is not None and vf > t):
                    continue
                per_day[self._cal.date(i)] = dev.mono[i] + dev.color[i]
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
        t = seconds(as_of)
        return {dev.id: dev.managed_at(t) for dev in self._devices_of(code)}

    def device_ids(self, code: str) -> list[str]:
        """The customer's device ids in generation order: the indexes a config names."""
        return [dev.id for dev in self._devices_of(code)]

    def publication_time(self, code: str, day: date) -> datetime:
        """When the reading dated `day` is normally published (outages aside), in UTC."""
        return moment(self._cal.publish_seconds(self._customers[code], day.toordinal()))

    def first_date(self, device_id: str) -> date:
        """The date of the device's first reading (whether or not served yet)."""
        for code in self.customer_codes:
            for dev in self._devices_of(code):
                if dev.id == device_id:
                    return self._cal.date(dev.first_idx)
        raise KeyError(device_id)

    # ---- internals --------------------------------------------------------------------

    def _stamp(self, dev: Device, idx: int) -> str:
        return f"{self._cal.date(idx).isoformat()}T23:{dev.minute:02d}:00Z"

    def _latest_visible(self, dev: Device, t: int) -> int | None:
        # A customer east of UTC publishes D's reading before D ends in UTC, so the scan
        # starts at the moment's own UTC date.
        cal = self._cal
        for i in range(min(t // DAY - cal.start_ord, cal.ndays - 1), dev.first_idx - 1, -1):
            vf = dev.visible_from[i]
            if vf is not None and vf <= t:
                return i
        return None

    def _devices_of(self, code: str) -> list[Device]:
        cust = self._customers[code]
        devices = cust.devices
        if devices is None:
            with self._lock:
                if cust.devices is None:
                    cust.devices = generate_devices(self.config, self._cal, cust)
                devices = cust.devices
        return devices
