"""Tests of the MPS Monitor client's four requests: bodies on the wire, paging, windows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
)
from releaf_pipeline.lib.mpsmonitor.errors import (
    CustomerNotFoundError,
    InvalidResponseError,
    ServerError,
)
from releaf_pipeline.lib.mpsmonitor.models import Customer, Device, DeviceReadings, Ping
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline_tests.lib.mpsmonitor.support import (
    BASE,
    CUSTOMER,
    PING_RESULT,
    SERIAL,
    TOKEN,
    Handler,
    Harness,
    Recorder,
    counter_row,
    device_row,
    ok,
    ping,
    rejected,
)

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


# -- paging ---------------------------------------------------------------------------------


def paged_server(ids: list[str], total: int | None = None, cap: int | None = None) -> Handler:
    """Device/List over `ids`, with pages of at most `cap` rows whatever was asked for."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        size, number = min(body["PageRows"], cap or body["PageRows"]), body["PageNumber"]
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


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize(("devices", "pages"), [(7, 4), (8, 4), (2, 1)])
def test_a_server_that_caps_its_pages_is_paged_until_total_rows(
    devices: int, pages: int, concurrency: int
) -> None:
    # Five rows asked for, two served per page: every device, and not one page more.
    ids = [f"dev-{n}" for n in range(devices)]
    h = Harness(paged_server(ids, cap=2), page_rows=5, concurrency=concurrency)
    listed = h.run(lambda c: c.list_devices_of([CUSTOMER]))[CUSTOMER]
    assert [d.device_id for d in listed] == ids
    assert sorted(b["PageNumber"] for b in h.bodies()) == list(range(1, pages + 1))
    assert {b["PageRows"] for b in h.bodies()} == {5}


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


def _counter(day: str, mono: int | None, color: int | None) -> dict[str, Any]:
    return {"Date": day, "Mono": mono, "Color": color, "MonoPagesInPeriod": 0}


@pytest.mark.parametrize("higher_first", [True, False], ids=["higher-first", "lower-first"])
@pytest.mark.parametrize("same_row", [True, False], ids=["one-row", "two-rows"])
def test_two_different_readings_for_one_date_the_higher_stands(
    higher_first: bool, same_row: bool
) -> None:
    higher, lower = _counter("2026-11-02", 9, 2), _counter("2026-11-02", 2, 2)
    pair = [higher, lower] if higher_first else [lower, higher]
    later = _counter("2026-11-03", 12, 2)
    if same_row:
        rows = [dict(counter_row("dev-1", {}), Counters=[later, *pair])]
    else:
        # The second row spells the id in another case: one device all the same.
        rows = [
            dict(counter_row("DEV-1", {}), Counters=[pair[1]]),
            dict(counter_row("dev-1", {}), Counters=[later, pair[0]]),
        ]
    h = Harness(lambda request: ok(rows))
    (readings,) = h.run(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 3))
    )
    assert readings.counts == {date(2026, 11, 2): 11, date(2026, 11, 3): 14}
    assert readings.duplicates == {date(2026, 11, 2): (4, 11)}
    assert list(readings.counts) == sorted(readings.counts)


def test_a_null_counter_counts_as_zero() -> None:
    mono_printer = dict(
        counter_row("mono", {}),
        Counters=[_counter("2026-11-02", 500, None), _counter("2026-11-01", 450, None)],
    )
    colour_only = dict(counter_row("colour", {}), Counters=[_counter("2026-11-01", None, 70)])
    h = Harness(lambda request: ok([mono_printer, colour_only]))
    readings = h.run(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 2))
    )
    assert readings == [
        DeviceReadings("mono", {date(2026, 11, 1): 450, date(2026, 11, 2): 500}),
        DeviceReadings("colour", {date(2026, 11, 1): 70}),
    ]
    listed = [device_row("mono", mono=500, CounterColor=None)]
    h = Harness(lambda request: ok(listed, TotalRows=1))
    (device,) = h.run(lambda c: c.list_devices(CUSTOMER))
    assert device.life_count == 500


def test_a_reading_outside_the_requested_window_is_invalid() -> None:
    rows = [counter_row("dev-1", {"2026-10-31": (2, 2)})]
    h = Harness(lambda request: ok(rows))
    error = h.fails(
        lambda c: c.counter_list("D-1042", CUSTOMER, date(2026, 11, 1), date(2026, 11, 3)),
        InvalidResponseError,
    )
    assert "outside the requested range" in str(error)


# -- one Device/List for many customers -----------------------------------------------------

OTHER = "0B1C2D3E4F506172"
EMPTY = "FFEEDDCCBBAA9988"


