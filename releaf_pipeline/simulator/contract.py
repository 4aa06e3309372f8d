"""The simulator's answers to the contract's four requests, as plain data.

Nothing here knows about HTTP plumbing: each function takes a request's parts (method,
path, token, parsed JSON body) and the server's clock, and returns a `Reply` (status,
envelope, headers) that the server puts on the wire. The paths, methods, page size and
range limits come from the client's side of the contract
(`releaf_pipeline.lib.mpsmonitor.contract`), so the two can never disagree.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from releaf_pipeline.lib.dates import strict_date
from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    DEVICE_STATUSES,
    MAX_DAYS_APART,
    MAX_PAGE_ROWS,
    METHODS,
    PING_PATH,
)
from releaf_pipeline.simulator.fleet import Fleet

DEFAULT_TOKEN = "sim-dealer-token-0001"
"""The dealer token a simulator accepts unless it is given another."""


MAX_BODY_BYTES = 1 << 20
"""Request bodies are small query filters; bigger ones are refused with 413."""

_STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_SORT_COLUMNS = frozenset(
    {
        "Id",
        "CustomerCode",
        "IsManaged",
        "CounterMono",
        "CounterColor",
        "LastUpdate",
        "IsOffline",
        "SerialNumber",
        "AssetNumber",
        "SystemName",
    }
)


@dataclass
class Reply:
    """One answer: a JSON payload (or raw bytes) and how the server sends it.

    `delay` holds the answer back that many seconds; `cut` breaks the connection half way
    through the body: ``"reset"`` with a TCP reset, ``"truncate"`` with an orderly close.
    `close` ends the connection after a complete answer.
    """

    status: int
    payload: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut: str | None = None
    close: bool = False

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, separators=(",", ":")).encode()


class BadRequest(Exception):
    """A body that is not the JSON object the request needs; answered with HTTP 400."""


def envelope(result: Any, total_rows: int | None = None) -> dict[str, Any]:
    """A valid envelope around `result`; `TotalRows` only on paged answers."""
    env: dict[str, Any] = {"IsValid": True, "Errors": [], "ReturnValue": None, "Result": result}
    if total_rows is not None:
        env["TotalRows"] = total_rows
    return env


def invalid(code: str, description: str) -> dict[str, Any]:
    """An `IsValid: false` envelope with one error."""
    return {
        "IsValid": False,
        "Errors": [{"Code": code, "Description": description}],
        "ReturnValue": None,
        "Result": None,
    }


def error(status: int, description: str, code: str | None = None, **headers: str) -> Reply:
    """An HTTP error answer, with an invalid envelope named after the status."""
    return Reply(
        status,
        invalid(code or _STATUS_CODES.get(status, "ServerError"), description),
        headers=headers,
    )


def route(method: str, path: str) -> Reply | None:
    """The 404 or 405 answer for a request that is not one of the four; None when it is."""
    expected = METHODS.get(path)
    if method not in ("GET", "POST"):
        return error(405, f"Method {method} is not allowed.", Allow=expected or "GET, POST")
    if expected is None:
        return error(404, "No such endpoint.")
    if method != expected:
        return error(405, f"Method {method} is not allowed here.", Allow=expected)
    return None


def authorized(sent: str | None, token: str) -> bool:
    """Whether the `X-Dealer-Token` header `sent` is `token` (compared in constant time)."""
    if sent is None:
        return False
    return hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def parse_body(raw: bytes) -> Any:
    """The JSON value of a request body; None when it is empty or not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def answer(
    fleet: Fleet, path: str, body: Any, now: datetime, *, page_cap: int = MAX_PAGE_ROWS
) -> Reply:
    """The answer to one of the four requests (already routed and authorized). Device/List
    pages hold at most `page_cap` rows, whatever PageRows asks for."""
    try:
        if path == PING_PATH:
            return _ping(fleet, now)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        if path == CUSTOMER_PATH:
            return _customer(fleet, body)
        if path == DEVICE_LIST_PATH:
            return _device_list(fleet, body, now, page_cap)
        if path == COUNTER_LIST_PATH:
            return _counter_list(fleet, body, now)
    except BadRequest as exc:
        return error(400, str(exc))
    return error(404, "No such endpoint.")


