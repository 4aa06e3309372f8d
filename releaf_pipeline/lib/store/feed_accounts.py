"""Which account a feed's deposits go to, day by day (`feed_accounts`).

A feed deposits on one account until an operator corrects it from a day on; the days
before stay where they were (a certificate may have credited them). Every deposit
written takes its account from here, so a recomputation (late readings, a re-collect)
puts each day's pages on the account of that day, not on the feed's current one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.store.registry import FeedRecord
from releaf_pipeline.lib.store.tables import deposits, feed_accounts, feeds


@dataclass(frozen=True)
class AccountSpan:
    """The days [first, last] of a feed that go to `account` (None: without bound)."""

    account: str
    first: date | None
    last: date | None


class AccountHistory:
    """One feed's accounts by day."""

    def __init__(self, current: str, rows: Iterable[tuple[date, str]]) -> None:
        ordered = sorted(rows)
        self._days = [d for d, _ in ordered]
        self._accounts = [a for _, a in ordered] or [current]

    def on(self, day: date) -> str:
        """The account the feed's pages of `day` go to."""
        return self._accounts[max(0, bisect_right(self._days, day) - 1)]

    @property
    def only(self) -> str | None:
        """The account of every day, when the feed never changed accounts."""
        return self._accounts[0] if len(self._accounts) == 1 else None

    @property
    def spans(self) -> list[AccountSpan]:
        """The runs of days per account, oldest first."""
        if not self._days:
            return [AccountSpan(self._accounts[0], None, None)]
        out = []
        for i, account in enumerate(self._accounts):
            first = None if i == 0 else self._days[i]
            last = self._days[i + 1] - timedelta(days=1) if i + 1 < len(self._days) else None
            out.append(AccountSpan(account, first, last))
        return out


def account_histories(conn: Connection, feed_list: list[FeedRecord]) -> dict[int, AccountHistory]:
    """The account history of each feed, by feed id."""
    rows: dict[int, list[tuple[date, str]]] = {f.id: [] for f in feed_list}
    ids = list(rows)
    for i in range(0, len(ids), 5000):
        for feed_id, day, account in conn.execute(
            sa.select(feed_accounts.c.feed_id, feed_accounts.c.from_day, feed_accounts.c.account)
            .where(feed_accounts.c.feed_id.in_(ids[i : i + 5000]))
        ):  # fmt: skip
            rows[feed_id].append((day, account))
    return {f.id: AccountHistory(f.account, rows[f.id]) for f in feed_list}


def move_account_from(conn: Connection, feed: FeedRecord, account: str, day: date) -> None:
    """Send the feed's deposits dated `day` and later to `account`, now and after any
    recomputation; the days before keep the accounts they had."""
    history = account_histories(conn, [feed])[feed.id]
    start = feed.activation_date if not history.spans[0].first else history.spans[0].first
    kept = [(s.first or start, s.account) for s in history.spans if (s.first or start) < day]
    rows = [*kept, (day, account)]
    conn.execute(feed_accounts.delete().where(feed_accounts.c.feed_id == feed.id))
    conn.execute(
        feed_accounts.insert(),
        [{"feed_id": feed.id, "from_day": d, "account": a} for d, a in rows],
    )
    conn.execute(
        deposits.update()
        .where(deposits.c.feed_id == feed.id, deposits.c.day >= day)
        .values(account=account)
    )
    conn.execute(feeds.update().where(feeds.c.id == feed.id).values(account=account))