def fleet_server(
    devices: dict[str, list[str]],
    *,
    total: Callable[[int], int] | None = None,
    delay: float = 0.0,
    log: list[tuple[str, int, float]] | None = None,
) -> Handler:
    """A Device/List server over `devices` (code -> ids): filters by FilterCustomerCodes,
    sorts by Id, pages by PageNumber/PageRows and says TotalRows (or `total(page)`)."""

    async def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        codes = body["FilterCustomerCodes"]
        unknown = [code for code in codes if code not in devices]
        if unknown:
            return rejected(200, "CustomerNotFound")
        rows = sorted(
            (device_row(i, CustomerCode=code) for code in codes for i in devices[code]),
            key=lambda row: row["Id"],
        )
        size, number = body["PageRows"], body["PageNumber"]
        loop = asyncio.get_running_loop()
        if log is not None:
            log.append(("start", number, loop.time()))
        await asyncio.sleep(delay)
        if log is not None:
            log.append(("end", number, loop.time()))
        page = rows[(number - 1) * size : number * size]
        return ok(page, TotalRows=len(rows) if total is None else total(number))

    return handle


def ids(devices: list[Device]) -> list[str]:
    return [device.device_id for device in devices]


def test_list_devices_of_groups_several_customers_across_several_pages() -> None:
    fleet = {CUSTOMER: ["a1", "c3", "e5"], OTHER: ["b2", "d4"], EMPTY: []}
    h = Harness(fleet_server(fleet), page_rows=2)
    listing = h.run(lambda c: c.list_devices_of([CUSTOMER, OTHER, EMPTY], status="Managed"))

    assert list(listing) == [CUSTOMER, OTHER, EMPTY]
    assert ids(listing[CUSTOMER]) == ["a1", "c3", "e5"]
    assert ids(listing[OTHER]) == ["b2", "d4"]
    assert listing[EMPTY] == []  # a customer with no device is still a key
    assert {d.customer_code for d in listing[OTHER]} == {OTHER}
    assert sorted(b["PageNumber"] for b in h.bodies()) == [1, 2, 3]  # one paged request
    for body in h.bodies():
        assert body["FilterCustomerCodes"] == [CUSTOMER, OTHER, EMPTY]
        assert (body["Status"], body["PageRows"]) == ("Managed", 2)
        assert (body["SortColumn"], body["SortOrder"]) == ("Id", "Asc")
    for forbidden in (SERIAL, "10.2.3.4", "PRN-3F"):
        assert forbidden not in repr(listing)


def test_list_devices_of_asks_for_pages_at_the_contracts_limit() -> None:
    h = Harness(fleet_server({CUSTOMER: ["a"], OTHER: ["b"]}))
    h.run(lambda c: c.list_devices_of([CUSTOMER, OTHER]))
    assert [b["PageRows"] for b in h.bodies()] == [500]


def test_pages_after_the_first_are_fetched_concurrently_within_the_limit() -> None:
    fleet = {CUSTOMER: [f"a{n:02}" for n in range(12)], OTHER: [f"b{n:02}" for n in range(12)]}
    log: list[tuple[str, int, float]] = []
    h = Harness(fleet_server(fleet, delay=0.02, log=log), page_rows=2, concurrency=4)
    listing = h.run(lambda c: c.list_devices_of([CUSTOMER, OTHER]))

    assert ids(listing[CUSTOMER]) == fleet[CUSTOMER]
    assert ids(listing[OTHER]) == fleet[OTHER]
    assert sorted(b["PageNumber"] for b in h.bodies()) == list(range(1, 13))  # each once
    # Page 1 alone (it says TotalRows), then the other 11 pages, never more than 4 at once.
    first_end = next(t for kind, page, t in log if kind == "end" and page == 1)
    assert all(t >= first_end for kind, page, t in log if kind == "start" and page != 1)
    in_flight = peak = 0
    for kind, _page, _t in sorted(log, key=lambda e: (e[2], e[0] == "start")):
        in_flight += 1 if kind == "start" else -1
        peak = max(peak, in_flight)
    assert peak == 4
    assert h.client is not None and h.client.requests_sent == 12


def test_concurrent_pages_give_the_answer_of_paging_page_by_page() -> None:
    fleet = {CUSTOMER: [f"a{n}" for n in range(7)], OTHER: []}
    h = Harness(fleet_server(fleet), page_rows=3)

    async def both(client: MPSMonitorClient) -> tuple[Any, Any]:
        return await client.list_devices_of([CUSTOMER]), await client.list_devices(CUSTOMER)

    batch, alone = h.run(both)
    assert batch == {CUSTOMER: alone}


def test_list_devices_of_no_codes_sends_nothing() -> None:
    h = Harness(fleet_server({}))
    assert h.run(lambda c: c.list_devices_of([])) == {}
    assert h.requests == []


