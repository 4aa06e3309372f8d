"""From the contract's JSON to the typed models of `models.py`, checking every field.

Nothing here knows about HTTP or the server: a pydantic model per answer (and per row)
checks each field the pipeline keeps, strictly and ignoring the rest; a parser takes the
decoded JSON and a `where` (the request and the row, e.g. ``Device/List page 2 row 7``) and
either returns a model holding only those fields, or raises `Malformed` naming the request
and the field. The client turns a `Malformed` into one `InvalidResponseError` naming the
server.
"""

from __future__ import annotations

import json
from collections.abc import Container
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from releaf_pipeline.lib.mpsmonitor.contract import MAX_IDENTIFIER_LENGTH, is_identifier
from releaf_pipeline.lib.mpsmonitor.models import Customer, Device, DeviceReadings, Ping

# A lifetime counter above this is not a printer's: a billion pages is decades of the
# busiest production press.
MAX_LIFE_COUNT = 1_000_000_000
# How much of a refused identifier a message may quote, escaped.
_QUOTED_CHARACTERS = 16


class Malformed(Exception):
    """A response does not follow the contract; the message names the request and the field."""


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _refuse(what: str) -> PydanticCustomError:
    return PydanticCustomError("releaf", "{what}", {"what": what})


def _identifier(value: object) -> object:
    """A DealerCode, customer code or device id: 1 to 64 printable ASCII characters.

    Anything else is refused here, at the edge, so no store, log line or terminal ever
    holds it. The message quotes only an escaped, truncated start of the value: it may
    carry escape sequences meant for a terminal.
    """
    if isinstance(value, str) and not is_identifier(value):
        raise _refuse(
            f"must be 1 to {MAX_IDENTIFIER_LENGTH} printable ASCII characters without "
            f"spaces, got {_quoted(value)}"
        )
    return value


def _quoted(value: str) -> str:
    """A refused value as a message may show it: escaped to ASCII, cut short, its length."""
    if not value:
        return "an empty string"
    shown = ascii(value[:_QUOTED_CHARACTERS])
    more = "..." if len(value) > _QUOTED_CHARACTERS else ""
    return f"{shown}{more} ({len(value)} characters)"


