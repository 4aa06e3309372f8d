"""The per-server limit adapts down when the server throttles, and grows back slowly."""

from __future__ import annotations

import asyncio

import httpx

from releaf_pipeline.lib.mpsmonitor.client import AdaptiveLimit, ClientSettings, MPSMonitorClient

PING = {
    "IsValid": True,
    "Errors": [],
    "Result": {"DealerCode": "D", "ServerTimeUtc": "2026-11-27T05:00:00Z"},
}


def test_limit_halves_on_429_and_recovers():
    limit = AdaptiveLimit(8)
    limit.throttled()
    assert limit.limit == 4
    limit.throttled()
    limit.throttled()
    limit.throttled()
    assert limit.limit == 1 and limit.lowest == 1
    for _ in range(200):
        limit.succeeded()
    assert limit.limit == 8


def test_client_in_flight_follows_the_adaptive_limit():
    in_flight = 0
    peaks: list[tuple[int, int]] = []
    throttle_left = 6

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, throttle_left
        in_flight += 1
        peaks.append((in_flight, client.concurrency_limit))
        await asyncio.sleep(0.001)
        in_flight -= 1
        if throttle_left > 0:
            throttle_left -= 1
            return httpx.Response(429, headers={"Retry-After": "0"}, json={})
        return httpx.Response(200, json=PING)

    async def run() -> None:
        async with client:
            await asyncio.gather(*(client.ping() for _ in range(40)))

    async def no_sleep(_seconds: float) -> None:
        await asyncio.sleep(0)

    client = MPSMonitorClient(
        "https://mps.example",
        "tok",
        settings=ClientSettings(concurrency=8, max_attempts=10),
        transport=httpx.MockTransport(handler),
        sleep=no_sleep,
    )
    asyncio.run(run())
    assert client.throttled == 6
    assert client._transport.limit.lowest == 1  # six throttles: 8 -> 4 -> 2 -> 1
    assert max(n for n, _ in peaks) <= 8


def test_limiter_admits_no_more_than_its_current_limit():
    limit = AdaptiveLimit(8)
    limit.throttled()
    limit.throttled()
    in_flight = peak = 0

    async def hold() -> None:
        nonlocal in_flight, peak
        async with limit:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= 1

    async def run() -> None:
        await asyncio.gather(*(hold() for _ in range(20)))

    asyncio.run(run())
    assert peak == 2