def test_list_devices_of_compares_codes_like_the_single_customer_request() -> None:
    lower = CUSTOMER.lower()
    rows = [device_row("a", CustomerCode=lower), device_row("b", CustomerCode=OTHER)]
    h = Harness(lambda request: ok(rows, TotalRows=2))
    listing = h.run(lambda c: c.list_devices_of([CUSTOMER, f" {lower} ", OTHER]))

    # Each customer is asked for once, as first spelled; every spelling asked for is a key.
    assert h.bodies()[0]["FilterCustomerCodes"] == [CUSTOMER, OTHER]
    assert ids(listing[CUSTOMER]) == ids(listing[f" {lower} "]) == ["a"]
    assert ids(listing[OTHER]) == ["b"]


def test_list_devices_of_refuses_a_bare_string_and_an_unknown_status() -> None:
    h = Harness(fleet_server({CUSTOMER: ["a"]}))
    with pytest.raises(TypeError, match="sequence"):
        h.run(lambda c: c.list_devices_of(CUSTOMER))
    with pytest.raises(ValueError, match="status"):
        h.run(lambda c: c.list_devices_of([CUSTOMER], status="Offline"))
    assert h.requests == []


def test_a_row_for_a_customer_not_asked_for_is_invalid() -> None:
    rows = [device_row("a"), device_row("b", CustomerCode=EMPTY)]
    h = Harness(lambda request: ok(rows, TotalRows=2))
    error = h.fails(lambda c: c.list_devices_of([CUSTOMER, OTHER]), InvalidResponseError)
    assert "Device/List page 1 row 2: device b belongs to another customer" in str(error)


