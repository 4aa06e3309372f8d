"""Typed results of the four contract requests, holding only the fields the pipeline keeps.

Serial numbers, asset numbers, IP and MAC addresses, system names, product names and
customer descriptions never make it into these models, so they cannot be stored or logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Ping:
    """Answer of `GET /api3/PrintReleaf/Ping`."""

    dealer_code: str
    server_time_utc: datetime


@dataclass(frozen=True)
class Customer:
    """Answer of `POST /api3/Customer/GetCustomerByCode` (description dropped)."""

    id: str
    code: str
    time_zone: str


@dataclass(frozen=True)
class Device:
    """One row of `POST /api3/Device/List`: identity, managed flag and life count."""

    device_id: str
    customer_code: str
    managed: bool
    life_count: int
    last_update: datetime | None = None


@dataclass(frozen=True)
class DeviceReadings:
    """One row of `POST /api3/Counter/List`: the device's life count (Mono + Color) per date.

    `rejected` holds the dates whose reading was impossible (a negative or absurd
    counter), with why: they are flagged, never counted. `duplicates` holds the dates the
    server gave two or more different readings for, with every value sent (ascending):
    the highest is the one in `counts`, and the date is flagged.
    """

    device_id: str
    counts: dict[date, int] = field(default_factory=dict)
    rejected: dict[date, str] = field(default_factory=dict)
    duplicates: dict[date, tuple[int, ...]] = field(default_factory=dict)
