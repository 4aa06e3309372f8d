"""The per-server limit adapts down when the server throttles, and grows back slowly."""

from __future__ import annotations

import asyncio

from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.mpsmonitor.transport import AdaptiveLimit
from releaf_pipeline.simulator.server import Simulator


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


def test_the_server_never_has_more_in_flight_than_the_adaptive_limit(sim: Simulator) -> None:
    # Counted where it matters, at the server: the connection pool alone would let 8 through.
    sim.latency = 0.1
    sim.inject("throttle", times=3, retry_after=0)
    client = MPSMonitorClient(
        sim.url,
        sim.token,
        ca_bundle=sim.ca_bundle,
        settings=ClientSettings(concurrency=8, max_attempts=10),
    )

    async def run() -> None:
        async with client:
            await client.ping()  # throttled three times (8 -> 4 -> 2 -> 1), then answered
            assert client.concurrency_limit == 2
            sim.reset_log()
            await asyncio.gather(*(client.ping() for _ in range(6)))

    asyncio.run(run())
    assert client.throttled == 3
    # Two at once, then three once two have been answered: never the six asked for at once.
    assert 2 <= sim.peak_in_flight <= 3


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
