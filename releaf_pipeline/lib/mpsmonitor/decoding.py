"""From the contract's JSON to the typed models of `models.py`, checking every field.

Nothing here knows about HTTP or the server: each parser takes decoded JSON and a `where`
(the request and the row, e.g. ``Device/List page 2 row 7``) and either returns a model
holding only the fields the pipeline may keep, or raises `Malformed` naming the request and
the field. The client turns a `Malformed` into one `InvalidResponseError` naming the server.
"""

from __future__ import annotations

import json
from collections.abc import Container
from datetime import UTC, date, datetime
from typing import Any

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


def field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise Malformed(f"{where}: field {key!r} is missing")
    return obj[key]


def as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where}: must be an object, got {type_name(value)}")
    return value


def as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Malformed(f"{where} must be a list, got {type_name(value)}")
    return value


def get_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = field(obj, key, where)
    if not isinstance(value, str):
        raise Malformed(f"{where}: field {key!r} must be a string, got {type_name(value)}")
    if not value.strip():
        raise Malformed(f"{where}: field {key!r} must not be empty")
    return value


def get_identifier(obj: dict[str, Any], key: str, where: str) -> str:
    """A DealerCode, customer code or device id: 1 to 64 printable ASCII characters.

    Anything else is refused here, at the edge, so no store, log line or terminal ever
    holds it. The message quotes only an escaped, truncated start of the value: it may
    carry escape sequences meant for a terminal.
    """
    value = field(obj, key, where)
    if not isinstance(value, str):
        raise Malformed(f"{where}: field {key!r} must be a string, got {type_name(value)}")
    if not is_identifier(value):
        raise Malformed(
            f"{where}: field {key!r} must be 1 to {MAX_IDENTIFIER_LENGTH} printable ASCII "
            f"characters without spaces, got {_quoted(value)}"
        )
    return value


def _quoted(value: str) -> str:
    """A refused value as a message may show it: escaped to ASCII, cut short, its length."""
    if not value:
        return "an empty string"
    shown = ascii(value[:_QUOTED_CHARACTERS])
    more = "..." if len(value) > _QUOTED_CHARACTERS else ""
    return f"{shown}{more} ({len(value)} characters)"


def device_key(device_id: str) -> str:
    """A device id as compared: the contract's device ids compare without regard to case."""
    return device_id.casefold()


def get_int(obj: dict[str, Any], key: str, where: str) -> int:
    value = field(obj, key, where)
    # bool is a subclass of int in Python, but `true` is not a page count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{where}: field {key!r} must be an integer, got {type_name(value)}")
    if value < 0:
        raise Malformed(f"{where}: field {key!r} must not be negative")
    return value


def get_counter(obj: dict[str, Any], key: str, where: str) -> int:
    """A lifetime counter of Device/List: null on a device that lacks it counts as 0."""
    if field(obj, key, where) is None:
        return 0
    return get_int(obj, key, where)


def get_bool(obj: dict[str, Any], key: str, where: str) -> bool:
    value = field(obj, key, where)
    if not isinstance(value, bool):
        raise Malformed(f"{where}: field {key!r} must be a boolean, got {type_name(value)}")
    return value


def get_date(obj: dict[str, Any], key: str, where: str) -> date:
    value = field(obj, key, where)
    if not isinstance(value, str):
        raise Malformed(f"{where}: field {key!r} must be an ISO date, got {type_name(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{where}: field {key!r} is not an ISO date (YYYY-MM-DD)") from None


def parse_datetime(value: object, key: str, where: str) -> datetime:
    if not isinstance(value, str):
        raise Malformed(f"{where}: field {key!r} must be an ISO date-time, got {type_name(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{where}: field {key!r} is not an ISO date-time") from None
    # The contract's times are UTC ("...Z"); a naive value is read as UTC rather than
    # as the pipeline host's local time.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def get_datetime(obj: dict[str, Any], key: str, where: str) -> datetime:
    return parse_datetime(field(obj, key, where), key, where)


def get_optional_datetime(obj: dict[str, Any], key: str, where: str) -> datetime | None:
    value = obj.get(key)
    return None if value is None else parse_datetime(value, key, where)


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
    envelope = as_object(data, f"{label}: the body")
    get_bool(envelope, "IsValid", label)
    as_list(field(envelope, "Errors", label), f"{label}: field 'Errors'")
    field(envelope, "Result", label)
    return envelope


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
    where = f"{label} Result"
    obj = as_object(result, where)
    return Ping(
        dealer_code=get_identifier(obj, "DealerCode", where),
        server_time_utc=get_datetime(obj, "ServerTimeUtc", where),
    )


def parse_customer(result: object, label: str, code: str) -> Customer:
    where = f"{label} Result"
    obj = as_object(result, where)
    customer = Customer(
        id=get_identifier(obj, "Id", where),
        code=get_identifier(obj, "Code", where),
        time_zone=get_str(obj, "TimeZoneIana", where),
    )
    if not same_code(customer.code, code):
        raise Malformed(f"{where}: the server answered for another customer code")
    return customer


def parse_device(row: object, where: str, wanted: Container[str]) -> Device:
    """One Device/List row; `wanted` holds the `code_key` of every customer asked for."""
    obj = as_object(row, where)
    device = Device(
        device_id=get_identifier(obj, "Id", where),
        customer_code=get_identifier(obj, "CustomerCode", where),
        managed=get_bool(obj, "IsManaged", where),
        life_count=get_counter(obj, "CounterMono", where) + get_counter(obj, "CounterColor", where),
        last_update=get_optional_datetime(obj, "LastUpdate", where),
    )
    # A device of another customer would deposit its pages on the wrong account.
    if code_key(device.customer_code) not in wanted:
        raise Malformed(f"{where}: device {device.device_id} belongs to another customer")
    return device


def _counter_value(obj: dict[str, Any], key: str, where: str) -> int:
    value = field(obj, key, where)
    # A device that lacks this counter (a mono printer has no colour counter) sends null:
    # the contract counts it as 0.
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{where}: field {key!r} must be an integer, got {type_name(value)}")
    return value


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
    obj = as_object(row, where)
    device_id = get_identifier(obj, "DeviceId", where)
    if obj.get("CustomerCode") is not None and not same_code(
        get_identifier(obj, "CustomerCode", where), customer_code
    ):
        raise Malformed(f"{where}: device {device_id} belongs to another customer")
    counters = as_list(field(obj, "Counters", where), f"{where}: field 'Counters'")
    readings = DeviceReadings(device_id)
    for index, entry in enumerate(counters, start=1):
        at = f"{where}, Counters[{index}]"
        reading = as_object(entry, at)
        day = get_date(reading, "Date", at)
        mono, color = _counter_value(reading, "Mono", at), _counter_value(reading, "Color", at)
        if not first <= day <= last:
            raise Malformed(f"{at}: reading dated {day} is outside the requested range")
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
