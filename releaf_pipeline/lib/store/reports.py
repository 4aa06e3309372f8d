"""Read-side queries: what an account was credited, by month and by day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from releaf_pipeline.lib.dates import month_bounds
from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.tables import deposits, feeds, servers


@dataclass
class AccountMonth:
    """One account's pages in one month, in total and per day."""

    account: str
    pages: int = 0
    days: dict[date, int] = field(default_factory=dict)


def month_report(db: Db, month: str) -> list[AccountMonth]:
    """Every account with a deposit in `month`, sorted by account."""
    first, last = month_bounds(month)
    query = (
        sa.select(deposits.c.account, deposits.c.day, sa.func.sum(deposits.c.pages))
        .where(deposits.c.day.between(first, last))
        .group_by(deposits.c.account, deposits.c.day)
        .order_by(deposits.c.account, deposits.c.day)
    )
    out: dict[str, AccountMonth] = {}
    with reading(db) as conn:
        for account, day, pages in conn.execute(query):
            acct = out.setdefault(account, AccountMonth(account))
            acct.days[day] = int(pages)
            acct.pages += int(pages)
    return [out[a] for a in sorted(out)]


def feed_month_pages(db: Db, month: str) -> list[tuple[str, str, str, int]]:
    """(account, server, customer code, pages) per feed with deposits in `month`."""
    first, last = month_bounds(month)
    query = (
        sa.select(deposits.c.account, servers.c.name, feeds.c.customer_code,
                  sa.func.sum(deposits.c.pages))
        .join(feeds, feeds.c.id == deposits.c.feed_id)
        .join(servers, servers.c.id == feeds.c.server_id)
        .where(deposits.c.day.between(first, last))
        .group_by(deposits.c.account, servers.c.name, feeds.c.customer_code)
        .order_by(deposits.c.account, servers.c.name, feeds.c.customer_code)
    )  # fmt: skip
    with reading(db) as conn:
        return [(a, s, c, int(p)) for a, s, c, p in conn.execute(query)]


def account_day_pages(db: Db, first: date, last: date) -> dict[tuple[str, date], int]:
    """(account, day) -> pages deposited, for the days in [first, last]."""
    query = (
        sa.select(deposits.c.account, deposits.c.day, sa.func.sum(deposits.c.pages))
        .where(deposits.c.day.between(first, last))
        .group_by(deposits.c.account, deposits.c.day)
    )
    with reading(db) as conn:
        return {(a, d): int(p) for a, d, p in conn.execute(query)}


def pages_per_account(db: Db, first: date, last: date) -> list[tuple[str, int]]:
    """(account, pages) deposited in [first, last], by account."""
    query = (
        sa.select(deposits.c.account, sa.func.sum(deposits.c.pages))
        .where(deposits.c.day.between(first, last))
        .group_by(deposits.c.account)
        .order_by(deposits.c.account)
    )
    with reading(db) as conn:
        return [(a, int(p)) for a, p in conn.execute(query)]
