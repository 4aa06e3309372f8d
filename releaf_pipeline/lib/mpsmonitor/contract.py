"""The MPS Monitor integration API as the contract names it: the four requests, the
device statuses and the request limits. The client and the simulator both build on it."""

from __future__ import annotations

import re

from releaf_pipeline.lib.rules import COUNTER_LIST_MAX_DAYS_APART, DEVICE_LIST_MAX_PAGE_ROWS

PING_PATH = "/api3/PrintReleaf/Ping"
CUSTOMER_PATH = "/api3/Customer/GetCustomerByCode"
DEVICE_LIST_PATH = "/api3/Device/List"
COUNTER_LIST_PATH = "/api3/Counter/List"

METHODS = {
    PING_PATH: "GET",
    CUSTOMER_PATH: "POST",
    DEVICE_LIST_PATH: "POST",
    COUNTER_LIST_PATH: "POST",
}
"""Each request's path and HTTP method: nothing else is ever sent."""

DEVICE_STATUSES = ("All", "Managed", "NotManaged")

MAX_PAGE_ROWS = DEVICE_LIST_MAX_PAGE_ROWS
MAX_DAYS_APART = COUNTER_LIST_MAX_DAYS_APART
"""FromDate and ToDate at most this many days apart: one window spans this + 1 days."""

TOKEN_HEADER = "X-Dealer-Token"

MAX_IDENTIFIER_LENGTH = 64
IDENTIFIER = re.compile(rf"[\x21-\x7e]{{1,{MAX_IDENTIFIER_LENGTH}}}")
"""A DealerCode, customer Code or device Id: 1 to 64 printable ASCII characters, no spaces
or control characters."""


def is_identifier(text: str) -> bool:
    """Whether `text` is an identifier as the contract allows it."""
    return IDENTIFIER.fullmatch(text) is not None
