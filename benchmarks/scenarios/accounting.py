"""The `accounting` scenario: `benchmarks.accounting` in a process of its own at several
sizes, how its phases grow with feeds, and the accounting targets at 10,000 feeds.

`scenario_accounting` also measures the `history` scenario (`benchmarks.scenarios.history`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from benchmarks.conditions import DEVICES, PYTHON
from benchmarks.home import Home
from benchmarks.measuring import log, measure
from benchmarks.targets import Outcome, growth, public, target


def scenario_accounting(
    root: Path, n_feeds: int, history_days: int = 31, *, history_only: bool = False
) -> dict[str, Any]:
    """`benchmarks.accounting` in a process of its own (its peak RSS is this size's)."""
    workdir = root / f"accounting-{n_feeds}-{history_days}"
    log(f"accounting {n_feeds} feeds x {DEVICES} devices x {history_days} days")
    cmd = [
        PYTHON,
        "-m",
        "benchmarks.accounting",
        f"--feeds={n_feeds}",
        f"--history-days={history_days}",
        f"--workdir={workdir}",
    ]
    if history_days != 31 or history_only:
        cmd += ["--no-compute-alone", "--no-from-scratch"]
    result = measure(cmd, Home(root / f"accounting-home-{n_feeds}-{history_days}").env())
    out = json.loads(result.stdout)
    out["process_wall_seconds"] = round(result.wall_seconds, 3)
    out["peak_rss_mib"] = round(result.max_rss_mib, 1)
    log(
        f"accounting {n_feeds}: daily_deposits {out['daily_deposits_last_night_seconds']} s, "
        f"monthly_pages {out['monthly_pages_seconds']} s"
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def accounting(root: Path, accounting_sizes: list[int]) -> Outcome:
    """The accounting's section (sizes and growth) and its targets; without a 10,000-feed
    size the main target is extrapolated."""
    targets: list[dict[str, Any]] = []
    accs = {str(n): scenario_accounting(root, n) for n in accounting_sizes}
    keys = (
        "compute_deposits_seconds",
        "daily_deposits_last_night_seconds",
        "daily_deposits_from_scratch_seconds",
        "monthly_pages_seconds",
        "accounting_seconds",
        "peak_rss_mib",
    )
    section: dict[str, Any] = {
        "mode": "synthetic readings (10 devices per feed, one a day, 1% missing, "
        "a few meter resets, 2 feeds per account) bulk-inserted into SQLite; "
        "daily_deposits = list_feeds + update_deposits on the month's last night "
        "(30 days already deposited); monthly_pages = month_report + "
        "feed_month_pages",
        "sizes": accs,
        "growth": {
            k: public(
                growth(
                    accounting_sizes,
                    [accs[str(n)][k] for n in accounting_sizes],
                    "MiB" if k.endswith("_mib") else "s",
                )
            )
            for k in keys
        },
    }
    if "10000" in accs:
        a = accs["10000"]
        measured = a["accounting_seconds"]
        how = (
            f"daily_deposits {a['daily_deposits_last_night_seconds']} s + monthly_pages "
            f"{a['monthly_pages_seconds']} s; compute_deposits alone "
            f"{a['compute_deposits_seconds']} s; from scratch (31 days written) "
            f"{a['accounting_from_scratch_seconds']} s"
        )
    else:
        fit = growth(
            accounting_sizes,
            [accs[str(n)]["accounting_seconds"] for n in accounting_sizes],
            "s",
        )
        measured = fit["predict"](10_000)
        how = f"extrapolated (--quick): linear fit over {accounting_sizes} feeds"
    targets.append(
        target(
            "accounting: daily_deposits + monthly_pages, 10,000 feeds x 31 days",
            "<= 10 s",
            measured,
            measured <= 10,
            how,
        )
    )
    if "10000" in accs:
        a = accs["10000"]
        scratch = a["daily_deposits_from_scratch"]
        full = scratch["update_deposits_seconds"]
        targets.append(
            target(
                "deposits from scratch: 10,000 feeds x 31 days",
                "<= 10 s",
                full,
                full <= 10,
                "update_deposits with the month's readings mirrored and no deposit "
                "stored yet (a backfill of new feeds): every feed recomputed from its "
                f"baseline, {scratch['days_written']:,} days written; the "
                "daily_deposits step with its own per-day pages "
                f"{a['daily_deposits_from_scratch_seconds']} s",
            )
        )
        c = a["compute_deposits_seconds"]
        targets.append(
            target(
                "accounting: compute_deposits alone, 10,000 feeds x 31 days",
                "<= 10 s",
                c,
                c <= 10,
                "in memory, no store",
            )
        )
    return section, targets
