"""What the simulator's tests share: the clock and token they use, and request bodies."""

from __future__ import annotations

import ssl
from datetime import date
from typing import Any

import httpx

from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH, DEVICE_LIST_PATH
from releaf_pipeline.simulator.server import Simulator

TODAY = date(2026, 11, 27)
TOKEN = "test-token-123"


def tls(sim: Simulator) -> ssl.SSLContext:
    """A client context that trusts `sim`'s CA and nothing else."""
    return ssl.create_default_context(cafile=str(sim.ca_bundle))


def devices_body(code: str, **over: Any) -> dict[str, Any]:
    body = {
        "FilterCustomerCodes": [code],
        "Status": "All",
        "PageNumber": 1,
        "PageRows": 100,
        "SortColumn": "Id",
        "SortOrder": "Asc",
    }
    body.update(over)
    return body


def counters_body(code: str, start: str = "2026-11-01", end: str = "2026-11-26") -> dict:
    return {"DealerCode": "D-1042", "CustomerCode": code, "FromDate": start, "ToDate": end}


def error_code(resp: httpx.Response) -> str:
    """The code of an invalid envelope's first error (asserting it is one)."""
    env = resp.json()
    assert env["IsValid"] is False
    assert env["Result"] is None
    return env["Errors"][0]["Code"]


def listed_rows(client: httpx.Client, code: str, status: str = "All") -> dict[str, dict]:
    """device_id -> its Device/List row, over the wire."""
    env = client.post(DEVICE_LIST_PATH, json=devices_body(code, Status=status)).json()
    assert env["IsValid"] is True
    return {row["Id"]: row for row in env["Result"]}


def served_dates(client: httpx.Client, code: str, start: date, end: date) -> dict[str, list[date]]:
    """device_id -> the dates Counter/List serves for start..end, over the wire."""
    env = client.post(COUNTER_LIST_PATH, json=counters_body(code, str(start), str(end))).json()
    assert env["IsValid"] is True
    return {
        row["DeviceId"]: [date.fromisoformat(c["Date"]) for c in row["Counters"]]
        for row in env["Result"]
    }
