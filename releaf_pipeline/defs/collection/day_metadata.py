"""Each day's own metadata on the daily partitions of a ranged run."""

from __future__ import annotations

from datetime import date

import dagster as dg

from releaf_pipeline.defs.metadata import numbers, table
from releaf_pipeline.lib.catchup import next_step
from releaf_pipeline.lib.store.days import CollectionDay, DepositDay

ACCOUNTS_PLOTTED = 50
"""Accounts drawn as their own daily series; more would not be readable in one plot."""

NOT_COLLECTED_COLUMNS = [
    ("server", "string"),
    ("customer", "string"),
    ("account", "string"),
    ("status", "string"),
    ("reason", "string"),
    ("next", "string"),
]


def not_collected_rows(
    day: CollectionDay, *, today: date, server_healthy: dict[int, bool], lookback_days: int
) -> list[tuple[str, str, str, str, str, str]]:
    """The day's paused and failed feeds, each with what the pipeline will do about it."""
    rows = []
    for p in day.problems:
        step = next_step(
            p.status, p.reason, day.day, today=today, server=p.feed.server_name,
            server_healthy=server_healthy.get(p.feed.server_id, False),
            customer_code=p.feed.customer_code, lookback_days=lookback_days,
        )  # fmt: skip
        rows.append(
            (p.feed.server_name, p.feed.customer_code, p.feed.account, p.status, p.reason,
             step.text)
        )  # fmt: skip
    return rows


def collection_metadata(
    day: CollectionDay, *, today: date, server_healthy: dict[int, bool], lookback_days: int
) -> dict[str, dg.MetadataValue]:
    """A day of `meter_readings`: its feeds by outcome, its readings, its problems."""
    rows = not_collected_rows(
        day, today=today, server_healthy=server_healthy, lookback_days=lookback_days
    )
    return {
        **numbers(
            {
                "feeds_active": day.feeds_active,
                "feeds_collected": day.collected,
                "feeds_paused": day.paused,
                "feeds_failed": day.failed,
                "feeds_not_yet_collected": day.not_yet_collected,
                "devices_reporting": day.readings,
            }
        ),
        "feeds_not_collected": table(NOT_COLLECTED_COLUMNS, rows),
    }


def plotted_accounts(days: list[DepositDay]) -> list[str]:
    """The accounts drawn as series: the largest over the range, at most ACCOUNTS_PLOTTED."""
    totals: dict[str, int] = {}
    for d in days:
        for account, pages in d.accounts.items():
            totals[account] = totals.get(account, 0) + pages
    ranked = sorted(totals, key=lambda a: (-totals[a], a))
    return sorted(ranked[:ACCOUNTS_PLOTTED])


def deposit_metadata(day: DepositDay, accounts: list[str]) -> dict[str, dg.MetadataValue]:
    """A day of `daily_deposits`: its pages, in total and per account."""
    per_account = {f"pages: {a}": day.accounts.get(a, 0) for a in accounts}
    return {
        **numbers(
            {"pages": day.pages, "accounts": len(day.accounts), "feeds": day.feeds, **per_account}
        ),
        "pages_per_account": table(
            [("account", "string"), ("pages", "int")], sorted(day.accounts.items())
        ),
    }
