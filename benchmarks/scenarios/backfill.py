"""The `backfill` scenario: 90 days collected as one run on an empty store, at several
sizes (the largest once more with its phases timed), and how it grows with feeds."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.commands import collect, phases_run, register
from benchmarks.conditions import BACKFILL_DAYS, BASELINE_DAYS, LATENCY, MIB, NIGHT
from benchmarks.home import Home
from benchmarks.measuring import log
from benchmarks.simprocess import SimulatorProcess
from benchmarks.targets import Outcome, growth, public, target


def scenario_backfill(root: Path, n_feeds: int, *, profile: bool = False) -> dict[str, Any]:
    """D - 89 .. D as one run, on an empty store, feeds activated on D - 89."""
    first = NIGHT - timedelta(days=BACKFILL_DAYS - 1)
    base = root / f"backfill-{n_feeds}"
    with SimulatorProcess(
        base,
        customers=n_feeds,
        today=NIGHT + timedelta(days=1),
        history_start=first - timedelta(days=BASELINE_DAYS + 1),
        history_end=NIGHT + timedelta(days=1),
        latency=LATENCY,
    ) as sim:
        home = Home(base / "home")
        register(home, sim, n_feeds, first)
        fresh = home.copy(base / "fresh") if profile else None
        log(f"backfill {n_feeds} feeds x {BACKFILL_DAYS} days")
        out = collect(home, sim, first, NIGHT, n_feeds, concurrency=None)
        log(f"backfill {n_feeds}: {out['wall_seconds']} s wall, {out['peak_rss_mib']} MiB")
        out["store_mib"] = round(
            sum(p.stat().st_size for p in home.path.glob("releaf.db*")) / MIB, 1
        )
        shutil.rmtree(home.path, ignore_errors=True)
        if fresh is not None:
            log(f"backfill {n_feeds}: phases run (timers around the pipeline's functions)")
            out["phases"] = phases_run(fresh, first, NIGHT)
            shutil.rmtree(fresh.path, ignore_errors=True)
    return out


def backfill(root: Path, backfill_sizes: list[int]) -> Outcome:
    """The backfills' section and their target (500 feeds, extrapolated when not run)."""
    targets: list[dict[str, Any]] = []
    fills = {
        str(n): scenario_backfill(root, n, profile=n == backfill_sizes[-1]) for n in backfill_sizes
    }
    walls = [fills[str(n)]["wall_seconds"] for n in backfill_sizes]
    fit = growth(backfill_sizes, walls, "s")
    section: dict[str, Any] = {
        "days": BACKFILL_DAYS,
        "mode": "empty store, feeds activated on the first day of the range: one "
        "run fetches each feed's 31-day baseline window and the 90 days",
        "sizes": fills,
        "growth_wall_seconds": public(fit),
    }
    if "500" in fills:
        measured, how = fills["500"]["wall_seconds"], "measured, CLI start-up included"
        ok = measured <= 120 and "problem" not in fills["500"]
    else:
        measured = fit["predict"](500)
        how = f"extrapolated (--quick): linear fit over {backfill_sizes} feeds"
        ok = measured <= 120
    targets.append(
        target("backfill: 90 days of 500 feeds as one run", "<= 120 s", measured, ok, how)
    )
    return section, targets