@pytest.mark.parametrize("second_code", [CUSTOMER, OTHER])
def test_a_device_listed_twice_with_different_values_is_invalid(second_code: str) -> None:
    # Page 1 and page 2 (fetched concurrently) list device "a" with different counters, or
    # under two different customers.
    def handle(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["PageNumber"] == 1:
            return ok([device_row("a", mono=1)], TotalRows=2)
        return ok([device_row("a", mono=2, CustomerCode=second_code)], TotalRows=2)

    h = Harness(handle, page_rows=1)
    error = h.fails(lambda c: c.list_devices_of([CUSTOMER, OTHER]), InvalidResponseError)
    assert "Device/List page 2 row 1: device a is listed twice with different values" in str(error)


def test_a_device_listed_twice_alike_across_pages_is_kept_once() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["PageNumber"]
        rows = {1: ["a", "b"], 2: ["b", "c"], 3: ["d"]}[number]
        return ok([device_row(i) for i in rows], TotalRows=4)

    h = Harness(handle, page_rows=2)
    assert ids(h.run(lambda c: c.list_devices_of([CUSTOMER]))[CUSTOMER]) == ["a", "b", "c", "d"]


def test_paging_that_never_ends_is_refused_with_concurrent_pages() -> None:
    # A server that ignores PageNumber: the same full page, never reaching TotalRows.
    h = Harness(lambda request: ok([device_row("a"), device_row("b")], TotalRows=6), page_rows=2)
    error = h.fails(lambda c: c.list_devices_of([CUSTOMER, OTHER]), InvalidResponseError)
    assert "still short of TotalRows=6 after 4 pages" in str(error)
    assert len(h.requests) == 4  # TotalRows / PageRows + 1


def test_a_total_that_keeps_growing_does_not_page_forever() -> None:
    # Every page brings fresh devices and a TotalRows two pages further on.
    def handle(request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["PageNumber"]
        rows = [device_row(f"p{number}-{n}") for n in range(2)]
        return ok(rows, TotalRows=2 * number + 4)

    h = Harness(handle, page_rows=2)
    error = h.fails(lambda c: c.list_devices_of([CUSTOMER]), InvalidResponseError)
    assert "the server's paging does not end" in str(error)
    assert len(h.requests) <= 5  # the first page's 3, plus one page of growth


def test_an_empty_page_ends_the_listing_even_when_total_rows_says_more() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["PageNumber"]
        rows = {1: ["a", "b"], 2: ["c"]}.get(number, [])
        return ok([device_row(i) for i in rows], TotalRows=10)

    h = Harness(handle, page_rows=2, concurrency=2)
    assert ids(h.run(lambda c: c.list_devices_of([CUSTOMER]))[CUSTOMER]) == ["a", "b", "c"]
    assert len(h.requests) < 5  # pages after the first empty one are not all asked for


def test_an_unknown_code_in_the_batch_is_customer_not_found_and_each_alone_finds_it() -> None:
    fleet = {CUSTOMER: ["a"], OTHER: ["b"]}
    h = Harness(fleet_server(fleet))
    error = h.fails(lambda c: c.list_devices_of([CUSTOMER, "NOPE", OTHER]), CustomerNotFoundError)
    assert error.codes == ["CustomerNotFound"]
    assert "one of the 3 customer codes asked for is not known" in str(error)
    assert "ask for each customer alone" in str(error)
    assert len(h.requests) == 1  # not retried

    async def one_by_one(client: MPSMonitorClient) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for code in (CUSTOMER, "NOPE", OTHER):
            try:
                found[code] = ids(await client.list_devices(code))
            except CustomerNotFoundError as exc:
                found[code] = str(exc)
        return found

    found = h.run(one_by_one)
    assert found[CUSTOMER] == ["a"] and found[OTHER] == ["b"]
    assert found["NOPE"].startswith("customer code 'NOPE' is not known on https://mps.example")


def test_a_failing_page_fails_the_listing_and_stops_the_others() -> None:
    answered: list[int] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["PageNumber"]
        if number == 3:
            return httpx.Response(500)
        if number != 1:
            await asyncio.sleep(0.5)
        answered.append(number)
        return ok([device_row(f"d{number}")], TotalRows=6)

    h = Harness(handle, page_rows=1, concurrency=3, max_attempts=2)
    error = h.fails(lambda c: c.list_devices_of([CUSTOMER]), ServerError)
    assert "HTTP 500" in str(error)
    pages = [b["PageNumber"] for b in h.bodies()]
    assert pages.count(3) == 2  # page 3 used its attempts...
    assert answered == [1]  # ...while pages 2 and 4, still in flight, were cancelled
    assert max(pages) <= 4  # and no page was claimed after the failure


def test_a_page_failing_past_an_empty_page_does_not_count() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["PageNumber"]
        if number == 2:
            return ok([], TotalRows=6)
        if number > 2:
            return httpx.Response(500)
        return ok([device_row("a")], TotalRows=6)

    h = Harness(handle, page_rows=1, max_attempts=1)
    assert ids(h.run(lambda c: c.list_devices_of([CUSTOMER]))[CUSTOMER]) == ["a"]


# -- against the simulator ------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The project's MPS Monitor simulator over HTTPS, five customers."""
    from releaf_pipeline.simulator.config import FleetConfig
    from releaf_pipeline.simulator.fleet import Fleet
    from releaf_pipeline.simulator.server import Simulator

    workdir = tmp_path_factory.mktemp("sim")
    fleet = Fleet(FleetConfig(customers=5, devices_per_customer=4))
    with Simulator(fleet, token=TOKEN, today=date(2026, 10, 1), workdir=workdir) as sim:
        yield sim


def sim_run(sim: Any, call: Callable[[MPSMonitorClient], Any], **settings: Any) -> Any:
    async def main() -> Any:
        async with MPSMonitorClient(
            sim.url,
            TOKEN,
            ca_data=sim.ca_bundle.read_text(),
            settings=ClientSettings(timeout=10.0, **settings),
        ) as client:
            return await call(client), client.requests_sent

    return asyncio.run(main())


@pytest.mark.parametrize("status", ["All", "Managed", "NotManaged"])
def test_simulator_one_request_for_every_customer_matches_one_per_customer(
    simulator: Any, status: str
) -> None:
    codes = list(simulator.fleet.customer_codes)

    async def both(client: MPSMonitorClient) -> tuple[Any, Any]:
        alone = {code: await client.list_devices(code, status) for code in codes}
        return await client.list_devices_of(codes, status), alone

    (batch, alone), _ = sim_run(simulator, both, page_rows=3)
    assert list(batch) == codes
    assert batch == alone
    assert sum(len(devices) for devices in batch.values()) > 3  # several pages
    for code, devices in batch.items():
        assert {d.customer_code for d in devices} <= {code}


def test_simulator_pages_of_the_batch_are_counted_by_total_rows(simulator: Any) -> None:
    codes = list(simulator.fleet.customer_codes)
    listing, sent = sim_run(simulator, lambda c: c.list_devices_of(codes), page_rows=4)
    total = sum(len(devices) for devices in listing.values())
    assert sent == -(-total // 4)  # one request per page, no more


def test_simulator_unknown_code_in_the_batch(simulator: Any) -> None:
    codes = [*simulator.fleet.customer_codes[:2], "0000000000000000"]
    with pytest.raises(CustomerNotFoundError, match="one of the 3 customer codes"):
        sim_run(simulator, lambda c: c.list_devices_of(codes))


def test_simulator_customers_without_devices_are_empty_keys(tmp_path: Path) -> None:
    from releaf_pipeline.simulator.config import FleetConfig
    from releaf_pipeline.simulator.fleet import Fleet
    from releaf_pipeline.simulator.server import Simulator

    fleet = Fleet(FleetConfig(customers=3))
    # Before the fleet's history starts, no customer has a device yet.
    with Simulator(fleet, token=TOKEN, today=date(2026, 7, 1), workdir=tmp_path) as sim:
        codes = list(fleet.customer_codes)
        listing, sent = sim_run(sim, lambda c: c.list_devices_of(codes))
    assert listing == {code: [] for code in codes}
    assert sent == 1
