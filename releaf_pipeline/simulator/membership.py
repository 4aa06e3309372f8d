"""Counter/List rows that Device/List does not back: a ghost device and a re-keyed one.

A `GhostDevice` is reported by the customer's Counter/List, with huge counts, while its
Device/List does not list it (until the ghost is `listed`). A `RekeyedDevice` is a listed
device whose Counter/List readings from a date on come under a new id only, while
Device/List keeps listing the old one. Both are deterministic in the reading's date, so
a test can compute what was served, and a clean re-collect sees the same rows.
`apply_membership` changes the real answer of a Counter/List or Device/List request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    DEVICE_LIST_PATH,
    MAX_PAGE_ROWS,
)
from releaf_pipeline.simulator.contract import Reply

Published = Callable[[str, date], bool]
"""Whether the customer's reading dated that day has been published yet."""


@dataclass(frozen=True)
class GhostDevice:
    """A device in `customer`'s Counter/List with a reading on every published date from
    `first`: `start` pages on `first`, `per_day` more each day. Device/List lists it only
    while `listed`."""

    customer: str
    device_id: str
    first: date
    per_day: int = 1_000_020
    start: int = 5_000_000
    listed: bool = False

    def count(self, day: date) -> int:
        """Its life count on `day` (on or after `first`)."""
        return self.start + (day - self.first).days * self.per_day

    def readings(self, first: date, last: date, published: Published) -> dict[date, int]:
        """Its readings dated `first`..`last` that are published."""
        day, out = max(first, self.first), {}
        while day <= last and published(self.customer, day):
            out[day] = self.count(day)
            day += timedelta(days=1)
        return out


@dataclass(frozen=True)
class RekeyedDevice:
    """`device_id` of `customer`, whose Counter/List readings dated `since` or later come
    under `new_id` only."""

    customer: str
    device_id: str
    new_id: str
    since: date


def apply_membership(
    path: str,
    body: Any,
    reply: Reply,
    ghosts: Iterable[GhostDevice],
    rekeyed: Iterable[RekeyedDevice],
    published: Published,
    page_cap: int = MAX_PAGE_ROWS,
) -> None:
    """Change a successful Counter/List or Device/List answer in place (Device/List pages
    holding at most `page_cap` rows)."""
    env = reply.payload
    if reply.status != 200 or not isinstance(env, dict) or not env.get("IsValid"):
        return
    if not isinstance(body, dict) or not isinstance(env.get("Result"), list):
        return
    if path == COUNTER_LIST_PATH:
        _counter_rows(body, env["Result"], list(ghosts), list(rekeyed), published)
    elif path == DEVICE_LIST_PATH:
        _listed_ghosts(body, env, [g for g in ghosts if g.listed], page_cap)


def _counter_rows(
    body: dict[str, Any],
    rows: list[dict[str, Any]],
    ghosts: list[GhostDevice],
    rekeyed: list[RekeyedDevice],
    published: Published,
) -> None:
    code = body["CustomerCode"]
    first, last = date.fromisoformat(body["FromDate"]), date.fromisoformat(body["ToDate"])
    for move in (r for r in rekeyed if r.customer == code):
        for row in [r for r in rows if r["DeviceId"] == move.device_id]:
            later = [c for c in row["Counters"] if c["Date"] >= move.since.isoformat()]
            if not later:
                continue
            row["Counters"] = [c for c in row["Counters"] if c not in later]
            rows.append(dict(row, DeviceId=move.new_id, Counters=later))
            if not row["Counters"]:
                rows.remove(row)
    for ghost in (g for g in ghosts if g.customer == code):
        counts = ghost.readings(first, last, published)
        if counts:
            rows.append(_ghost_row(ghost, counts))


def _ghost_row(ghost: GhostDevice, counts: dict[date, int]) -> dict[str, Any]:
    counters = [
        {"Date": day.isoformat(), "Mono": n, "Color": 0,
         "MonoPagesInPeriod": 0, "ColorPagesInPeriod": 0}
        for day, n in counts.items()
    ]  # fmt: skip
    return {
        "DeviceId": ghost.device_id,
        "CustomerCode": ghost.customer,
        "LastUpdate": f"{max(counts).isoformat()}T23:00:00Z",
        "Counters": counters,
    }


def _listed_ghosts(
    body: dict[str, Any], env: dict[str, Any], ghosts: list[GhostDevice], page_cap: int
) -> None:
    """Listed ghosts come after the fleet's own devices, on the pages their places fall."""
    codes = body.get("FilterCustomerCodes") or []
    mine = [g for g in ghosts if not codes or g.customer in codes]
    total = env.get("TotalRows")
    if not mine or not isinstance(total, int):
        return
    per_page = min(body["PageRows"], MAX_PAGE_ROWS, page_cap)
    first = (body["PageNumber"] - 1) * per_page
    for place, ghost in enumerate(mine, start=total):
        if first <= place < first + per_page:
            env["Result"].append(
                {"Id": ghost.device_id, "CustomerCode": ghost.customer, "IsManaged": True,
                 "CounterMono": 0, "CounterColor": 0, "LastUpdate": None, "IsOffline": True}
            )  # fmt: skip
    env["TotalRows"] = total + len(mine)
