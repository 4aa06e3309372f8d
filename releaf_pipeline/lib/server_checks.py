"""The server health check: `Ping` with the registered token, every server at once; a
server answering as another dealer than the registered one fails it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from releaf_pipeline.lib.collector import ClientFactory, default_client_factory
from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.secrets import SecretKeyError, TokenCipher
from releaf_pipeline.lib.server_identity import confirm_dealer
from releaf_pipeline.lib.store.health import record_server_health
from releaf_pipeline.lib.store.registry import ServerRecord, list_servers, server_token


@dataclass(frozen=True)
class ServerCheck:
    """One server's check: healthy or why not, and whether that changed its state."""

    server: str
    healthy: bool
    reason: str | None
    changed: bool


async def _check(
    engine: Engine,
    cipher: TokenCipher,
    server: ServerRecord,
    settings: ClientSettings,
    client_factory: ClientFactory,
) -> tuple[bool, str | None]:
    try:
        token = server_token(engine, cipher, server.id)
        async with client_factory(server, token, settings) as client:
            ping = await client.ping()
        confirm_dealer(engine, server, ping)
    except MPSMonitorError as exc:
        return False, f"{exc.reason}: {exc}"
    except SecretKeyError as exc:
        return False, f"token: {exc}"
    return True, None


async def check_servers(
    engine: Engine,
    cipher: TokenCipher,
    *,
    settings: ClientSettings,
    now: Callable[[], datetime],
    client_factory: ClientFactory = default_client_factory,
) -> list[ServerCheck]:
    """Ping every registered server and store its health; a failure is unhealthy at once."""
    servers = list_servers(engine)
    # A health check answers quickly or not at all: one retry, never a long back-off.
    quick = ClientSettings(
        timeout=settings.timeout, max_attempts=min(2, settings.max_attempts),
        backoff_base=min(0.5, settings.backoff_base), concurrency=1,
    )  # fmt: skip
    outcomes = await asyncio.gather(
        *(_check(engine, cipher, s, quick, client_factory) for s in servers)
    )
    checks = []
    for server, (healthy, reason) in zip(servers, outcomes, strict=True):
        changed = record_server_health(engine, server.id, healthy=healthy, reason=reason, now=now())
        checks.append(ServerCheck(server.name, healthy, reason, changed))
    return checks
