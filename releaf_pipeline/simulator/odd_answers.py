"""Honest but odd answers the contract allows, as a real server may give them night after
night: a device without a colour counter (null), two different readings for one date,
and device ids spelled in another case in one of the two lists. (Pages shorter than asked
for are the server's `page_cap`, applied where Device/List is answered.)

Each one is persistent: it changes every matching answer from the moment it is set, not
a number of requests. None of them changes a device's life count: a null counter's pages
are folded into the other counter, and a second reading is always lower than the real
one, so the fleet's ground truth (`Fleet.readings`) is what the contract's rules make of
the answers: null counts as 0, the higher reading stands, ids compare without case.
`apply_odd_answers` changes the real answer of a Counter/List or Device/List request.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH, DEVICE_LIST_PATH
from releaf_pipeline.simulator.contract import Reply

_COUNTERS = {"Mono": "Color", "Color": "Mono"}


@dataclass(frozen=True)
class NullCounter:
    """`device_id` of `customer` has no `counter` (``"Color"``: a mono printer): it is sent
    as null, in Counter/List and as Device/List's `Counter<counter>`, its pages counted on
    the other counter."""

    customer: str
    device_id: str
    counter: str = "Color"


@dataclass(frozen=True)
class DuplicateReadings:
    """Beside each reading of `device_id` of `customer` dated `since` or later, Counter/List
    sends a second one, `less_by` pages lower, in a row of its own placed before the real
    row, its Counters in reverse date order."""

    customer: str
    device_id: str
    since: date
    less_by: int = 37


@dataclass(frozen=True)
class RecasedIds:
    """`path` (Counter/List or Device/List) spells every device id of `customer` in upper
    case (`upper`) or in lower case."""

    customer: str
    path: str
    upper: bool = True


def apply_odd_answers(
    path: str,
    body: Any,
    reply: Reply,
    nulls: Iterable[NullCounter],
    duplicates: Iterable[DuplicateReadings],
    recased: Iterable[RecasedIds],
) -> None:
    """Change a successful Counter/List or Device/List answer in place."""
    env = reply.payload
    if reply.status != 200 or not isinstance(env, dict) or not env.get("IsValid"):
        return
    rows = env.get("Result")
    if not isinstance(body, dict) or not isinstance(rows, list):
        return
    if path == COUNTER_LIST_PATH:
        codes = {body.get("CustomerCode")}
    elif path == DEVICE_LIST_PATH:
        codes = set(body.get("FilterCustomerCodes") or []) or {
            row.get("CustomerCode") for row in rows
        }
    else:
        return
    for null in (n for n in nulls if n.customer in codes):
        for row in rows:
            _null_counter(path, row, null)
    if path == COUNTER_LIST_PATH:
        for dup in (d for d in duplicates if d.customer in codes):
            _add_lower_readings(rows, dup)
    for recase in (r for r in recased if r.customer in codes and r.path == path):
        key = "DeviceId" if path == COUNTER_LIST_PATH else "Id"
        for row in rows:
            if row.get("CustomerCode") == recase.customer and isinstance(row.get(key), str):
                row[key] = row[key].upper() if recase.upper else row[key].lower()


def _null_counter(path: str, row: dict[str, Any], null: NullCounter) -> None:
    other = _COUNTERS[null.counter]
    if path == DEVICE_LIST_PATH:
        if row.get("Id") != null.device_id:
            return
        gone, kept = f"Counter{null.counter}", f"Counter{other}"
        row[kept] = (row.get(kept) or 0) + (row.get(gone) or 0)
        row[gone] = None
        return
    if row.get("DeviceId") != null.device_id:
        return
    for counter in row.get("Counters") or []:
        counter[other] = (counter.get(other) or 0) + (counter.get(null.counter) or 0)
        counter[null.counter] = None
        counter[f"{null.counter}PagesInPeriod"] = None


def _add_lower_readings(rows: list[dict[str, Any]], dup: DuplicateReadings) -> None:
    for index, row in enumerate(rows):
        if row.get("DeviceId") != dup.device_id:
            continue
        lower = []
        for counter in reversed(row.get("Counters") or []):
            if counter.get("Date", "") < dup.since.isoformat():
                continue
            second = copy.deepcopy(counter)
            # Taken off the counter that has the pages, so no counter goes negative.
            biggest = "Mono" if (second.get("Mono") or 0) >= (second.get("Color") or 0) else "Color"
            second[biggest] = max((second.get(biggest) or 0) - dup.less_by, 0)
            lower.append(second)
        if lower:
            rows.insert(index, dict(copy.deepcopy(row), Counters=lower))
        return
