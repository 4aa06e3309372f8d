"""The `history` scenario: one night's `daily_deposits` with 31 and with 365 days of
readings mirrored, at 1,000 and 10,000 feeds; the year should cost little more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.scenarios.accounting import scenario_accounting
from benchmarks.targets import Outcome, target


def history(
    root: Path, history_feeds: list[int], history_days: list[int], *, quick: bool
) -> Outcome:
    """The histories' section and their targets; with `quick` the 10,000-feed target is
    listed as not run."""
    targets: list[dict[str, Any]] = []
    hist = {
        str(n): {str(d): scenario_accounting(root, n, d, history_only=True) for d in history_days}
        for n in history_feeds
    }
    section: dict[str, Any] = {
        "mode": "daily_deposits for the last night of October (the 31st's readings "
        "just mirrored, every earlier day deposited) with the readings mirrored for "
        f"{' and '.join(str(d) for d in history_days)} days before it; each feed is "
        "recomputed from the day its inputs changed, seeded by each device's latest "
        "earlier reading; the median of 3 nights",
        "feeds": history_feeds,
        "sizes": hist,
    }
    for n in history_feeds:
        month = hist[str(n)]["31"]["daily_deposits_last_night_seconds"]
        year = hist[str(n)]["365"]["daily_deposits_last_night_seconds"]
        ratio = year / month
        targets.append(
            target(
                f"history: one night's daily_deposits, {n:,} feeds, 365 days mirrored against 31",
                "<= 1.3 times",
                ratio,
                ratio <= 1.3,
                f"{year} s with 365 days, {month} s with 31",
            )
        )
    if quick:
        targets.append(
            target(
                "history: one night's daily_deposits, 10,000 feeds, 365 days mirrored against 31",
                "<= 1.3 times",
                None,
                None,
                "not run with --quick (a 10 GB store)",
            )
        )
    return section, targets
