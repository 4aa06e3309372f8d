"""Cutting a night into pieces: every feed in exactly one piece, a server's limit shared."""

from __future__ import annotations

import pytest

from releaf_pipeline.lib.pieces import Piece, batches, plan_pieces

SERVERS = [(1, "east"), (2, "west.example"), (3, "idle")]


def _feeds(counts: dict[int, int]) -> list[tuple[int, int]]:
    out, next_id = [], 1
    for server_id, n in counts.items():
        for _ in range(n):
            out.append((next_id, server_id))
            next_id += 1
    return out


def test_a_server_within_a_piece_is_one_piece_with_its_whole_limit() -> None:
    feeds = _feeds({1: 3, 2: 2})
    pieces = plan_pieces(SERVERS, feeds, limit=16, feeds_per_piece=10)
    assert [(p.server, p.shards, p.concurrency, p.feed_ids) for p in pieces] == [
        ("east", 1, 16, (1, 2, 3)),
        ("west.example", 1, 16, (4, 5)),
    ]
    # The server without feeds has no piece; keys are Dagster mapping keys.
    assert [p.key for p in pieces] == ["east_s1", "west_example_s2"]


@pytest.mark.parametrize(
    ("feeds", "per_piece", "limit"),
    [(25, 10, 16), (1000, 7, 16), (100, 1, 4), (17, 5, 1), (5, 5, 3), (6, 5, 3)],
)
def test_every_feed_is_in_exactly_one_piece_and_the_limit_is_never_exceeded(
    feeds: int, per_piece: int, limit: int
) -> None:
    given = _feeds({1: feeds, 2: 3})
    pieces = plan_pieces(SERVERS, given, limit=limit, feeds_per_piece=per_piece)
    placed = [i for p in pieces for i in p.feed_ids]
    assert sorted(placed) == sorted(i for i, _ in given)
    for server_id in (1, 2):
        mine = [p for p in pieces if p.server_id == server_id]
        # All of a server's shards at once stay within its limit, each with at least one.
        assert sum(p.concurrency for p in mine) <= limit
        assert all(p.concurrency >= 1 for p in mine)
        assert {p.shards for p in mine} == {len(mine)}
        assert len({p.key for p in mine}) == len(mine)


def test_a_large_server_is_cut_into_shards_of_at_most_a_piece() -> None:
    pieces = plan_pieces(SERVERS, _feeds({1: 25}), limit=16, feeds_per_piece=10)
    assert [(p.shard, p.shards, len(p.feed_ids), p.concurrency) for p in pieces] == [
        (0, 3, 9, 5),
        (1, 3, 8, 5),
        (2, 3, 8, 5),
    ]
    assert [p.key for p in pieces] == ["east_s1_1of3", "east_s1_2of3", "east_s1_3of3"]


def test_more_shards_than_the_limit_allows_make_bigger_shards_collected_in_batches() -> None:
    pieces = plan_pieces(SERVERS, _feeds({1: 100}), limit=4, feeds_per_piece=10)
    assert len(pieces) == 4 and all(p.concurrency == 1 for p in pieces)
    assert [len(b) for b in batches(pieces[0].feed_ids, 10)] == [10, 10, 5]


def test_the_same_fleet_gives_the_same_pieces_and_a_piece_survives_json() -> None:
    feeds = _feeds({2: 7, 1: 30})
    first = plan_pieces(SERVERS, feeds, limit=16, feeds_per_piece=10)
    again = plan_pieces(SERVERS, list(reversed(feeds)), limit=16, feeds_per_piece=10)
    assert first == again
    assert [Piece.from_json(p.to_json()) for p in first] == first


def test_a_limit_or_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="a piece needs a limit and a size of at least 1"):
        plan_pieces(SERVERS, _feeds({1: 1}), limit=0)
    with pytest.raises(ValueError, match="a piece needs a limit and a size of at least 1"):
        plan_pieces(SERVERS, _feeds({1: 1}), limit=1, feeds_per_piece=0)
