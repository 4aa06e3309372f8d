"""Tests of the MPS Monitor client: requests on the wire, retries, parsing, HTTPS."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import random
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from releaf_pipeline.lib.mpsmonitor.client import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
    ClientSettings,
    MPSMonitorClient,
    require_https,
)
from releaf_pipeline.lib.mpsmonitor.errors import (
    CustomerNotFoundError,
    InsecureURLError,
    InvalidResponseError,
    MPSMonitorError,
    RequestRejectedError,
    RequestTimeoutError,
    ServerError,
    TLSError,
    UnauthorizedError,
    UnreachableError,
)
from releaf_pipeline.lib.mpsmonitor.models import Customer, Device, DeviceReadings, Ping

BASE = "https://mps.example.test"
TOKEN = "tok-SECRET-7f3a9c"
CUSTOMER = "EA45CEF3D8EF6D0F"
SERIAL = "X3B001234"

PING_RESULT = {"DealerCode": "D-1042", "ServerTimeUtc": "2026-11-27T05:00:00Z"}

Handler = Callable[[httpx.Request], Any]


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    return {"IsValid": True, "Errors": [], "ReturnValue": None, "Result": result, **extra}


def ok(result: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json=envelope(result, **extra))


def rejected(status: int, *codes: str) -> httpx.Response:
    errors = [{"Code": code, "Description": f"details about {SERIAL}"} for code in codes]
    return httpx.Response(
        status, json={"IsValid": False, "Errors": errors, "ReturnValue": None, "Result": None}
    )


def device_row(device_id: str, mono: int = 100, color: int = 20, **extra: Any) -> dict[str, Any]:
    row = {
        "Id": device_id,
        "CustomerCode": CUSTOMER,
        "IsManaged": True,
        "CounterMono": mono,
        "CounterColor": color,
        "LastUpdate": "2026-11-26T23:10:00Z",
        "IsOffline": False,
        "SerialNumber": SERIAL,
        "AssetNumber": "A-17",
        "IpAddress": "10.2.3.4",
        "MacAddress": "00:11:22:33:44:55",
        "SystemName": "PRN-3F",
        "Product": {"Brand": "Kyocera", "Model": "TASKalfa 5053ci"},
    }
    row.update(extra)
    return row


def counter_row(device_id: str, readings: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        "DeviceId": device_id,
        "CustomerCode": CUSTOMER,
        "SerialNumber": SERIAL,
        "AssetNumber": "A-17",
        "LastUpdate": "2026-11-26T23:10:00Z",
        "Counters": [
            {"Date": day, "Mono": mono, "Color": color, "MonoPagesInPeriod": 0}
            for day, (mono, color) in readings.items()
        ],
    }


class Recorder:
    """A mock transport that records every request and answers with `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.handler(request)
        if asyncio.iscoroutine(response):
            response = await response
        return response

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


def sequence(*answers: httpx.Response | Exception) -> Handler:
    """A handler that plays `answers` in order, repeating the last one."""
    remaining = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle


class Harness:
    """One client over a recorded mock transport, with recorded back-off sleeps."""

    def __init__(self, handler: Handler, **settings: Any) -> None:
        self.recorder = Recorder(handler)
        self.delays: list[float] = []
        self.settings = ClientSettings(**settings)
        self.client: MPSMonitorClient | None = None

    async def _sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def run(self, call: Callable[[MPSMonitorClient], Any]) -> Any:
        async def main() -> Any:
            async with MPSMonitorClient(
                BASE,
                TOKEN,
                settings=self.settings,
                transport=self.recorder.transport,
                sleep=self._sleep,
                rng=random.Random(7),
            ) as client:
                self.client = client
                return await call(client)

        return asyncio.run(main())

    def fails(self, call: Callable[[MPSMonitorClient], Any], error: type[Exception]) -> Exception:
        with pytest.raises(error) as info:
            self.run(call)
        message = str(info.value)
        assert TOKEN not in message
        assert SERIAL not in message
        return info.value

    @property
    def requests(self) -> list[httpx.Request]:
        return self.recorder.requests

    def bodies(self) -> list[Any]:
        return self.recorder.bodies()


def ping(client: MPSMonitorClient) -> Any:
    return client.ping()


# -- requests on the wire -------------------------------------------------------------------


def test_ping_sends_get_with_token_and_parses_result() -> None:
    h = Harness(lambda request: ok(PING_RESULT))
    result = h.run(ping)

    assert result == Ping(
        dealer_code="D-1042", server_time_utc=datetime(2026, 11, 27, 5, tzinfo=UTC)
    )
    (request,) = h.requests
    assert request.method == "GET"
    assert str(request.url) == BASE + PING_PATH
    assert request.headers["X-Dealer-Token"] == TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.content == b""
    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries) == (1, 0)


def test_get_customer_posts_code_and_keeps_only_allowed_fields() -> None:
    result = {
        "Id": "8b0e-guid",
        "Code": CUSTOMER,
        "Description": "Acme Corp",
        "TimeZoneIana": "America/Denver",
        "Extra": [1, 2],
    }
    h = Harness(lambda request: ok(result))
    customer = h.run(lambda c: c.get_customer(CUSTOMER))

    assert customer == Customer(id="8b0e-guid", code=CUSTOMER, time_zone="America/Denver")
    assert "Acme" not in repr(customer)
    (request,) = h.requests
    assert request.method == "POST"
    assert request.url.path == CUSTOMER_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Dealer-Token"] == TOKEN
    assert h.bodies() == [{"Code": CUSTOMER}]


def test_base_url_path_prefix_and_trailing_slash() -> None:
    recorder = Recorder(lambda request: ok(PING_RESULT))

    async def main() -> None:
        async with MPSMonitorClient(
            "HTTPS://mps.example.test/prefix/", TOKEN, transport=recorder.transport
        ) as client:
            await client.ping()

    asyncio.run(main())
    assert str(recorder.requests[0].url) == "https://mps.example.test/prefix" + PING_PATH


def test_list_devices_request_body_and_parsing_ignores_extra_fields() -> None:
    h = Harness(lambda request: ok([device_row("dev-1")], TotalRows=1))
    devices = h.run(lambda c: c.list_devices(CUSTOMER, status="Managed"))

    assert devices == [
        Device(
            device_id="dev-1",
            customer_code=CUSTOMER,
            managed=True,
            life_count=120,
            last_update=datetime(2026, 11, 26, 23, 10, tzinfo=UTC),
        )
    ]
    for forbidden in (SERIAL, "10.2.3.4", "00:11:22:33:44:55", "PRN-3F", "Kyocera", "A-17"):
        assert forbidden not in repr(devices)
    assert h.requests[0].url.path == DEVICE_LIST_PATH
    assert h.bodies() == [
        {
            "FilterCustomerCodes": [CUSTOMER],
            "Status": "Managed",
            "PageNumber": 1,
            "PageRows": 500,
            "SortColumn": "Id",
            "SortOrder": "Asc",
        }
    ]


def test_list_devices_without_last_update_and_with_unknown_status() -> None:
    row = device_row("dev-1")
    del row["LastUpdate"]
    h = Harness(lambda request: ok([row], TotalRows=1))
    assert h.run(lambda c: c.list_devices(CUSTOMER))[0].last_update is None

    with pytest.raises(ValueError, match="status"):
        h.run(lambda c: c.list_devices(CUSTOMER, status="Offline"))


def test_counter_list_request_body_and_parsing() -> None:
    row = counter_row("dev-1", {"2026-11-01": (181000, 20300), "2026-11-02": (181100, 20310)})
    h = Harness(lambda request: ok([row]))
    readings = h.run(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 26))
    )

    assert readings == [
        DeviceReadings(
            device_id="dev-1", counts={date(2026, 11, 1): 201300, date(2026, 11, 2): 201410}
        )
    ]
    assert SERIAL not in repr(readings)
    assert h.requests[0].url.path == COUNTER_LIST_PATH
    assert h.bodies() == [
        {
            "DealerCode": "D-1042",
            "CustomerCode": CUSTOMER,
            "FromDate": "2026-11-01",
            "ToDate": "2026-11-26",
        }
    ]


# -- retries --------------------------------------------------------------------------------


def test_5xx_burst_then_success_with_bounded_jittered_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(
        sequence(
            httpx.Response(503),
            httpx.Response(500),
            httpx.Response(502),
            ok(PING_RESULT),
        )
    )
    with caplog.at_level(logging.WARNING, logger="releaf_pipeline.lib.mpsmonitor.client"):
        assert h.run(ping).dealer_code == "D-1042"

    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries) == (4, 3)
    assert len(h.delays) == 3
    for attempt, delay in enumerate(h.delays):
        assert 0 <= delay <= min(30.0, 0.5 * 2**attempt)
    assert len(caplog.records) == 3
    first = caplog.records[0].getMessage()
    assert PING_PATH in first and "HTTP 503" in first and "attempt 1" in first
    assert TOKEN not in caplog.text


def test_backoff_is_capped_by_backoff_max() -> None:
    h = Harness(sequence(httpx.Response(500)), max_attempts=8, backoff_base=1.0, backoff_max=2.0)
    h.fails(ping, ServerError)
    assert len(h.delays) == 7
    assert all(0 <= delay <= 2.0 for delay in h.delays)


def test_429_retry_after_is_honoured_and_capped() -> None:
    h = Harness(
        sequence(
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": "1000"}),
            httpx.Response(429),
            ok(PING_RESULT),
        ),
        max_retry_after=120.0,
    )
    h.run(ping)

    assert h.delays[:2] == [7.0, 120.0]
    assert 0 <= h.delays[2] <= 0.5 * 2**2  # no Retry-After: ordinary back-off
    assert len(h.requests) == 4


def test_timeouts_then_success() -> None:
    h = Harness(
        sequence(
            httpx.ReadTimeout("slow"),
            httpx.ConnectTimeout("slow"),
            ok(PING_RESULT),
        )
    )
    assert h.run(ping).dealer_code == "D-1042"
    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries) == (3, 2)


def test_connection_reset_mid_body_is_retried() -> None:
    h = Harness(
        sequence(
            httpx.RemoteProtocolError("peer closed connection"),
            httpx.ReadError("connection reset"),
            ok(PING_RESULT),
        )
    )
    assert h.run(ping).dealer_code == "D-1042"
    assert len(h.requests) == 3


def test_retries_exhausted_on_5xx_raise_server_error() -> None:
    h = Harness(sequence(httpx.Response(500)))
    error = h.fails(ping, ServerError)

    message = str(error)
    assert "https://mps.example.test" in message
    assert PING_PATH in message
    assert "HTTP 500" in message
    assert "try later" in message
    assert error.reason == "server_error"
    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries) == (5, 4)
    assert len(h.delays) == 4


def test_retries_exhausted_on_429_raise_server_error() -> None:
    h = Harness(sequence(httpx.Response(429, headers={"Retry-After": "1"})), max_attempts=3)
    error = h.fails(ping, ServerError)
    assert "HTTP 429" in str(error)
    assert h.delays == [1.0, 1.0]


def test_retries_exhausted_on_timeouts_raise_request_timeout_error() -> None:
    h = Harness(sequence(httpx.ReadTimeout("slow")), max_attempts=3)
    error = h.fails(ping, RequestTimeoutError)
    assert "https://mps.example.test" in str(error)
    assert PING_PATH in str(error)
    assert "try later" in str(error)
    assert len(h.requests) == 3


def test_retries_exhausted_on_connection_errors_raise_unreachable_error() -> None:
    h = Harness(sequence(httpx.ConnectError("refused")), max_attempts=2)
    error = h.fails(ping, UnreachableError)
    assert "https://mps.example.test" in str(error)
    assert len(h.requests) == 2


def test_a_server_that_trickles_its_answer_hits_the_whole_request_time_out() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return ok(PING_RESULT)

    h = Harness(slow, timeout=0.05, max_attempts=2)
    h.fails(ping, RequestTimeoutError)
    assert len(h.requests) == 2


def test_401_is_not_retried() -> None:
    h = Harness(lambda request: rejected(401, "Unauthorized"))
    error = h.fails(ping, UnauthorizedError)

    assert str(error).startswith(
        "the dealer token for https://mps.example.test was rejected (HTTP 401)"
    )
    assert "register a valid token" in str(error)
    assert error.reason == "unauthorized"
    assert len(h.requests) == 1
    assert h.delays == []


def test_is_valid_false_is_not_retried_and_carries_codes() -> None:
    h = Harness(lambda request: rejected(200, "BadFilter", "Other"))
    error = h.fails(lambda c: c.list_devices(CUSTOMER), RequestRejectedError)

    assert type(error) is RequestRejectedError
    assert error.codes == ["BadFilter", "Other"]
    assert "BadFilter" in str(error)
    assert "details about" not in str(error)  # descriptions stay out
    assert len(h.requests) == 1


def test_customer_not_found() -> None:
    h = Harness(lambda request: rejected(200, "CustomerNotFound"))
    error = h.fails(lambda c: c.get_customer("NOPE"), CustomerNotFoundError)

    assert error.codes == ["CustomerNotFound"]
    assert error.reason == "customer_not_found"
    assert "NOPE" in str(error)
    assert len(h.requests) == 1


def test_other_4xx_is_rejected_without_retry() -> None:
    h = Harness(lambda request: httpx.Response(403, text="forbidden"))
    error = h.fails(ping, RequestRejectedError)
    assert "HTTP 403" in str(error)
    assert len(h.requests) == 1


def test_redirects_are_not_followed() -> None:
    h = Harness(lambda request: httpx.Response(302, headers={"Location": "http://evil.test/"}))
    h.fails(ping, InvalidResponseError)
    assert len(h.requests) == 1


def test_tls_failure_in_connect_is_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError("verify failed") from exc

    h = Harness(handler)
    error = h.fails(ping, TLSError)
    assert "CA bundle" in str(error)
    assert len(h.requests) == 1


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


# -- paging ---------------------------------------------------------------------------------


def paged_server(ids: list[str], total: int | None = None) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        size, number = body["PageRows"], body["PageNumber"]
        page = ids[(number - 1) * size : number * size]
        return ok([device_row(i) for i in page], TotalRows=len(ids) if total is None else total)

    return handle


def test_paging_reads_all_pages_until_total_rows() -> None:
    ids = [f"dev-{n}" for n in range(5)]
    h = Harness(paged_server(ids), page_rows=2)
    devices = h.run(lambda c: c.list_devices(CUSTOMER))

    assert [d.device_id for d in devices] == ids
    assert [b["PageNumber"] for b in h.bodies()] == [1, 2, 3]
    assert {b["PageRows"] for b in h.bodies()} == {2}


def test_paging_stops_on_an_empty_page() -> None:
    h = Harness(paged_server(["a", "b", "c"], total=10), page_rows=2)
    devices = h.run(lambda c: c.list_devices(CUSTOMER))
    assert [d.device_id for d in devices] == ["a", "b", "c"]
    assert len(h.requests) == 3


def test_paging_with_no_devices() -> None:
    h = Harness(lambda request: ok([], TotalRows=0))
    assert h.run(lambda c: c.list_devices(CUSTOMER)) == []
    assert len(h.requests) == 1


def test_endless_paging_is_refused() -> None:
    # A server that ignores PageNumber: always the same full page, never reaching TotalRows.
    h = Harness(lambda request: ok([device_row("a"), device_row("b")], TotalRows=4), page_rows=2)
    error = h.fails(lambda c: c.list_devices(CUSTOMER), InvalidResponseError)
    assert "TotalRows" in str(error)
    assert len(h.requests) == 3  # TotalRows / PageRows + 1


@pytest.mark.parametrize("total", ["5", True, None, -1, 2.0])
def test_total_rows_must_be_an_integer(total: Any) -> None:
    h = Harness(lambda request: ok([device_row("a")], TotalRows=total))
    error = h.fails(lambda c: c.list_devices(CUSTOMER), InvalidResponseError)
    assert "'TotalRows'" in str(error)


def test_duplicate_identical_devices_are_kept_once() -> None:
    h = Harness(lambda request: ok([device_row("a"), device_row("a")], TotalRows=1))
    assert [d.device_id for d in h.run(lambda c: c.list_devices(CUSTOMER))] == ["a"]


def test_duplicate_devices_that_disagree_are_invalid() -> None:
    rows = [device_row("a", mono=1), device_row("a", mono=2)]
    h = Harness(lambda request: ok(rows, TotalRows=2))
    error = h.fails(lambda c: c.list_devices(CUSTOMER), InvalidResponseError)
    assert "device a is listed twice" in str(error)


# -- Counter/List windows -------------------------------------------------------------------


def test_range_is_split_into_93_day_windows_and_merged() -> None:
    start = date(2026, 1, 1)
    end = start + timedelta(days=199)

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        first = body["FromDate"]
        last = body["ToDate"]
        rows = [counter_row("dev-1", {first: (10, 1), last: (20, 2)})]
        if first == start.isoformat():
            rows.append(counter_row("dev-2", {first: (5, 0)}))
        return ok(rows)

    h = Harness(handle)
    readings = h.run(lambda c: c.counter_list("D-1042", CUSTOMER, start, end))

    windows = [(b["FromDate"], b["ToDate"]) for b in h.bodies()]
    assert windows == [
        ("2026-01-01", "2026-04-03"),
        ("2026-04-04", "2026-07-05"),
        ("2026-07-06", "2026-07-19"),
    ]
    for first, last in windows:
        assert (date.fromisoformat(last) - date.fromisoformat(first)).days + 1 <= 93
    by_id = {r.device_id: r.counts for r in readings}
    assert by_id["dev-2"] == {start: 5}
    assert list(by_id["dev-1"]) == sorted(
        {date.fromisoformat(day) for window in windows for day in window}
    )
    assert by_id["dev-1"][end] == 22


def test_a_single_day_range_is_one_request() -> None:
    h = Harness(lambda request: ok([]))
    day = date(2026, 3, 1)
    assert h.run(lambda c: c.counter_list("D-1042", CUSTOMER, day, day)) == []
    assert h.bodies()[0]["FromDate"] == h.bodies()[0]["ToDate"] == "2026-03-01"


def test_reversed_range_is_a_caller_error() -> None:
    h = Harness(lambda request: ok([]))
    with pytest.raises(ValueError, match="after"):
        h.run(lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 3, 2), date(2026, 3, 1)))
    assert h.requests == []


def test_duplicate_counter_rows_that_agree_are_merged() -> None:
    rows = [
        counter_row("dev-1", {"2026-11-01": (1, 1), "2026-11-02": (2, 2)}),
        counter_row("dev-1", {"2026-11-02": (2, 2), "2026-11-03": (3, 3)}),
    ]
    h = Harness(lambda request: ok(rows))
    readings = h.run(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 3))
    )
    assert readings == [
        DeviceReadings("dev-1", {date(2026, 11, 1): 2, date(2026, 11, 2): 4, date(2026, 11, 3): 6})
    ]


def test_duplicate_counter_rows_that_disagree_are_invalid() -> None:
    rows = [
        counter_row("dev-1", {"2026-11-02": (2, 2)}),
        counter_row("dev-1", {"2026-11-02": (9, 2)}),
    ]
    h = Harness(lambda request: ok(rows))
    error = h.fails(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 3)),
        InvalidResponseError,
    )
    assert "row 2" in str(error) and "2026-11-02" in str(error)


def test_a_reading_outside_the_requested_window_is_invalid() -> None:
    rows = [counter_row("dev-1", {"2026-10-31": (2, 2)})]
    h = Harness(lambda request: ok(rows))
    error = h.fails(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 3)),
        InvalidResponseError,
    )
    assert "outside the requested range" in str(error)


# -- secrets, concurrency, settings ---------------------------------------------------------


def test_token_is_not_in_repr() -> None:
    client = MPSMonitorClient(BASE, TOKEN)
    try:
        assert TOKEN not in repr(client)
        assert "mps.example.test" in repr(client)
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize("token", [" padded", "line\nbreak", "n\u00f6n-ascii"])
def test_tokens_that_cannot_be_headers_are_refused_without_echo(token: str) -> None:
    with pytest.raises(ValueError) as info:
        MPSMonitorClient(BASE, token)
    assert token.strip() not in str(info.value)


def test_concurrency_bounds_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return ok(PING_RESULT)

    h = Harness(handle, concurrency=2)

    async def ten_pings(client: MPSMonitorClient) -> list[Ping]:
        return await asyncio.gather(*(client.ping() for _ in range(10)))

    assert len(h.run(ten_pings)) == 10
    assert peak == 2
    assert len(h.requests) == 10


@pytest.mark.parametrize(
    "settings",
    [
        {"page_rows": 501},
        {"page_rows": 0},
        {"max_range_days": 0},
        {"max_range_days": 95},
        {"max_attempts": 0},
        {"concurrency": 0},
        {"timeout": 0},
    ],
)
def test_settings_are_validated(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ClientSettings(**settings)


# -- HTTPS only -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://mps.example.test/", "https://mps.example.test"),
        ("HTTPS://mps.example.test:8443/api//", "https://mps.example.test:8443/api"),
        (" https://10.0.0.5 ", "https://10.0.0.5"),
    ],
)
def test_require_https_normalises(url: str, expected: str) -> None:
    assert require_https(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mps.example.test",
        "ftp://mps.example.test",
        "mps.example.test",
        "https://",
        "https:///path",
        "https://user:pw@mps.example.test",
        "https://mps.example.test/?token=x",
        "https://mps.example.test:notaport",
        "",
    ],
)
def test_require_https_refuses(url: str) -> None:
    with pytest.raises(InsecureURLError) as info:
        require_https(url)
    assert "pw" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_http_url_is_refused_at_construction() -> None:
    with pytest.raises(InsecureURLError, match="https://"):
        MPSMonitorClient("http://mps.example.test", TOKEN)


def test_http_url_is_refused_at_request_time() -> None:
    h = Harness(lambda request: ok(PING_RESULT))

    async def downgrade(client: MPSMonitorClient) -> Ping:
        client._base_url = "http://mps.example.test"
        return await client.ping()

    h.fails(downgrade, InsecureURLError)
    assert h.requests == []


def test_all_errors_share_the_base_class() -> None:
    for error in (InsecureURLError, TLSError, ServerError, CustomerNotFoundError):
        assert issubclass(error, MPSMonitorError)


# -- real HTTPS against an in-test server ---------------------------------------------------


class _PingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != PING_PATH or self.headers.get("X-Dealer-Token") != TOKEN:
            status, body = 401, {"IsValid": False, "Errors": [{"Code": "Unauthorized"}]}
        else:
            status, body = 200, envelope(PING_RESULT)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate from a private CA; yields URL and CA."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PingHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_file
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _ping_over_https(url: str, token: str = TOKEN, **kw: Any) -> tuple[Ping, MPSMonitorClient]:
    async def main() -> tuple[Ping, MPSMonitorClient]:
        async with MPSMonitorClient(
            url, token, settings=ClientSettings(timeout=5.0, max_attempts=2), **kw
        ) as client:
            return await client.ping(), client

    return asyncio.run(main())


def test_https_with_registered_ca_bundle_verifies(https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    result, client = _ping_over_https(url, ca_bundle=ca_file)
    assert result.dealer_code == "D-1042"
    assert client.requests_sent == 1


def test_https_with_untrusted_certificate_raises_tls_error(
    https_server: tuple[str, Path],
) -> None:
    url, _ = https_server
    with pytest.raises(TLSError) as info:
        _ping_over_https(url)
    assert "127.0.0.1" in str(info.value)
    assert "CA bundle" in str(info.value)
    assert TOKEN not in str(info.value)


def test_https_wrong_token_is_unauthorized(https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    with pytest.raises(UnauthorizedError):
        _ping_over_https(url, token="wrong", ca_bundle=ca_file)


def test_unreadable_ca_bundle_is_a_tls_error(tmp_path: Path) -> None:
    with pytest.raises(TLSError, match="CA bundle"):
        MPSMonitorClient(BASE, TOKEN, ca_bundle=tmp_path / "missing.pem")


def test_plain_http_server_url_is_refused(https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    with pytest.raises(InsecureURLError):
        MPSMonitorClient(url.replace("https://", "http://"), TOKEN, ca_bundle=ca_file)
