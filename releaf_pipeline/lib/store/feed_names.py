"""How an operator names a feed: its customer code in any case, `SERVER/CODE`, or a code
of one server; a name that fits more than one feed is refused, never guessed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from releaf_pipeline.lib.store.codes import customer_key
from releaf_pipeline.lib.store.registry import FeedRecord, RegistryError


class AmbiguousFeedError(RegistryError):
    """A feed was named in a way that fits more than one feed."""


def find_feeds(
    feeds: list[FeedRecord],
    names: Sequence[str],
    ids: Sequence[int] = (),
    *,
    server: str | None = None,
) -> tuple[list[FeedRecord], list[str]]:
    """The feeds named, in `feeds` order, and the names and ids that match none.

    A name is a customer code, compared without regard to case, or `SERVER/CODE`; with
    `server` it is a code of that server's only. A name that fits more than one feed (a
    code fed on two servers, a `SERVER/CODE` that splits two ways because a server name
    or a code holds a slash) raises AmbiguousFeedError naming each and how to write it.
    """
    by_key: dict[tuple[str, str], list[FeedRecord]] = {}
    by_code: dict[str, list[FeedRecord]] = {}
    for f in feeds:
        key = customer_key(f.customer_code)
        by_key.setdefault((f.server_name, key), []).append(f)
        by_code.setdefault(key, []).append(f)

    def fits(name: str) -> list[FeedRecord]:
        if server is not None:
            return by_key.get((server, customer_key(name)), [])
        found = list(by_code.get(customer_key(name), []))
        # Every slash may end the server's name.
        at = name.find("/")
        while at > 0:
            found += by_key.get((name[:at], customer_key(name[at + 1 :])), [])
            at = name.find("/", at + 1)
        return list({f.id: f for f in found}.values())

    wanted: set[int] = set()
    unknown: list[str] = []
    for name in names:
        found = fits(name)
        if len(found) > 1:
            raise AmbiguousFeedError(_ambiguous(name, found, fits))
        if found:
            wanted.add(found[0].id)
        else:
            unknown.append(name)
    known_ids = {f.id for f in feeds}
    unknown += [str(i) for i in ids if i not in known_ids]
    wanted |= set(ids) & known_ids
    return [f for f in feeds if f.id in wanted], unknown


def _ambiguous(name: str, found: list[FeedRecord], fits: Any) -> str:
    """The one line for a name that fits several feeds: each, and how to name it alone."""
    same = {(f.server_id, customer_key(f.customer_code)) for f in found}
    if len(same) == 1:
        # Only a store from before codes were compared so holds these (one removed).
        return (
            f"{name} names {len(found)} feeds of one customer on server {found[0].server_name!r} "
            f"({', '.join(f.customer_code for f in found)}), whose codes differ only in case; "
            "one customer has one active feed"
        )

    def spelling(f: FeedRecord) -> str:
        qualified = f"{f.server_name}/{f.customer_code}"
        if [g.id for g in fits(qualified)] == [f.id]:
            return qualified
        return f"--server {f.server_name} with {f.customer_code}"

    which = ", ".join(f"customer {f.customer_code} on server {f.server_name}" for f in found)
    how = " or ".join(spelling(f) for f in found)
    return f"{name} names {len(found)} feeds ({which}): name one alone, as {how}"
