"""A server's devices for a night, listed for many customers at once: one paged
Device/List per batch of feeds, each started before the feeds' Counter/List requests so
that both travel together."""

from __future__ import annotations

import asyncio

from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
from releaf_pipeline.lib.mpsmonitor.models import Device
from releaf_pipeline.lib.safe_text import safe_logger
from releaf_pipeline.lib.store.registry import FeedRecord

log = safe_logger(__name__)

CODES_PER_LISTING = 500
"""Customers named in one paged Device/List: a filter of thousands of codes makes every
page of the answer slow to compute on the server; batches of 500 keep a page quick while
a steady night still costs about one Device/List per 500 devices."""


def start_listings(
    client: MPSMonitorClient, server: str, feeds: list[FeedRecord]
) -> dict[str, asyncio.Future[dict[str, list[Device]] | None]]:
    """One shared listing per batch of feeds, started now: each feed's code to its own."""
    listings: dict[str, asyncio.Future[dict[str, list[Device]] | None]] = {}
    for i in range(0, len(feeds), CODES_PER_LISTING):
        batch = feeds[i : i + CODES_PER_LISTING]
        listing = asyncio.ensure_future(_list_devices(client, server, batch))
        listings.update((f.customer_code, listing) for f in batch)
    return listings


async def _list_devices(
    client: MPSMonitorClient, server: str, feeds: list[FeedRecord]
) -> dict[str, list[Device]] | None:
    """The devices of a batch of feeds from one paged Device/List, or None when
    that fails: each feed then asks for its own, so that a customer code the server does
    not know, or any other failure, stays with the feed it belongs to."""
    try:
        return await client.list_devices_of([f.customer_code for f in feeds])
    except MPSMonitorError as exc:
        log.warning(
            "listing the devices of %d feed(s) of %s at once failed (%s); asking feed by feed",
            len(feeds), server, exc.reason,
        )  # fmt: skip
        return None
