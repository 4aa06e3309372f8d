"""Customer codes as the registry compares them: without regard to case, as the MPS
Monitor contract says ("Identifiers") and as the client compares a server's answers, so
`aaaa1111aaaa1111` and `AAAA1111AAAA1111` are one customer of a server.

A store made before codes were compared so may hold one customer twice on a server,
each feeding an account (both credited the same pages). The migration that keys codes
refuses to run while that is so (`CaseTwinsError`, naming them), and `releaf feed remove`
of one of them still works on the store as it is (`remove_case_twin`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.mpsmonitor.decoding import code_key
from releaf_pipeline.lib.store.engine import Db, StoreError, writing
from releaf_pipeline.lib.store.tables import feeds, servers


def customer_key(code: str) -> str:
    """The key a customer code is registered and looked up by: one value for every way
    of writing the same customer's code (the client's own comparison)."""
    return code_key(code)


@dataclass(frozen=True)
class CaseTwin:
    """An active feed whose customer another active feed of the same server also feeds."""

    feed_id: int
    server: str
    code: str
    account: str

    @property
    def spelling(self) -> str:
        return f"{self.server}/{self.code}"


class CaseTwinsError(StoreError):
    """The store feeds one customer twice on a server, under codes that differ only in
    case; the message names them and the command that mends it."""

    def __init__(self, groups: list[list[CaseTwin]]) -> None:
        self.groups = groups
        shown = [
            " and ".join(f"{t.spelling} (account {t.account})" for t in group)
            for group in groups[:3]
        ]
        more = f", and {len(groups) - 3} more" if len(groups) > 3 else ""
        example = groups[0][0].spelling
        super().__init__(
            f"the store cannot be upgraded: customer codes that differ only in case are one "
            f"customer, fed twice (both credited the same pages): {'; '.join(shown)}{more}; "
            f"keep one feed of each and remove the others with `releaf feed remove "
            f"SERVER/CODE` (e.g. `releaf feed remove {example}`), which works before the "
            "upgrade"
        )

    def named(self, name: str, server: str | None = None) -> list[CaseTwin]:
        """The twins `name` spells exactly (`SERVER/CODE`, or CODE with `server`)."""
        twins = [t for group in self.groups for t in group]
        if server is not None:
            return [t for t in twins if t.server == server and t.code == name]
        return [t for t in twins if t.spelling == name]


def find_case_twins(conn: Connection) -> list[list[CaseTwin]]:
    """Active feeds of one server whose codes differ only in case, grouped by customer.

    Reads only columns every schema since feeds could be removed has, so the migration
    that adds the key can call it first."""
    rows = conn.execute(
        sa.select(feeds.c.id, servers.c.name, feeds.c.customer_code, feeds.c.account)
        .join(servers, servers.c.id == feeds.c.server_id)
        .where(feeds.c.removed_at.is_(None))
        .order_by(servers.c.name, feeds.c.customer_code)
    )
    by_customer: dict[tuple[str, str], list[CaseTwin]] = defaultdict(list)
    for feed_id, server, code, account in rows:
        by_customer[server, customer_key(code)].append(CaseTwin(feed_id, server, code, account))
    return [group for group in by_customer.values() if len(group) > 1]


def remove_case_twin(db: Db, twin: CaseTwin, *, now: datetime) -> None:
    """Remove one of the twins on the store as it is, before it could be upgraded: the
    feed is marked removed, as `releaf feed remove` does, and its history stays."""
    with writing(db) as conn:
        conn.execute(feeds.update().where(feeds.c.id == twin.feed_id).values(removed_at=now))
