"""Read-side queries: what an account was credited, by month and by day."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.store.tables import deposits


@dataclass
class AccountMonth:
    """One account's pages in one month, in total and per day."""

    account: str
    pages: int = 0
    days: dict[date, int] = field(default_factory=dict)


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of `YYYY-MM`; ValueError with a clear message otherwise."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except ValueError:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}") from None
    if len(month) != 7:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return first, date(year, mon, calendar.monthrange(year, mon)[1])


def month_report(engine: Engine, month: str) -> list[AccountMonth]:
    """Every account with a deposit in `month`, sorted by account."""
    first, last = month_bounds(month)
    query = (
        sa.select(deposits.c.account, deposits.c.day, sa.func.sum(deposits.c.pages))
        .where(deposits.c.day.between(first, last))
        .group_by(deposits.c.account, deposits.c.day)
        .order_by(deposits.c.account, deposits.c.day)
    )
    out: dict[str, AccountMonth] = {}
    with engine.connect() as conn:
        for account, day, pages in conn.execute(query):
            acct = out.setdefault(account, AccountMonth(account))
            acct.days[day] = int(pages)
            acct.pages += int(pages)
    return [out[a] for a in sorted(out)]


def feed_month_pages(engine: Engine, month: str) -> list[tuple[str, str, str, int]]:
    """(account, server, customer code, pages) per feed with deposits in `month`."""
    from releaf_pipeline.lib.store.tables import feeds, servers

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
    with engine.connect() as conn:
        return [(a, s, c, int(p)) for a, s, c, p in conn.execute(query)]


def account_day_pages(engine: Engine, first: date, last: date) -> dict[tuple[str, date], int]:
    """(account, day) -> pages deposited, for the days in [first, last]."""
    query = (
        sa.select(deposits.c.account, deposits.c.day, sa.func.sum(deposits.c.pages))
        .where(deposits.c.day.between(first, last))
        .group_by(deposits.c.account, deposits.c.day)
    )
    with engine.connect() as conn:
        return {(a, d): int(p) for a, d, p in conn.execute(query)}
