"""How a night's collection is cut into pieces that workers can take on their own.

One piece per MPS Monitor server; a server with more feeds than a piece holds is cut into
shards of its customers. A server's limit of requests in flight is shared out among its
shards, so that however many workers run them at once, the server never sees more than
its limit. A shard never has a limit of 0: a server has at most as many shards as its
limit, and a shard bigger than a piece collects its feeds a piece at a time, so that a
worker's memory follows the piece's size, not the fleet's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

FEEDS_PER_PIECE = 5_000
"""Feeds one piece collects at a time, unless `RELEAF_FEEDS_PER_PIECE` says otherwise: a
worker holds one piece's devices, readings and requests (the README's performance
section has the memory this takes)."""


@dataclass(frozen=True)
class Piece:
    """One server's feeds, or one shard of them, collected by one step."""

    server_id: int
    server: str
    shard: int
    shards: int
    feed_ids: tuple[int, ...]
    concurrency: int
    """The requests in flight (and feeds in progress) this piece may have: its share of
    the server's limit."""

    @property
    def key(self) -> str:
        """A name for the piece, unique within a run: Dagster's mapping key."""
        name = re.sub(r"[^A-Za-z0-9_]", "_", self.server)[:40]
        key = f"{name}_s{self.server_id}"
        return key if self.shards == 1 else f"{key}_{self.shard + 1}of{self.shards}"

    def to_json(self) -> dict[str, object]:
        """The piece as plain JSON values, to hand to another process."""
        out = asdict(self)
        out["feed_ids"] = list(self.feed_ids)
        return out

    @classmethod
    def from_json(cls, value: dict[str, object]) -> Piece:
        """The piece `to_json` wrote."""
        ids = value["feed_ids"]
        assert isinstance(ids, list)
        return cls(
            server_id=int(value["server_id"]),  # type: ignore[arg-type]
            server=str(value["server"]),
            shard=int(value["shard"]),  # type: ignore[arg-type]
            shards=int(value["shards"]),  # type: ignore[arg-type]
            feed_ids=tuple(int(i) for i in ids),
            concurrency=int(value["concurrency"]),  # type: ignore[arg-type]
        )


def plan_pieces(
    servers: Iterable[tuple[int, str]],
    feeds: Iterable[tuple[int, int]],
    *,
    limit: int,
    feeds_per_piece: int = FEEDS_PER_PIECE,
) -> list[Piece]:
    """The pieces of a collection of `feeds` ((feed id, server id) pairs) over `servers`
    ((id, name) pairs), each server limited to `limit` requests in flight.

    A server with up to `feeds_per_piece` feeds is one piece with the whole limit. A larger
    one is cut into ceil(feeds / feeds_per_piece) shards, at most `limit` of them, each
    with limit // shards requests in flight. Feeds are dealt to shards by id, so that the
    same fleet gives the same pieces. Servers without feeds have no piece.
    """
    if limit < 1 or feeds_per_piece < 1:
        raise ValueError("a piece needs a limit and a size of at least 1")
    names = dict(servers)
    by_server: dict[int, list[int]] = {}
    for feed_id, server_id in feeds:
        by_server.setdefault(server_id, []).append(feed_id)
    pieces = []
    for server_id in sorted(by_server):
        ids = sorted(by_server[server_id])
        shards = min(limit, -(-len(ids) // feeds_per_piece))
        for shard in range(shards):
            pieces.append(
                Piece(
                    server_id=server_id,
                    server=names[server_id],
                    shard=shard,
                    shards=shards,
                    feed_ids=tuple(ids[shard::shards]),
                    concurrency=limit // shards,
                )
            )
    return pieces


def batches(feed_ids: Sequence[int], size: int = FEEDS_PER_PIECE) -> Iterator[Sequence[int]]:
    """A piece's feeds, `size` at a time: a shard larger than a piece is collected in
    steps of a piece each."""
    for i in range(0, len(feed_ids), size):
        yield feed_ids[i : i + size]
