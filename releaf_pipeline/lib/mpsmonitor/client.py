"""Async HTTPS client for the MPS Monitor integration API (`mpsmonitor-api.md`).

The client sends exactly the contract's four read-only requests, always over HTTPS with
certificate verification, retries what a flaky vendor server makes worth retrying, and turns
every answer into the typed models of `models.py`, keeping only the fields the pipeline is
allowed to keep. Every failure is an `MPSMonitorError` that names the server (host only),
the request and what to do; the dealer token, serial numbers, addresses and descriptions
never appear in an exception or a log message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, NoReturn, Self
from urllib.parse import urlsplit

import httpx

from releaf_pipeline.lib.mpsmonitor.errors import (
    CustomerNotFoundError,
    InsecureURLError,
    InvalidResponseError,
    RequestRejectedError,
    RequestTimeoutError,
    ServerError,
    TLSError,
    UnauthorizedError,
    UnreachableError,
)
from releaf_pipeline.lib.mpsmonitor.models import Customer, Device, DeviceReadings, Ping

logger = logging.getLogger(__name__)

PING_PATH = "/api3/PrintReleaf/Ping"
CUSTOMER_PATH = "/api3/Customer/GetCustomerByCode"
DEVICE_LIST_PATH = "/api3/Device/List"
COUNTER_LIST_PATH = "/api3/Counter/List"

DEVICE_STATUSES = ("All", "Managed", "NotManaged")
MAX_PAGE_ROWS = 500
# "At most 93 days apart" with both ends inclusive allows 94 calendar days per window.
MAX_RANGE_DAYS = 94

_FailureKind = Literal["timeout", "unreachable", "server"]


@dataclass(frozen=True)
class ClientSettings:
    """Time-outs, retry policy, concurrency and request sizes of one `MPSMonitorClient`.

    Back-off is "full jitter": before retry n (0-based) the client sleeps
    ``uniform(0, min(backoff_max, backoff_base * 2**n))`` seconds, or the server's
    ``Retry-After`` capped at ``max_retry_after`` when the server sent one.
    """

    timeout: float = 10.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    concurrency: int = 8
    page_rows: int = MAX_PAGE_ROWS
    max_range_days: int = 93

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.max_retry_after < 0:
            raise ValueError("backoff_base, backoff_max and max_retry_after must not be negative")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if not 1 <= self.page_rows <= MAX_PAGE_ROWS:
            raise ValueError(
                f"page_rows must be between 1 and {MAX_PAGE_ROWS}, got {self.page_rows}"
            )
        if not 1 <= self.max_range_days <= MAX_RANGE_DAYS:
            raise ValueError(
                f"max_range_days must be between 1 and {MAX_RANGE_DAYS}, got {self.max_range_days}"
            )


def _safe_display(url: str) -> str:
    """The URL without user info, query or fragment, fit for an error message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.netloc.rpartition("@")[2]
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return f"{scheme}{host}{parts.path}"


def require_https(url: str) -> str:
    """Return `url` normalised (lower-case scheme, no trailing ``/``) if it is HTTPS with a host.

    Anything else raises `InsecureURLError`: the pipeline never talks plain HTTP, and a URL
    that embeds credentials, a query or a fragment cannot be a server's base URL.
    """
    if not isinstance(url, str):
        raise InsecureURLError(
            f"an MPS Monitor server URL must be a string, got {type(url).__name__}"
        )
    text = url.strip()
    shown = _safe_display(text)
    try:
        parts = urlsplit(text)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise InsecureURLError(
            f"{shown!r} is not a valid URL: register the server as https://<host>[:port]"
        ) from None
    if parts.scheme.lower() != "https":
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise InsecureURLError(
            f"{shown!r} uses {scheme}: MPS Monitor servers are only reached over https:// "
            "with certificate verification; register the server's https:// URL"
        )
    if not host:
        raise InsecureURLError(
            f"{shown!r} has no host name: register the server as https://<host>[:port]"
        )
    if parts.username is not None or parts.password is not None:
        raise InsecureURLError(
            f"{shown!r} embeds credentials in the URL: register the URL without them "
            "and the dealer token separately"
        )
    if parts.query or parts.fragment:
        raise InsecureURLError(
            f"{shown!r} has a query or fragment: register only the server's base URL"
        )
    netloc = parts.netloc.rpartition("@")[2]
    return f"https://{netloc}{parts.path.rstrip('/')}"