def _not_empty(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise _refuse("must not be empty")
    return value


def _iso_date(value: object) -> object:
    if not isinstance(value, str):
        raise _refuse(f"must be an ISO date, got {type_name(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _refuse("is not an ISO date (YYYY-MM-DD)") from None


def _utc(value: object) -> object:
    if value is None:
        return value
    if not isinstance(value, str):
        raise _refuse(f"must be an ISO date-time, got {type_name(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse("is not an ISO date-time") from None
    # The contract's times are UTC ("...Z"); a naive value is read as UTC rather than
    # as the pipeline host's local time.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


Identifier = Annotated[str, BeforeValidator(_identifier)]
Text = Annotated[str, BeforeValidator(_not_empty)]
Day = Annotated[date, BeforeValidator(_iso_date)]
UtcTime = Annotated[datetime, BeforeValidator(_utc)]
# A lifetime counter of Device/List: null on a device that lacks it counts as 0.
LifeCounter = Annotated[int, Field(ge=0)] | None


class _Answer(BaseModel):
    # Strict: `true` is not a page count nor "2" a number; fields the pipeline does not
    # keep (serial numbers, addresses, names) are ignored, never read.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _Envelope(_Answer):
    IsValid: bool
    Errors: list[Any]
    Result: Any


class _Ping(_Answer):
    DealerCode: Identifier
    ServerTimeUtc: UtcTime


class _Customer(_Answer):
    Id: Identifier
    Code: Identifier
    TimeZoneIana: Text


class _Device(_Answer):
    Id: Identifier
    CustomerCode: Identifier
    IsManaged: bool
    CounterMono: LifeCounter
    CounterColor: LifeCounter
    LastUpdate: UtcTime | None = None


class _Reading(_Answer):
    Date: Day
    # A device that lacks this counter (a mono printer has no colour counter) sends null:
    # the contract counts it as 0. Negative ones are the device's problem, set aside below.
    Mono: int | None
    Color: int | None


class _CounterRow(_Answer):
    DeviceId: Identifier
    CustomerCode: Identifier | None = None
    Counters: list[_Reading]


_SAID = {
    "int_type": "must be an integer",
    "bool_type": "must be a boolean",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "greater_than_equal": "must not be negative",
}


def _said(error: ErrorDetails, where: str) -> str:
    """pydantic's error as the contract speaks of it: the row, the field, what is wrong."""
    loc = list(error["loc"])
    if len(loc) >= 2 and isinstance(loc[1], int):  # an entry of a list field
        where, loc = f"{where}, {loc[0]}[{loc[1] + 1}]", loc[2:]
    if not loc:
        return f"{where}: must be an object, got {type_name(error['input'])}"
    field = f"field {str(loc[0])!r}"
    kind = error["type"]
    if kind == "missing":
        return f"{where}: {field} is missing"
    if kind == "releaf":
        return f"{where}: {field} {(error.get('ctx') or {})['what']}"
    if kind in _SAID:
        got = "" if kind == "greater_than_equal" else f", got {type_name(error['input'])}"
        return f"{where}: {field} {_SAID[kind]}{got}"
    return f"{where}: {field} is not what the contract says ({kind})"


def _valid(model: type[_Answer], value: object, where: str) -> Any:
    if not isinstance(value, dict):
        raise Malformed(f"{where}: must be an object, got {type_name(value)}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise Malformed(_said(exc.errors()[0], where)) from None


def as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Malformed(f"{where} must be a list, got {type_name(value)}")
    return value


def device_key(device_id: str) -> str:
    """A device id as compared: the contract's device ids compare without regard to case."""
    return device_id.casefold()


def code_key(code: str) -> str:
    """A customer code as compared: hex codes that a server may echo in another case."""
    return code.strip().casefold()


def same_code(a: str, b: str) -> bool:
    return code_key(a) == code_key(b)


# -- the envelope ---------------------------------------------------------------------------


def parse_envelope(content: bytes, label: str) -> dict[str, Any]:
    """The body as the contract's envelope: an object with IsValid, Errors and Result."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        raise Malformed(f"{label}: the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise Malformed(f"{label}: the body: must be an object, got {type_name(data)}")
    _valid(_Envelope, data, label)
    return data


def error_codes(body: bytes | dict[str, Any]) -> list[str]:
    """The error codes of a rejection (its raw body or its envelope), or none when it has
    no readable `Errors`."""
    data: object = body
    if isinstance(body, bytes):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return []
    errors = data.get("Errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    # Only the codes: an error's Description may quote customer or device details.
    return [
        entry["Code"]
        for entry in errors
        if isinstance(entry, dict) and isinstance(entry.get("Code"), str)
    ]


def total_rows(envelope: dict[str, Any], label: str) -> int:
    total = envelope.get("TotalRows")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise Malformed(
            f"{label}: field 'TotalRows' must be a non-negative integer, got {type_name(total)}"
        )
    return total


# -- the four results -----------------------------------------------------------------------


def parse_ping(result: object, label: str) -> Ping:
    answer = _valid(_Ping, result, f"{label} Result")
    return Ping(dealer_code=answer.DealerCode, server_time_utc=answer.ServerTimeUtc)


def parse_customer(result: object, label: str, code: str) -> Customer:
    where = f"{label} Result"
    answer = _valid(_Customer, result, where)
    if not same_code(answer.Code, code):
        raise Malformed(f"{where}: the server answered for another customer code")
    return Customer(id=answer.Id, code=answer.Code, time_zone=answer.TimeZoneIana)


def parse_device(row: object, where: str, wanted: Container[str]) -> Device:
    """One Device/List row; `wanted` holds the `code_key` of every customer asked for."""
    answer = _valid(_Device, row, where)
    # A device of another customer would deposit its pages on the wrong account.
    if code_key(answer.CustomerCode) not in wanted:
        raise Malformed(f"{where}: device {answer.Id} belongs to another customer")
    return Device(
        device_id=answer.Id,
        customer_code=answer.CustomerCode,
        managed=answer.IsManaged,
        life_count=(answer.CounterMono or 0) + (answer.CounterColor or 0),
        last_update=answer.LastUpdate,
    )


def implausible(mono: int, color: int) -> str | None:
    """Why a well-formed reading cannot be a printer's (None when it can)."""
    if mono < 0 or color < 0:
        return f"negative counter (Mono {mono}, Color {color})"
    if mono + color > MAX_LIFE_COUNT:
        return f"absurd counter (Mono {mono}, Color {color}: over {MAX_LIFE_COUNT:,} pages)"
    return None


def add_reading(readings: DeviceReadings, day: date, life_count: int) -> None:
    """Put one reading of `day` into `readings`: when the server sends two different
    readings for one date, the higher stands and every value seen is kept in `duplicates`."""
    known = readings.counts.get(day)
    if known is None:
        readings.counts[day] = life_count
    elif known != life_count:
        seen = set(readings.duplicates.get(day, (known,)))
        seen.add(life_count)
        readings.duplicates[day] = tuple(sorted(seen))
        readings.counts[day] = max(known, life_count)


def parse_counter_row(
    row: object, where: str, customer_code: str, first: date, last: date
) -> DeviceReadings:
    """One Counter/List row: its DeviceId, life count per date, the dates set aside, and
    the dates the row gives two different readings for (the higher one counted)."""
    answer = _valid(_CounterRow, row, where)
    if answer.CustomerCode is not None and not same_code(answer.CustomerCode, customer_code):
        raise Malformed(f"{where}: device {answer.DeviceId} belongs to another customer")
    readings = DeviceReadings(answer.DeviceId)
    for index, reading in enumerate(answer.Counters, start=1):
        day, mono, color = reading.Date, reading.Mono or 0, reading.Color or 0
        if not first <= day <= last:
            raise Malformed(
                f"{where}, Counters[{index}]: reading dated {day} is outside the requested range"
            )
        # A well-formed but impossible reading is the device's problem, not the response's:
        # it is set aside (and flagged) so the rest of the customer's data still counts.
        problem = implausible(mono, color)
        if problem:
            readings.rejected[day] = problem
            continue
        add_reading(readings, day, mono + color)
    return readings


def merge_readings(into: DeviceReadings, more: DeviceReadings) -> None:
    """Merge another row of the same device into `into`, reading by reading."""
    into.rejected.update(more.rejected)
    for day, values in more.duplicates.items():
        for value in values:
            add_reading(into, day, value)
    for day, life_count in more.counts.items():
        add_reading(into, day, life_count)


def parse_counter_window(
    result: object, label: str, customer_code: str, first: date, last: date
) -> dict[str, DeviceReadings]:
    """One Counter/List answer: the readings of each device, its rows merged.

    Rows, and the Counters of a row, may come in any order. Device ids compare without
    regard to case: rows whose ids differ only in case are one device, under the first
    row's spelling.
    """
    devices: dict[str, DeviceReadings] = {}
    spelling: dict[str, str] = {}
    for index, row in enumerate(as_list(result, f"{label}: field 'Result'"), start=1):
        where = f"{label} row {index}"
        parsed = parse_counter_row(row, where, customer_code, first, last)
        device_id = spelling.setdefault(device_key(parsed.device_id), parsed.device_id)
        known = devices.setdefault(device_id, DeviceReadings(device_id))
        merge_readings(known, parsed)
    return devices
