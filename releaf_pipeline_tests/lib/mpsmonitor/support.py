"""Shared fixtures of the MPS Monitor client tests: canned answers and a recorded client."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings

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