def _server_label(base_url: str) -> str:
    """``https://host[:port]``: how messages name a server (never a path, query or token)."""
    return f"https://{urlsplit(base_url).netloc.lower()}"


def _build_ssl_context(
    ca_bundle: str | os.PathLike[str] | None, ca_data: str | None, server: str
) -> ssl.SSLContext:
    # Verification stays on in every branch: create_default_context requires a valid
    # certificate chain and a matching host name, and nothing here loosens it.
    if ca_data is not None:
        try:
            return ssl.create_default_context(cadata=ca_data)
        except (ValueError, ssl.SSLError) as exc:
            raise TLSError(
                f"the CA bundle registered for {server} cannot be loaded "
                f"({type(exc).__name__}): register a PEM file with the server's CA"
            ) from exc
    if ca_bundle is None:
        return ssl.create_default_context()
    path = os.fspath(ca_bundle)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(
            f"the CA bundle {path!r} registered for {server} cannot be loaded "
            f"({type(exc).__name__}): register a readable PEM file with the server's CA"
        ) from exc


def _check_token(token: str) -> None:
    # A token that is not a valid header value would make the HTTP layer raise an error
    # that quotes the header, leaking the token; refuse it up front without echoing it.
    if not isinstance(token, str):
        raise TypeError(f"the dealer token must be a string, got {type(token).__name__}")
    if token != token.strip() or any(not (" " <= ch <= "~") for ch in token):
        raise ValueError(
            "the dealer token contains characters that cannot be sent in an HTTP header "
            "(whitespace at the ends, control or non-ASCII characters): register it again"
        )


class _Malformed(Exception):
    """A response does not follow the contract; the message names the request and the field."""


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _Malformed(f"{where}: field {key!r} is missing")
    return obj[key]


def _as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{where}: must be an object, got {_type_name(value)}")
    return value


def _as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Malformed(f"{where} must be a list, got {_type_name(value)}")
    return value


def _get_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise _Malformed(f"{where}: field {key!r} must be a string, got {_type_name(value)}")
    if not value.strip():
        raise _Malformed(f"{where}: field {key!r} must not be empty")
    return value


def _get_int(obj: dict[str, Any], key: str, where: str) -> int:
    value = _field(obj, key, where)
    # bool is a subclass of int in Python, but `true` is not a page count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{where}: field {key!r} must be an integer, got {_type_name(value)}")
    if value < 0:
        raise _Malformed(f"{where}: field {key!r} must not be negative")
    return value


def _get_bool(obj: dict[str, Any], key: str, where: str) -> bool:
    value = _field(obj, key, where)
    if not isinstance(value, bool):
        raise _Malformed(f"{where}: field {key!r} must be a boolean, got {_type_name(value)}")
    return value


