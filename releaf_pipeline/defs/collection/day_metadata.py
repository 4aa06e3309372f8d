"""Each day's own metadata on the daily partitions, and its feeds not collected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from releaf_pipeline.defs.metadata import numbers, table
from releaf_pipeline.lib.catchup import NextStep, next_step
from releaf_pipeline.lib.store.days import (
    NOT_COLLECTED,
    OPERATOR_PAUSED,
    CollectionDay,
    DepositDay,
    FeedDayProblem,
)

ACCOUNTS_PLOTTED = 50
"""Accounts drawn as their own daily series; more would not be readable in one plot."""
SERIES_PREFIX = "pages: "
"""Figures named so are an account's pages drawn as a series (also in `pages_per_account`)."""

NOT_COLLECTED_COLUMNS = [
    ("server", "string"),
    ("customer", "string"),
    ("account", "string"),
    ("status", "string"),
    ("reason", "string"),
    ("next", "string"),
]


@dataclass(frozen=True)
class NotCollectedRow:
    """A feed-day not collected, with what the pipeline (or a person) does about it."""

    server: str
    customer: str
    account: str
    status: str
    reason: str
    next: str
    automatic: bool
    """True while the pipeline collects it by itself; False once a person must act."""

    @property
    def cells(self) -> tuple[str, str, str, str, str, str]:
        """The row of the `feeds_not_collected` table."""
        return (self.server, self.customer, self.account, self.status, self.reason, self.next)


def _next(p: FeedDayProblem, day: date, *, today: date, healthy: bool, lookback: int) -> NextStep:
    feed = p.feed
    name = f"{feed.server_name}/{feed.customer_code}"
    if p.status == OPERATOR_PAUSED:
        return NextStep(f"collected again once resumed: `releaf feed resume {name}`", False)
    if p.status == NOT_COLLECTED:
        # The nights read each feed from its first day not mirrored, and once a week
        # over the whole look-back; a day before it needs a person.
        if day >= today - timedelta(days=lookback):
            return NextStep("collected by the nights' re-read window", True)
        return NextStep(
            f"past the {lookback}-day look-back: collect it with `releaf backfill --start "
            f"{day} --end {day} --feed {name}`",
            False,
        )
    return next_step(
        p.status, p.kind, day, today=today, server=feed.server_name, server_healthy=healthy,
        customer_code=feed.customer_code, lookback_days=lookback,
    )  # fmt: skip


def not_collected_rows(
    day: CollectionDay, *, today: date, server_healthy: dict[int, bool], lookback_days: int
) -> list[NotCollectedRow]:
    """The day's feeds not collected, each with what will be done about it."""
    rows = []
    for p in day.problems:
        step = _next(
            p, day.day, today=today, healthy=server_healthy.get(p.feed.server_id, False),
            lookback=lookback_days,
        )  # fmt: skip
        rows.append(
            NotCollectedRow(p.feed.server_name, p.feed.customer_code, p.feed.account, p.status,
                            p.reason, step.text, step.automatic)
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
                "feeds_paused_by_operator": day.paused_by_operator,
                "feeds_not_yet_collected": day.not_yet_collected,
                "devices_reporting": day.readings,
            }
        ),
        "feeds_not_collected": table(NOT_COLLECTED_COLUMNS, [r.cells for r in rows]),
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
    per_account = {f"{SERIES_PREFIX}{a}": day.accounts.get(a, 0) for a in accounts}
    return {
        **numbers(
            {"pages": day.pages, "accounts": len(day.accounts), "feeds": day.feeds, **per_account}
        ),
        "pages_per_account": table(
            [("account", "string"), ("pages", "int")], sorted(day.accounts.items())
        ),
    }
