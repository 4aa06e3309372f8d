"""Tests of decoding: the envelope and every field of the four answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor import decoding
from releaf_pipeline.lib.mpsmonitor.decoding import MAX_LIFE_COUNT, Malformed
from releaf_pipeline.lib.mpsmonitor.errors import (
    InvalidResponseError,
)
from releaf_pipeline.lib.mpsmonitor.models import Customer, Device, DeviceReadings, Ping
from releaf_pipeline_tests.lib.mpsmonitor.support import (
    CUSTOMER,
    Harness,
    counter_row,
    device_row,
    ok,
    ping,
)

# -- envelope and parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>oops</html>", "not valid JSON"),
        (b'{"IsValid": true, "Errors": [], "Res', "not valid JSON"),
        (b"[1, 2]", "must be an object, got list"),
        (b'{"Errors": [], "Result": {}}', "field 'IsValid' is missing"),
        (b'{"IsValid": "yes", "Errors": [], "Result": {}}', "'IsValid' must be a boolean"),
        (b'{"IsValid": true, "Errors": {}, "Result": {}}', "'Errors' must be a list"),
        (b'{"IsValid": true, "Errors": []}', "field 'Result' is missing"),
    ],
)
def test_bad_envelopes_are_invalid_responses_and_not_retried(body: bytes, expected: str) -> None:
    h = Harness(lambda request: httpx.Response(200, content=body))
    error = h.fails(ping, InvalidResponseError)
    assert expected in str(error)
    assert "PrintReleaf/Ping" in str(error)
    assert error.reason == "invalid_response"
    assert len(h.requests) == 1


def test_missing_field_names_request_and_field() -> None:
    h = Harness(lambda request: ok({"DealerCode": "D-1042"}))
    error = h.fails(ping, InvalidResponseError)
    assert "PrintReleaf/Ping Result: field 'ServerTimeUtc' is missing" in str(error)


def test_wrong_type_names_row_and_field() -> None:
    rows = [
        counter_row("dev-1", {"2026-11-01": (1, 1)}),
        counter_row("dev-2", {"2026-11-01": (1, 1)}),
        counter_row("dev-3", {"2026-11-01": (1, 1), "2026-11-02": (2, 2)}),
    ]
    rows[2]["Counters"][1]["Mono"] = "2"
    h = Harness(lambda request: ok(rows))
    error = h.fails(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 2)),
        InvalidResponseError,
    )
    assert "Counter/List 2026-11-01..2026-11-02 row 3, Counters[2]: field 'Mono' must be an " in (
        str(error)
    )
    assert "integer, got str" in str(error)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("CounterMono", True, "field 'CounterMono' must be an integer, got bool"),
        ("CounterColor", 1.5, "field 'CounterColor' must be an integer, got float"),
        ("CounterColor", -1, "field 'CounterColor' must not be negative"),
        ("IsManaged", 1, "field 'IsManaged' must be a boolean, got int"),
        ("Id", None, "field 'Id' must be a string, got null"),
        ("LastUpdate", "yesterday", "field 'LastUpdate' is not an ISO date-time"),
        ("CustomerCode", "OTHER", "belongs to another customer"),
    ],
)
def test_device_field_types_are_checked(field: str, value: Any, expected: str) -> None:
    row = device_row("dev-1", **{field: value})
    h = Harness(lambda request: ok([row], TotalRows=1))
    error = h.fails(lambda c: c.list_devices(CUSTOMER), InvalidResponseError)
    assert "Device/List page 1 row 1" in str(error)
    assert expected in str(error)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda row: row.pop("Counters"),
        lambda row: row.update(Counters=None),
        lambda row: row["Counters"][0].update(Date="01/11/2026"),
        lambda row: row["Counters"][0].update(Color=False),
        lambda row: row.update(DeviceId=7),
    ],
)
def test_counter_row_fields_are_checked(mutate: Callable[[dict[str, Any]], Any]) -> None:
    row = counter_row("dev-1", {"2026-11-01": (1, 1)})
    mutate(row)
    h = Harness(lambda request: ok([row]))
    h.fails(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 2)),
        InvalidResponseError,
    )


def test_customer_answer_for_another_code_is_invalid() -> None:
    result = {"Id": "g", "Code": "SOMEONEELSE", "TimeZoneIana": "UTC"}
    h = Harness(lambda request: ok(result))
    h.fails(lambda c: c.get_customer(CUSTOMER), InvalidResponseError)


# -- impossible counters --------------------------------------------------------------------


def test_impossible_readings_are_set_aside_and_the_rest_still_counts() -> None:
    row = counter_row(
        "dev-1",
        {"2026-11-01": (100, 20), "2026-11-02": (-5, 0), "2026-11-03": (MAX_LIFE_COUNT, 1)},
    )
    h = Harness(lambda request: ok([row]))
    (readings,) = h.run(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 3))
    )
    assert readings.counts == {date(2026, 11, 1): 120}
    assert readings.rejected == {
        date(2026, 11, 2): "negative counter (Mono -5, Color 0)",
        date(2026, 11, 3): (
            f"absurd counter (Mono {MAX_LIFE_COUNT}, Color 1: over {MAX_LIFE_COUNT:,} pages)"
        ),
    }


def test_a_device_whose_every_reading_is_impossible_is_still_returned() -> None:
    row = counter_row("dev-1", {"2026-11-01": (-1, 0)})
    h = Harness(lambda request: ok([row]))
    readings = h.run(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 1))
    )
    assert readings == [
        DeviceReadings("dev-1", {}, {date(2026, 11, 1): "negative counter (Mono -1, Color 0)"})
    ]


# -- the decoders on their own --------------------------------------------------------------

WHERE = "Device/List page 1 row 1"


def test_parse_device_keeps_only_the_allowed_fields() -> None:
    device = decoding.parse_device(device_row("d"), WHERE, {decoding.code_key(CUSTOMER)})
    assert device == Device("d", CUSTOMER, True, 120, datetime(2026, 11, 26, 23, 10, tzinfo=UTC))


def test_parse_device_refuses_a_customer_not_asked_for() -> None:
    with pytest.raises(Malformed, match=f"^{WHERE}: device d belongs to another customer$"):
        decoding.parse_device(device_row("d"), WHERE, {"someone-else"})


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("EA45cef3", " ea45CEF3 ", True), ("EA45", "EA46", False), ("ABC", "abc\t", True)],
)
def test_codes_compare_ignoring_case_and_surrounding_spaces(a: str, b: str, same: bool) -> None:
    assert decoding.same_code(a, b) is same
    assert (decoding.code_key(a) == decoding.code_key(b)) is same


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        (
            b'{"IsValid": false, "Errors": [{"Code": "A"}, {"Code": 5}, "x", {"Code": "B"}]}',
            ["A", "B"],
        ),
        (b"not json", []),
        (b'{"Errors": {"Code": "A"}}', []),
        (b"[]", []),
        ({"Errors": [{"Code": "CustomerNotFound", "Description": "secret"}]}, ["CustomerNotFound"]),
    ],
)
def test_error_codes_are_read_leniently(body: bytes | dict[str, Any], codes: list[str]) -> None:
    assert decoding.error_codes(body) == codes


def test_parse_envelope_returns_the_envelope() -> None:
    content = b'{"IsValid": true, "Errors": [], "Result": [1], "TotalRows": 1, "Extra": 0}'
    envelope = decoding.parse_envelope(content, "X")
    assert envelope["Result"] == [1]
    assert decoding.total_rows(envelope, "X") == 1


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000, b"1" * 5000, b"\xff\xfe"])
def test_hostile_json_is_malformed_not_a_crash(content: bytes) -> None:
    with pytest.raises(Malformed, match=r"^X: "):
        decoding.parse_envelope(content, "X")


def test_parse_ping_and_customer() -> None:
    ping_result = {"DealerCode": "D", "ServerTimeUtc": "2026-11-27T06:00:00+01:00"}
    assert decoding.parse_ping(ping_result, "P") == Ping("D", datetime(2026, 11, 27, 5, tzinfo=UTC))
    customer = {"Id": "g", "Code": CUSTOMER.lower(), "Description": "Acme", "TimeZoneIana": "UTC"}
    assert decoding.parse_customer(customer, "C", CUSTOMER) == Customer(
        "g", CUSTOMER.lower(), "UTC"
    )


def test_naive_and_offset_date_times_are_read_as_utc() -> None:
    def server_time(value: str) -> datetime:
        return decoding.parse_ping({"DealerCode": "D", "ServerTimeUtc": value}, "P").server_time_utc

    naive = server_time("2026-11-27T05:00:00")
    shifted = server_time("2026-11-26T22:00:00-07:00")
    assert naive == shifted == datetime(2026, 11, 27, 5, tzinfo=UTC)
    assert shifted.tzinfo == timezone(timedelta(0))


def test_parse_counter_window_merges_rows_and_keeps_the_higher_of_two_readings() -> None:
    first, last = date(2026, 11, 1), date(2026, 11, 2)
    agree = [counter_row("d", {"2026-11-01": (1, 1)}), counter_row("d", {"2026-11-02": (2, 1)})]
    rows = decoding.parse_counter_window(agree, "L", CUSTOMER, first, last)
    assert rows == {"d": DeviceReadings("d", {first: 2, last: 3})}
    disagree = [counter_row("d", {"2026-11-01": (5, 1)}), counter_row("d", {"2026-11-01": (1, 1)})]
    rows = decoding.parse_counter_window(disagree, "L", CUSTOMER, first, last)
    assert rows == {"d": DeviceReadings("d", {first: 6}, duplicates={first: (2, 6)})}


def test_a_malformed_answer_becomes_one_invalid_response_naming_the_server() -> None:
    h = Harness(lambda request: ok({"DealerCode": 7, "ServerTimeUtc": "2026-11-27T05:00:00Z"}))
    error = h.fails(ping, InvalidResponseError)
    assert str(error) == (
        "PrintReleaf/Ping Result: field 'DealerCode' must be a string, got int "
        "(from https://mps.example.test; the answer does not follow the MPS Monitor contract: "
        "report it to the server's operator)"
    )
    assert error.__cause__ is None and error.__suppress_context__


# -- identifiers ----------------------------------------------------------------------------

NOT_IDENTIFIERS = [
    pytest.param("7" * 10_000, id="ten-thousand-characters"),
    pytest.param("a" * 65, id="sixty-five-characters"),
    pytest.param("\x1b]0;pwned\x07", id="escape-window-title"),
    pytest.param("\x1b[2J\x1b[H", id="escape-clear-screen"),
    pytest.param("x'; DROP TABLE readings; --", id="sql-with-spaces"),
    pytest.param("d\u00e9v-1", id="non-ascii"),
    pytest.param("dev\u202e1-ved", id="right-to-left-override"),
    pytest.param("", id="empty"),
]
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 2)


PING_RESULT_OK = {"DealerCode": "D-1042", "ServerTimeUtc": "2026-11-27T05:00:00Z"}
CUSTOMER_OK = {"Id": "g-1", "Code": CUSTOMER, "Description": "Acme", "TimeZoneIana": "UTC"}
REQUESTS: dict[str, tuple[Callable[[Any], Any], Callable[[str], Any]]] = {
    "Ping DealerCode": (ping, lambda v: ok(dict(PING_RESULT_OK, DealerCode=v))),
    "customer Id": (
        lambda c: c.get_customer(CUSTOMER),
        lambda v: ok(dict(CUSTOMER_OK, Id=v)),
    ),
    "customer Code": (
        lambda c: c.get_customer(CUSTOMER),
        lambda v: ok(dict(CUSTOMER_OK, Code=v)),
    ),
    "Device/List Id": (
        lambda c: c.list_devices(CUSTOMER),
        lambda v: ok([device_row("dev-1"), device_row(v)], TotalRows=2),
    ),
    "Device/List CustomerCode": (
        lambda c: c.list_devices(CUSTOMER),
        lambda v: ok([device_row("dev-1", CustomerCode=v)], TotalRows=1),
    ),
    "Counter/List DeviceId": (
        lambda c: c.counter_list("D-1042", CUSTOMER, FIRST, LAST),
        lambda v: ok([counter_row("dev-1", {"2026-11-01": (1, 1)}), counter_row(v, {})]),
    ),
    "Counter/List CustomerCode": (
        lambda c: c.counter_list("D-1042", CUSTOMER, FIRST, LAST),
        lambda v: ok([dict(counter_row("dev-1", {"2026-11-01": (1, 1)}), CustomerCode=v)]),
    ),
}


@pytest.mark.parametrize("value", NOT_IDENTIFIERS)
@pytest.mark.parametrize("where", sorted(REQUESTS))
def test_an_identifier_that_is_not_1_to_64_printable_ascii_is_a_bad_response(
    where: str, value: str
) -> None:
    """Every DealerCode, customer code, customer Id and device id is checked where the
    answer is decoded; the error names the field and never echoes the raw value."""
    call, answer = REQUESTS[where]
    h = Harness(lambda request: answer(value))
    error = h.fails(call, InvalidResponseError)
    message = str(error)
    assert error.reason == "invalid_response"
    field = where.split()[-1]
    assert f"field {field!r} must be 1 to 64 printable ASCII characters" in message
    assert message.isascii() and message.isprintable(), message
    # At most an escaped start of the value is quoted, never the whole of a long one.
    assert len(value) <= 16 or value[:17] not in message
    assert len(message) < 400
    assert len(h.requests) == 1, "a bad response is not worth retrying"


def _counter_row_of(device_id: str) -> DeviceReadings:
    row = {"DeviceId": device_id, "Counters": []}
    return decoding.parse_counter_row(row, "W", CUSTOMER, date(2026, 11, 1), date(2026, 11, 2))


def test_a_refused_identifier_is_quoted_escaped_and_cut_short() -> None:
    with pytest.raises(Malformed) as info:
        _counter_row_of("\x1b]0;pwned\x07" + "x" * 100)
    assert str(info.value) == (
        "W: field 'DeviceId' must be 1 to 64 printable ASCII characters without spaces, "
        "got '\\x1b]0;pwned\\x07xxxxxx'... (110 characters)"
    )


@pytest.mark.parametrize("value", ["a", "A" * 64, "!~-_.:/{}", "6f1c-AB-01"])
def test_identifiers_of_1_to_64_printable_ascii_are_kept_as_they_are(value: str) -> None:
    assert _counter_row_of(value).device_id == value


def test_device_ids_differing_only_in_case_are_one_device() -> None:
    # Counter/List: two rows, one device, the first spelling kept.
    rows = [
        counter_row("Dev-A1", {"2026-11-01": (10, 1)}),
        counter_row("DEV-a1", {"2026-11-02": (20, 2)}),
    ]
    h = Harness(lambda request: ok(rows))
    (readings,) = h.run(lambda c: c.counter_list("D-1042", CUSTOMER, FIRST, LAST))
    assert readings == DeviceReadings("Dev-A1", {FIRST: 11, LAST: 22}, {})
    # Device/List: the same device listed twice in two spellings is listed once.
    listed = [device_row("Dev-A1"), device_row("dev-a1")]
    h = Harness(lambda request: ok(listed, TotalRows=1))
    (device,) = h.run(lambda c: c.list_devices(CUSTOMER))
    assert device.device_id == "Dev-A1"