# ---- the four requests ---------------------------------------------------------------------


def _ping(fleet: Fleet, now: datetime) -> Reply:
    return Reply(
        200,
        envelope(
            {
                "DealerCode": fleet.config.dealer_code,
                "ServerTimeUtc": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ),
    )


def _customer(fleet: Fleet, body: dict[str, Any]) -> Reply:
    code = _require(body, "Code", str)
    if not fleet.has_customer(code):
        return Reply(200, invalid("CustomerNotFound", "No customer has this code."))
    return Reply(200, envelope(fleet.customer(code)))


def _device_list(fleet: Fleet, body: dict[str, Any], now: datetime, page_cap: int) -> Reply:
    codes = _require(body, "FilterCustomerCodes", list)
    if not all(isinstance(c, str) for c in codes):
        raise BadRequest("FilterCustomerCodes must be a list of customer codes.")
    status = _require(body, "Status", str)
    if status not in DEVICE_STATUSES:
        raise BadRequest(f"Status must be one of {', '.join(DEVICE_STATUSES)}.")
    page = _require(body, "PageNumber", int)
    rows_per_page = _require(body, "PageRows", int)
    if page < 1 or rows_per_page < 1:
        raise BadRequest("PageNumber and PageRows start at 1.")
    # Larger pages are served at the cap, as the vendor does: clients must page by
    # TotalRows, not by the page size they asked for.
    rows_per_page = min(rows_per_page, MAX_PAGE_ROWS, page_cap)
    sort_column = body.get("SortColumn", "Id")
    sort_order = body.get("SortOrder", "Asc")
    if sort_column not in _SORT_COLUMNS:
        raise BadRequest("SortColumn is not a sortable device field.")
    if sort_order not in ("Asc", "Desc"):
        raise BadRequest("SortOrder must be Asc or Desc.")

    # An empty filter means every customer of the dealer.
    wanted = list(dict.fromkeys(codes)) or list(fleet.customer_codes)
    if not all(fleet.has_customer(c) for c in wanted):
        return Reply(200, invalid("CustomerNotFound", "No customer has this code."))
    devices = [d for c in wanted for d in fleet.devices(c, now)]
    if status != "All":
        devices = [d for d in devices if d["IsManaged"] == (status == "Managed")]
    # Sorting by Id first makes ties keep a stable order, so pages never overlap.
    devices.sort(key=lambda d: d["Id"])
    devices.sort(key=lambda d: _sort_key(d.get(sort_column)), reverse=sort_order == "Desc")
    first = (page - 1) * rows_per_page
    return Reply(200, envelope(devices[first : first + rows_per_page], total_rows=len(devices)))


def _counter_list(fleet: Fleet, body: dict[str, Any], now: datetime) -> Reply:
    dealer = _require(body, "DealerCode", str)
    code = _require(body, "CustomerCode", str)
    start = _require_date(body, "FromDate")
    end = _require_date(body, "ToDate")
    if dealer != fleet.config.dealer_code:
        return Reply(200, invalid("InvalidDealerCode", "The dealer code is not valid."))
    if not fleet.has_customer(code):
        return Reply(200, invalid("CustomerNotFound", "No customer has this code."))
    if end < start:
        return Reply(200, invalid("InvalidDateRange", "ToDate is before FromDate."))
    if (end - start).days > MAX_DAYS_APART:
        return Reply(
            200,
            invalid(
                "DateRangeTooLarge",
                f"FromDate and ToDate are at most {MAX_DAYS_APART} days apart.",
            ),
        )
    return Reply(200, envelope(fleet.counter_rows(code, start, end, now)))


# ---- request fields ------------------------------------------------------------------------


def _require(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    # bool is an int in Python but never a valid number in JSON terms here.
    if value is None or isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise BadRequest(f"Field {name} is missing or has the wrong type.")
    return value


def _require_date(body: dict[str, Any], name: str) -> date:
    value = _require(body, name, str)
    try:
        return strict_date(value)
    except ValueError:
        raise BadRequest(f"Field {name} must be a date as YYYY-MM-DD.") from None


def _sort_key(value: Any) -> tuple[int, Any]:
    # Nulls sort first; numbers and booleans by value; everything else as text.
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))
