"""The fleet's model: one UTC timeline of whole seconds, devices with their daily counters,
customers, and the calendar of when each day's reading is published.

Time is ordinal day * `DAY` + seconds into the day. Integers keep the per-reading
visibility check as cheap as comparing date ordinals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from releaf_pipeline.simulator.config import (
    AddedDevice,
    FleetConfig,
    MeterReset,
    MissingDay,
    StaleSpan,
)

DAY = 86_400
_LOCAL_PUBLICATION_LAG = 30 * 60


def seconds(moment: date | datetime) -> int:
    """`moment` on the fleet's timeline; a date means its 00:00 UTC."""
    if isinstance(moment, datetime):
        if moment.utcoffset() is None:
            raise ValueError(f"{moment!r} is a naive datetime; give one with a time zone")
        u = moment.astimezone(UTC)
        # Sub-second parts are dropped: visibility times are whole seconds, so flooring
        # the query moment never changes which readings it sees.
        return u.toordinal() * DAY + u.hour * 3600 + u.minute * 60 + u.second
    return moment.toordinal() * DAY


def moment(t: int) -> datetime:
    """The aware UTC datetime of timeline second `t`."""
    day, sec = divmod(t, DAY)
    return datetime.combine(date.fromordinal(day), time(), UTC) + timedelta(seconds=sec)


@dataclass(slots=True, eq=False)
class Device:
    """One device's identity and precomputed daily counters."""

    info: dict[str, Any]
    managed: bool
    """IsManaged before any configured change; `flips` holds (moment, flag) in time order."""
    minute: int
    flips: list[tuple[int, bool]] = field(default_factory=list)
    first_idx: int = 0
    listed_from: int = 0
    """Device/List shows the device from this moment: its first reading's publication."""
    mono: list[int] = field(default_factory=list)
    """Lifetime counters at the end of day index i (index 0 = history_start)."""
    color: list[int] = field(default_factory=list)
    visible_from: list[int | None] = field(default_factory=list)
    """The moment (see `seconds`) from which the reading of day i is served; None when the
    device has no reading that day, ever."""

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


@dataclass(slots=True, eq=False)
class Customer:
    """One customer: its `GetCustomerByCode` answer, its seed and, once generated, its
    devices and scenario facts."""

    index: int
    info: dict[str, Any]
    rng_seed: int
    devices: list[Device] | None = None
    resets: list[MeterReset] = field(default_factory=list)
    stale: list[StaleSpan] = field(default_factory=list)
    added: list[AddedDevice] = field(default_factory=list)
    missing: list[MissingDay] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.info["Code"]


class Calendar:
    """The fleet's days (index 0 = `history_start`) and when each day's reading is published."""

    def __init__(self, cfg: FleetConfig, delays: dict[int, int]) -> None:
        self.start = cfg.history_start
        self.start_ord = cfg.history_start.toordinal()
        self.ndays = cfg.history_end.toordinal() - self.start_ord + 1
        self._delays = delays
        self._local = cfg.publish_in_local_time

    def idx(self, d: date) -> int:
        return d.toordinal() - self.start_ord

    def date(self, idx: int) -> date:
        return date.fromordinal(self.start_ord + idx)

    def in_range(self, d: date) -> bool:
        return 0 <= self.idx(d) < self.ndays

    def publish_seconds(self, cust: Customer, day_ord: int) -> int:
        """The moment the reading dated `day_ord` (an ordinal) is normally published."""
        delay = self._delays.get(cust.index)
        if delay is None and self._local:
            # The day ends at the next local midnight; converting that instant to UTC
            # takes care of daylight saving time.
            tz = ZoneInfo(cust.info["TimeZoneIana"])
            end = datetime.combine(date.fromordinal(day_ord + 1), time(), tz)
            return seconds(end) + _LOCAL_PUBLICATION_LAG
        return (day_ord + 1) * DAY + (delay or 0)