def _get_date(obj: dict[str, Any], key: str, where: str) -> date:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise _Malformed(f"{where}: field {key!r} must be an ISO date, got {_type_name(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Malformed(f"{where}: field {key!r} is not an ISO date (YYYY-MM-DD)") from None


def _parse_datetime(value: object, key: str, where: str) -> datetime:
    if not isinstance(value, str):
        raise _Malformed(
            f"{where}: field {key!r} must be an ISO date-time, got {_type_name(value)}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Malformed(f"{where}: field {key!r} is not an ISO date-time") from None
    # The contract's times are UTC ("...Z"); a naive value is read as UTC rather than
    # as the pipeline host's local time.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _get_datetime(obj: dict[str, Any], key: str, where: str) -> datetime:
    return _parse_datetime(_field(obj, key, where), key, where)


def _get_optional_datetime(obj: dict[str, Any], key: str, where: str) -> datetime | None:
    value = obj.get(key)
    return None if value is None else _parse_datetime(value, key, where)


def _same_code(a: str, b: str) -> bool:
    # Customer codes are hex strings; a server may echo them in another case.
    return a.strip().casefold() == b.strip().casefold()


def _parse_device(row: object, where: str, customer_code: str) -> Device:
    obj = _as_object(row, where)
    device = Device(
        device_id=_get_str(obj, "Id", where),
        customer_code=_get_str(obj, "CustomerCode", where),
        managed=_get_bool(obj, "IsManaged", where),
        life_count=_get_int(obj, "CounterMono", where) + _get_int(obj, "CounterColor", where),
        last_update=_get_optional_datetime(obj, "LastUpdate", where),
    )
    # A device of another customer would deposit its pages on the wrong account.
    if not _same_code(device.customer_code, customer_code):
        raise _Malformed(f"{where}: device {device.device_id} belongs to another customer")
    return device


# A lifetime counter above this is not a printer's: a billion pages is decades of the
# busiest production press.
MAX_LIFE_COUNT = 1_000_000_000


def _counter_value(obj: dict[str, Any], key: str, where: str) -> int:
    value = _field(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{where}: field {key!r} must be an integer, got {_type_name(value)}")
    return value


def _implausible(mono: int, color: int) -> str | None:
    if mono < 0 or color < 0:
        return f"negative counter (Mono {mono}, Color {color})"
    if mono + color > MAX_LIFE_COUNT:
        return f"absurd counter (Mono {mono}, Color {color}: over {MAX_LIFE_COUNT:,} pages)"
    return None


def _parse_counter_row(
    row: object, where: str, customer_code: str, first: date, last: date
) -> tuple[str, dict[date, int], dict[date, str]]:
    obj = _as_object(row, where)
    device_id = _get_str(obj, "DeviceId", where)
    if obj.get("CustomerCode") is not None and not _same_code(
        _get_str(obj, "CustomerCode", where), customer_code
    ):
        raise _Malformed(f"{where}: device {device_id} belongs to another customer")
    counters = _as_list(_field(obj, "Counters", where), f"{where}: field 'Counters'")
    counts: dict[date, int] = {}
    rejected: dict[date, str] = {}
    for index, entry in enumerate(counters, start=1):
        at = f"{where}, Counters[{index}]"
        reading = _as_object(entry, at)
        day = _get_date(reading, "Date", at)
        mono, color = _counter_value(reading, "Mono", at), _counter_value(reading, "Color", at)
        if not first <= day <= last:
            raise _Malformed(f"{at}: reading dated {day} is outside the requested range")
        # A well-formed but impossible reading is the device's problem, not the response's:
        # it is set aside (and flagged) so the rest of the customer's data still counts.
        problem = _implausible(mono, color)
        if problem:
            rejected[day] = problem
            continue
        life_count = mono + color
        if counts.get(day, life_count) != life_count:
            raise _Malformed(f"{where}: device {device_id} has two different readings for {day}")
        counts[day] = life_count
    return device_id, counts, rejected


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        # RFC 9110 also allows an HTTP-date; the contract uses seconds, but a proxy in
        # front of the server may not.
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _date_arg(value: date, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__}")
    return value


class AdaptiveLimit:
    """At most `limit` requests in flight to one server, where `limit` halves each time
    the server throttles (HTTP 429) and grows back by one after `limit` answers in a row,
    up to the configured maximum: speed never comes from hammering a dealer's server."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.lowest = maximum
        self._in_flight = 0
        self._streak = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1

    async def __aexit__(self, *_exc: object) -> None:
        async with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def throttled(self) -> None:
        """The server said slow down."""
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self._streak = 0

    def succeeded(self) -> None:
        """An answer that was not throttled."""
        self._streak += 1
        if self._streak >= self.limit and self.limit < self.maximum:
            self.limit += 1
            self._streak = 0


class MPSMonitorClient:
    """Client of one MPS Monitor server, shared by every feed on that server.

    Use it as an async context manager (or call `aclose`). All requests go through one
    connection pool and one semaphore, so `ClientSettings.concurrency` bounds the requests
    in flight to this server across all callers sharing the client.

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
        settings: ClientSettings = ClientSettings(),
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._base_url = require_https(base_url)
        self._server = _server_label(self._base_url)
        _check_token(token)
        self._settings = settings
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._limit = AdaptiveLimit(settings.concurrency)
        self.requests_sent = 0
        self.retries = 0
        self.throttled = 0
        self._http = httpx.AsyncClient(
            headers={
                "X-Dealer-Token": token,
                "Accept": "application/json",
                "User-Agent": "releaf-pipeline",
            },
            verify=_build_ssl_context(ca_bundle, ca_data, self._server),
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
            http2=False,
            follow_redirects=False,
            # Environment settings could route requests through a proxy or attach .netrc
            # credentials; the server's registration alone decides where requests go.
            trust_env=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(server={self._server!r}, "
            f"requests_sent={self.requests_sent}, retries={self.retries})"
        )

    @property
    def server(self) -> str:
        """The server as named in messages: ``https://host[:port]``."""
        return self._server

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
        await self._http.aclose()

    # -- the four requests ---------------------------------------------------------------

    async def ping(self) -> Ping:
        """`GET /api3/PrintReleaf/Ping`: the server health check, with the dealer code."""
        label = "PrintReleaf/Ping"
        result = await self._call("GET", PING_PATH, None, label)
        try:
            obj = _as_object(result, f"{label} Result")
            return Ping(
                dealer_code=_get_str(obj, "DealerCode", f"{label} Result"),
                server_time_utc=_get_datetime(obj, "ServerTimeUtc", f"{label} Result"),
            )
        except _Malformed as exc:
            raise self._invalid(str(exc)) from None

    async def get_customer(self, code: str) -> Customer:
        """`POST /api3/Customer/GetCustomerByCode`; raises `CustomerNotFoundError` if unknown."""
        label = "Customer/GetCustomerByCode"
        result = await self._call("POST", CUSTOMER_PATH, {"Code": code}, label, customer=code)
        where = f"{label} Result"
        try:
            obj = _as_object(result, where)
            customer = Customer(
                id=_get_str(obj, "Id", where),
                code=_get_str(obj, "Code", where),
                time_zone=_get_str(obj, "TimeZoneIana", where),
            )
            if not _same_code(customer.code, code):
                raise _Malformed(f"{where}: the server answered for another customer code")
        except _Malformed as exc:
            raise self._invalid(str(exc)) from None
        return customer

    async def list_devices(self, customer_code: str, status: str = "All") -> list[Device]:
        """`POST /api3/Device/List` for one customer, every page, sorted by Id.

        `status` is ``All``, ``Managed`` or ``NotManaged``. A device listed twice is kept
        once if both rows agree; rows that disagree make the response invalid.
        """
        if status not in DEVICE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(DEVICE_STATUSES)}, got {status!r}")
        page_rows = self._settings.page_rows
        devices: dict[str, Device] = {}
        max_total = 0
        page = 1
        while True:
            label = f"Device/List page {page}"
            body = {
                "FilterCustomerCodes": [customer_code],
                "Status": status,
                "PageNumber": page,
                "PageRows": page_rows,
                "SortColumn": "Id",
                "SortOrder": "Asc",
            }
            envelope = await self._call_envelope(
                "POST", DEVICE_LIST_PATH, body, label, customer=customer_code
            )
            try:
                total = envelope.get("TotalRows")
                if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                    raise _Malformed(
                        f"{label}: field 'TotalRows' must be a non-negative integer, "
                        f"got {_type_name(total)}"
                    )
                rows = _as_list(envelope["Result"], f"{label}: field 'Result'")
                for index, row in enumerate(rows, start=1):
                    device = _parse_device(row, f"{label} row {index}", customer_code)
                    known = devices.setdefault(device.device_id, device)
                    if known != device:
                        raise _Malformed(
                            f"{label} row {index}: device {device.device_id} is listed twice "
                            "with different values"
                        )
                max_total = max(max_total, total)
                if not rows or len(devices) >= total:
                    return list(devices.values())
                # Pages overlap when devices are added while paging, so a few extra pages
                # are fine; a server that never runs out of pages is not.
                if page + 1 > max_total // page_rows + 1:
                    raise _Malformed(
                        f"Device/List: still short of TotalRows={max_total} after {page} pages "
                        f"of {page_rows} rows; the server's paging does not end"
                    )
            except _Malformed as exc:
                raise self._invalid(str(exc)) from None
            page += 1

    async def counter_list(
        self, dealer_code: str, customer_code: str, from_date: date, to_date: date
    ) -> list[DeviceReadings]:
        """`POST /api3/Counter/List` for `from_date`..`to_date` (both inclusive).

        The range is split into consecutive windows of at most `max_range_days` days, the
        contract's limit, requested one after another; rows are merged by DeviceId. Rows
        for one device that disagree on a date make the response invalid.
        """
        first = _date_arg(from_date, "from_date")
        last = _date_arg(to_date, "to_date")
        if first > last:
            raise ValueError(f"from_date {first} is after to_date {last}")
        span = timedelta(days=self._settings.max_range_days - 1)
        merged: dict[str, dict[date, int]] = {}
        rejected: dict[str, dict[date, str]] = {}
        start = first
        while start <= last:
            end = min(start + span, last)
            window, window_rejected = await self._counter_window(
                dealer_code, customer_code, start, end
            )
            for device_id, counts in window.items():
                # Windows do not overlap and readings outside a window are refused, so
                # merging across windows cannot overwrite a reading.
                merged.setdefault(device_id, {}).update(counts)
            for device_id, problems in window_rejected.items():
                merged.setdefault(device_id, {})
                rejected.setdefault(device_id, {}).update(problems)
            start = end + timedelta(days=1)
        return [
            DeviceReadings(
                device_id=device_id,
                counts=dict(sorted(counts.items())),
                rejected=dict(sorted(rejected.get(device_id, {}).items())),
            )
            for device_id, counts in merged.items()
        ]

    async def _counter_window(
        self, dealer_code: str, customer_code: str, first: date, last: date
    ) -> tuple[dict[str, dict[date, int]], dict[str, dict[date, str]]]:
        label = f"Counter/List {first.isoformat()}..{last.isoformat()}"
        body = {
            "DealerCode": dealer_code,
            "CustomerCode": customer_code,
            "FromDate": first.isoformat(),
            "ToDate": last.isoformat(),
        }
        result = await self._call("POST", COUNTER_LIST_PATH, body, label, customer=customer_code)
        rows: dict[str, dict[date, int]] = {}
        rejected: dict[str, dict[date, str]] = {}
        try:
            for index, row in enumerate(_as_list(result, f"{label}: field 'Result'"), start=1):
                where = f"{label} row {index}"
                device_id, counts, problems = _parse_counter_row(
                    row, where, customer_code, first, last
                )
                if problems:
                    rejected.setdefault(device_id, {}).update(problems)
                known = rows.setdefault(device_id, {})
                for day, life_count in counts.items():
                    if known.get(day, life_count) != life_count:
                        raise _Malformed(
                            f"{where}: device {device_id} is listed twice with different "
                            f"readings for {day}"
                        )
                    known[day] = life_count
        except _Malformed as exc:
            raise self._invalid(str(exc)) from None
        return rows, rejected

    # -- transport -----------------------------------------------------------------------

    @property
    def concurrency_limit(self) -> int:
        """Requests allowed in flight now (lower after throttling)."""
        return self._limit.limit

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        label: str,
        *,
        customer: str | None = None,
    ) -> Any:
        envelope = await self._call_envelope(method, path, body, label, customer=customer)
        return envelope["Result"]

    async def _call_envelope(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        label: str,
        *,
        customer: str | None = None,
    ) -> dict[str, Any]:
        """Send one request with retries and return its valid envelope."""
        url = self._base_url + path
        # The base URL was checked at construction; checking again here means a client
        # whose URL was swapped afterwards still never sends the token in clear text.
        require_https(url)
        attempts = self._settings.max_attempts
        kind: _FailureKind = "server"
        last = ""
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._send(method, url, body)
            except (httpx.TimeoutException, TimeoutError) as exc:
                kind, last = "timeout", type(exc).__name__
            except httpx.TransportError as exc:
                self._raise_if_tls(exc)
                kind, last = "unreachable", type(exc).__name__
            except httpx.RequestError as exc:
                raise self._invalid(
                    f"{label}: the body could not be decoded ({type(exc).__name__})"
                ) from exc
            else:
                status = response.status_code
                if status == 429:
                    self._limit.throttled()
                    self.throttled += 1
                elif status < 500:
                    self._limit.succeeded()
                if status != 429 and status < 500:
                    return self._envelope(response, path, label, customer)
                kind, last = "server", f"HTTP {status}"
                retry_after = _retry_after_seconds(response)
            if attempt == attempts:
                break
            if retry_after is not None:
                delay = min(retry_after, self._settings.max_retry_after)
            else:
                cap = self._settings.backoff_base * 2 ** min(attempt - 1, 62)
                delay = self._rng.uniform(0, min(self._settings.backoff_max, cap))
            self.retries += 1
            logger.warning(
                "MPS Monitor %s failed with %s on attempt %d of %d; retrying",
                path,
                last,
                attempt,
                attempts,
            )
            await self._sleep(delay)
        raise self._exhausted(kind, path, last, attempts)

    async def _send(self, method: str, url: str, body: dict[str, Any] | None) -> httpx.Response:
        async with self._limit:
            self.requests_sent += 1
            # httpx's time-out applies per network operation; a server that trickles its
            # answer a byte at a time would never trip it, so bound the whole request too.
            async with asyncio.timeout(self._settings.timeout):
                if body is None:
                    return await self._http.request(method, url)
                return await self._http.request(
                    method,
                    url,
                    content=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                )

    def _raise_if_tls(self, exc: httpx.TransportError) -> None:
        cause = _ssl_cause(exc)
        if cause is None or not isinstance(exc, httpx.ConnectError):
            return
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = getattr(cause, "verify_message", None) or "verification failed"
            raise TLSError(
                f"the certificate of {self._server} could not be verified ({detail}): "
                "register the server's CA bundle, or have the server present a certificate "
                "trusted by the system store and valid for its host name"
            ) from exc
        # An EOF during the handshake is a dropped connection, worth retrying; any other
        # TLS failure (no common protocol or cipher, plain HTTP on the port) will not heal.
        if not isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            raise TLSError(
                f"the TLS handshake with {self._server} failed ({type(cause).__name__}): "
                "check that the registered URL points at the server's HTTPS port"
            ) from exc

    def _envelope(
        self, response: httpx.Response, path: str, label: str, customer: str | None
    ) -> dict[str, Any]:
        status = response.status_code
        if status == 401:
            raise UnauthorizedError(
                f"the dealer token for {self._server} was rejected (HTTP 401): "
                "register a valid token"
            )
        if 400 <= status < 500:
            self._reject(self._error_codes(response), path, label, customer, f"HTTP {status}")
        if not 200 <= status < 300:
            raise self._invalid(
                f"{label}: unexpected HTTP {status} (redirects are not followed); "
                "check the registered URL"
            )
        try:
            data = json.loads(response.content)
        except (ValueError, RecursionError):
            raise self._invalid(f"{label}: the body is not valid JSON") from None
        try:
            envelope = _as_object(data, f"{label}: the body")
            is_valid = _get_bool(envelope, "IsValid", label)
            _as_list(_field(envelope, "Errors", label), f"{label}: field 'Errors'")
            _field(envelope, "Result", label)
        except _Malformed as exc:
            raise self._invalid(str(exc)) from None
        if not is_valid:
            self._reject(self._error_codes(response, data), path, label, customer, "IsValid false")
        return envelope

    @staticmethod
    def _error_codes(response: httpx.Response, data: object = None) -> list[str]:
        if data is None:
            try:
                data = json.loads(response.content)
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

    def _reject(
        self, codes: list[str], path: str, label: str, customer: str | None, how: str
    ) -> NoReturn:
        shown = ", ".join(codes) if codes else "no error code"
        if "CustomerNotFound" in codes:
            raise CustomerNotFoundError(
                f"customer code {customer!r} is not known on {self._server} "
                f"({label}: {how}, {shown}): check the feed's customer code",
                codes,
            )
        if "Unauthorized" in codes:
            raise UnauthorizedError(
                f"the dealer token for {self._server} was rejected ({how}, {shown}): "
                "register a valid token"
            )
        raise RequestRejectedError(
            f"{self._server} rejected {path} ({label}: {how}, {shown}): "
            "check the request's parameters and the dealer's access on the server",
            codes,
        )

    def _invalid(self, detail: str) -> InvalidResponseError:
        return InvalidResponseError(
            f"{detail} (from {self._server}; the answer does not follow the MPS Monitor "
            "contract: report it to the server's operator)"
        )

    def _exhausted(
        self, kind: _FailureKind, path: str, last: str, attempts: int
    ) -> RequestTimeoutError | UnreachableError | ServerError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if kind == "timeout":
            return RequestTimeoutError(
                f"{self._server} did not answer {path} within {self._settings.timeout:g}s "
                f"after {tries} (last: {last}): check the server or try later"
            )
        if kind == "unreachable":
            return UnreachableError(
                f"{self._server} could not be reached for {path} after {tries} "
                f"(last: {last}): check the server's address and network, or try later"
            )
        return ServerError(
            f"{self._server} kept failing {path} after {tries} (last: {last}): "
            "check the server or try later"
        )
