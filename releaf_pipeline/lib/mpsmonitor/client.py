"""Async HTTPS client for the MPS Monitor integration API (`mpsmonitor-api.md`).

`MPSMonitorClient` sends exactly the contract's four read-only requests through a
`ServerTransport` (`transport.py`: HTTPS only, politeness, time-outs, retries) and turns every
answer into the typed models of `models.py` through `decoding.py`, keeping only the fields
the pipeline is allowed to keep. Every failure is an `MPSMonitorError` that names the server
(host only), the request and what to do; the dealer token, serial numbers, addresses and
descriptions never appear in an exception or a log message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import httpx

from releaf_pipeline.lib.mpsmonitor import decoding
from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    DEVICE_STATUSES,
    PING_PATH,
)
from releaf_pipeline.lib.mpsmonitor.decoding import Malformed
from releaf_pipeline.lib.mpsmonitor.models import Customer, Device, DeviceReadings, Ping
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.mpsmonitor.transport import ServerTransport

_Envelope = dict[str, Any]
_DEFAULT_SETTINGS = ClientSettings()


class MPSMonitorClient:
    """Client of one MPS Monitor server, shared by every feed on that server.

    Use it as an async context manager (or call `aclose`). All requests go through one
    connection pool and one adaptive limit, so `ClientSettings.concurrency` bounds the
    requests in flight to this server across all callers sharing the client.

    `requests_sent` counts HTTP attempts (retries included), `retries` the retried ones and
    `throttled` the 429 answers; `concurrency_limit` is the current, adaptive limit.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_bundle: str | os.PathLike[str] | None = None,
        ca_data: str | None = None,
        settings: ClientSettings = _DEFAULT_SETTINGS,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._transport = ServerTransport(
            base_url,
            token,
            ca_bundle=ca_bundle,
            ca_data=ca_data,
            settings=settings,
            transport=transport,
            sleep=sleep,
            rng=rng,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(server={self.server!r}, "
            f"requests_sent={self.requests_sent}, retries={self.retries})"
        )

    @property
    def server(self) -> str:
        """The server as named in messages: ``https://host[:port]``."""
        return self._transport.server

    @property
    def requests_sent(self) -> int:
        return self._transport.requests_sent

    @property
    def retries(self) -> int:
        return self._transport.retries

    @property
    def throttled(self) -> int:
        return self._transport.throttled

    @property
    def concurrency_limit(self) -> int:
        """Requests allowed in flight now (lower after throttling)."""
        return self._transport.limit.limit

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Safe to call more than once."""
        await self._transport.aclose()

    # -- the four requests ---------------------------------------------------------------

    async def ping(self) -> Ping:
        """`GET /api3/PrintReleaf/Ping`: the server health check, with the dealer code."""
        label = "PrintReleaf/Ping"
        envelope = await self._transport.call("GET", PING_PATH, None, label)
        with self._decoding():
            return decoding.parse_ping(envelope["Result"], label)

    async def get_customer(self, code: str) -> Customer:
        """`POST /api3/Customer/GetCustomerByCode`; raises `CustomerNotFoundError` if unknown."""
        label = "Customer/GetCustomerByCode"
        envelope = await self._transport.call(
            "POST", CUSTOMER_PATH, {"Code": code}, label, customer=code
        )
        with self._decoding():
            return decoding.parse_customer(envelope["Result"], label, code)

    async def list_devices(self, customer_code: str, status: str = "All") -> list[Device]:
        """`POST /api3/Device/List` for one customer, every page, sorted by Id.

        `status` is ``All``, ``Managed`` or ``NotManaged``. A device listed twice is kept
        once if both rows agree; rows that disagree make the response invalid. Pages are
        read one after another, so a server whose TotalRows overstates its devices costs
        no request past the first empty page.
        """
        listing = await self._list_devices([customer_code], status, pages_in_flight=1)
        return listing[customer_code]

    async def list_devices_of(
        self, customer_codes: Sequence[str], status: str = "All"
    ) -> dict[str, list[Device]]:
        """One paged `POST /api3/Device/List` for many customers: their devices by code.

        Every code asked for is a key (with an empty list when it has no device); codes
        are compared ignoring case and surrounding spaces, and each customer is asked for
        once. The first page gives TotalRows; the pages after it are then fetched
        concurrently, at most `ClientSettings.concurrency` at a time (and never more than
        the adaptive limit allows), and merged in page order, so the answer is the one
        paging page by page would give. A row for a code not asked for, or a device listed
        twice with different values, makes the answer invalid (`InvalidResponseError`).
        When the server does not know one of the codes it answers CustomerNotFound for the
        whole batch: `CustomerNotFoundError` is raised, and asking for each customer alone
        tells which. No code, no request: ``{}``.
        """
        return await self._list_devices(
            customer_codes, status, pages_in_flight=self._settings.concurrency
        )

    async def counter_list(
        self, dealer_code: str, customer_code: str, from_date: date, to_date: date
    ) -> list[DeviceReadings]:
        """`POST /api3/Counter/List` for `from_date`..`to_date` (both inclusive).

        The range is split into consecutive windows of at most `max_range_days` days, the
        contract's limit, requested one after another; rows are merged by DeviceId. A null
        Mono or Color counts as 0; two different readings for one device and date: the
        higher stands, and the date is in the device's `duplicates`.
        """
        first = _date_arg(from_date, "from_date")
        last = _date_arg(to_date, "to_date")
        if first > last:
            raise ValueError(f"from_date {first} is after to_date {last}")
        span = timedelta(days=self._settings.max_range_days - 1)
        merged: dict[str, DeviceReadings] = {}
        # Device ids compare without regard to case: the first spelling seen stands.
        spelling: dict[str, str] = {}
        start = first
        while start <= last:
            end = min(start + span, last)
            window = await self._counter_window(dealer_code, customer_code, start, end)
            for readings in window.values():
                device_id = spelling.setdefault(
                    decoding.device_key(readings.device_id), readings.device_id
                )
                # Windows do not overlap and readings outside a window are refused, so
                # merging across windows never meets a date twice.
                known = merged.setdefault(device_id, DeviceReadings(device_id))
                decoding.merge_readings(known, readings)
            start = end + timedelta(days=1)
        return [
            DeviceReadings(
                device_id=device_id,
                counts=dict(sorted(r.counts.items())),
                rejected=dict(sorted(r.rejected.items())),
                duplicates=dict(sorted(r.duplicates.items())),
            )
            for device_id, r in merged.items()
        ]

    # -- helpers -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _decoding(self) -> Iterator[None]:
        """Turn a `Malformed` answer into the one `InvalidResponseError` naming the server."""
        try:
            yield
        except Malformed as exc:
            raise self._transport.invalid(str(exc)) from None

    async def _counter_window(
        self, dealer_code: str, customer_code: str, first: date, last: date
    ) -> dict[str, DeviceReadings]:
        label = f"Counter/List {first.isoformat()}..{last.isoformat()}"
        body = {
            "DealerCode": dealer_code,
            "CustomerCode": customer_code,
            "FromDate": first.isoformat(),
            "ToDate": last.isoformat(),
        }
        envelope = await self._transport.call(
            "POST", COUNTER_LIST_PATH, body, label, customer=customer_code
        )
        with self._decoding():
            return decoding.parse_counter_window(
                envelope["Result"], label, customer_code, first, last
            )

    async def _list_devices(
        self, customer_codes: Sequence[str], status: str, *, pages_in_flight: int
    ) -> dict[str, list[Device]]:
        if isinstance(customer_codes, str) or not all(
            isinstance(code, str) for code in customer_codes
        ):
            raise TypeError("customer codes must be given as a sequence of strings")
        if status not in DEVICE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(DEVICE_STATUSES)}, got {status!r}")
        codes = list(customer_codes)
        if not codes:
            return {}
        first_spelling: dict[str, str] = {}
        for code in codes:
            first_spelling.setdefault(decoding.code_key(code), code)
        asked = list(first_spelling.values())
        # Messages name a lone customer; for a batch they say how many were asked for.
        who: str | tuple[str, ...] = asked[0] if len(asked) == 1 else tuple(asked)
        listing = _DeviceListing(asked, self._settings.page_rows)
        prefetched: dict[int, _Envelope] = {}
        page = 1
        while True:
            envelope = prefetched.pop(page, None)
            if envelope is None:
                envelope = await self._device_page(asked, status, page, who)
            with self._decoding():
                if listing.add(page, envelope):
                    break
                listing.check_more(page)
            if page == 1 and pages_in_flight > 1:
                pages = range(2, listing.expected_pages + 1)
                prefetched = await self._prefetch(asked, status, pages, pages_in_flight, who)
            page += 1
        return {code: list(listing.devices_of(code)) for code in codes}

    async def _device_page(
        self, asked: list[str], status: str, page: int, who: str | tuple[str, ...]
    ) -> _Envelope:
        body = {
            "FilterCustomerCodes": asked,
            "Status": status,
            "PageNumber": page,
            "PageRows": self._settings.page_rows,
            "SortColumn": "Id",
            "SortOrder": "Asc",
        }
        label = f"Device/List page {page}"
        return await self._transport.call("POST", DEVICE_LIST_PATH, body, label, customer=who)

    async def _prefetch(
        self,
        asked: list[str],
        status: str,
        pages: range,
        workers: int,
        who: str | tuple[str, ...],
    ) -> dict[int, _Envelope]:
        """Fetch `pages` with at most `workers` in flight; an empty page ends the listing,
        so no page after it is asked for. The first failure (of the lowest page) stops the
        others and is raised."""
        fetched: dict[int, _Envelope] = {}
        failed: dict[int, BaseException] = {}
        end = pages.stop
        claims = iter(pages)

        async def worker() -> None:
            nonlocal end
            for page in claims:  # shared: each page is claimed by one worker
                if page >= end or failed:
                    return
                try:
                    envelope = await self._device_page(asked, status, page, who)
                except Exception as exc:
                    failed[page] = exc
                    raise
                fetched[page] = envelope
                if envelope.get("Result") == []:
                    end = min(end, page + 1)

        tasks = [asyncio.create_task(worker()) for _ in range(min(workers, len(pages)))]
        if not tasks:
            return fetched
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # A page past an empty one would not have been asked for page by page: its failure
        # does not count. Pages cancelled before answering are fetched again in order.
        relevant = [page for page in failed if page < end]
        if relevant:
            raise failed[min(relevant)]
        return fetched


class _DeviceListing:
    """The pages of one Device/List request, merged in page order.

    Pages are added in order, exactly as paging page by page would see them, so fetching
    some of them concurrently never changes the answer or the error. A server may hold
    fewer rows per page than asked for: the listing goes on until TotalRows rows have
    come or a page is empty, counting pages in the rows they actually hold.
    """

    def __init__(self, asked: Sequence[str], page_rows: int) -> None:
        self._by_customer: dict[str, list[Device]] = {decoding.code_key(c): [] for c in asked}
        self._devices: dict[str, Device] = {}
        # Rows per page: what was asked for, or less where the server caps its pages.
        self._page_rows = page_rows
        self._first_total: int | None = None
        self._max_total = 0

    def devices_of(self, code: str) -> list[Device]:
        return self._by_customer[decoding.code_key(code)]

    def add(self, page: int, envelope: _Envelope) -> bool:
        """Merge the next page; True once the listing is complete."""
        label = f"Device/List page {page}"
        total = decoding.total_rows(envelope, label)
        rows = decoding.as_list(envelope["Result"], f"{label}: field 'Result'")
        for index, row in enumerate(rows, start=1):
            device = decoding.parse_device(row, f"{label} row {index}", self._by_customer)
            # Ids that differ only in case name one device (the contract): the first
            # row's spelling stands.
            known = self._devices.setdefault(decoding.device_key(device.device_id), device)
            if known is device:
                self._by_customer[decoding.code_key(device.customer_code)].append(device)
            elif replace(known, device_id=device.device_id) != device:
                raise Malformed(
                    f"{label} row {index}: device {device.device_id} is listed twice "
                    "with different values"
                )
        if self._first_total is None:
            self._first_total = total
        self._max_total = max(self._max_total, total)
        done = not rows or len(self._devices) >= total
        if not done:
            # A page short of TotalRows holding fewer rows than asked for shows the server's
            # own cap (the contract allows one): the pages are counted in its size.
            self._page_rows = min(self._page_rows, len(rows))
        return done

    @property
    def expected_pages(self) -> int:
        """How many pages the first page's TotalRows calls for, at the rows it held."""
        return -(-(self._first_total or 0) // self._page_rows)

    def check_more(self, page: int) -> None:
        """Refuse to read a page past what TotalRows allows."""
        # Pages overlap when devices are added while paging, so a few extra pages are
        # fine; a server that never runs out of pages is not. TotalRows may grow while
        # paging, but by at most one page: a count that keeps growing would page forever.
        first_total = self._first_total or 0
        believed = min(self._max_total, first_total + self._page_rows)
        if page + 1 > believed // self._page_rows + 1:
            raise Malformed(
                f"Device/List: still short of TotalRows={self._max_total} after {page} pages "
                f"of {self._page_rows} rows; the server's paging does not end"
            )


def _date_arg(value: date, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__}")
    return value
