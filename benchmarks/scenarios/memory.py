"""The nights measured for their peak RSS: `big`, 10,000 feeds in one run (extrapolated
from smaller nights with `--quick`), and `mature`, a night after a year of mirrored
readings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.scenarios.night import scenario_night
from benchmarks.targets import Outcome, growth, target


def big_night(
    root: Path,
    big_size: int,
    default: int,
    night_sizes: list[int],
    night_section: dict[str, Any] | None,
) -> Outcome:
    """One night of `big_size` feeds, phases timed; below 10,000 feeds its peak RSS is
    extrapolated along the `night` scenario's sizes when that scenario ran."""
    targets: list[dict[str, Any]] = []
    big = scenario_night(root, big_size, [default], default, profile=True)["default"]
    rss = big["peak_rss_mib"]
    how = f"peak RSS of releaf collect for one night of {big_size:,} feeds"
    if big_size != 10_000 and night_section is not None:
        sizes = [*night_sizes, big_size]
        nights = night_section["sizes"]
        values = [nights[str(n)]["default"]["peak_rss_mib"] for n in night_sizes]
        fit = growth(sizes, [*values, rss], "MiB")
        rss = fit["predict"](10_000)
        how = (
            f"extrapolated (--quick): linear fit of peak RSS over {sizes} feeds, "
            f"{fit['fit_per_1000_feeds']} MiB per 1,000 feeds"
        )
    ok = rss <= 1024 and "problem" not in big
    targets.append(
        target(
            "night: 10,000 feeds in one run, peak RSS",
            "<= 1024 MiB, every feed collected",
            rss,
            ok,
            how,
        )
    )
    return big, targets


def mature_night(root: Path, mature_feeds: int, mature_days: int, default: int) -> Outcome:
    """One night of `mature_feeds` feeds activated `mature_days` days before it."""
    targets: list[dict[str, Any]] = []
    nights = scenario_night(root, mature_feeds, [default], default, history_days=mature_days)
    mature = nights["default"]
    mature["history_days"] = mature_days
    rss = mature["peak_rss_mib"]
    targets.append(
        target(
            f"night: peak RSS after {mature_days} days of mirrored history",
            "<= 1024 MiB (the 10,000-feed target, once the store is not new)",
            rss,
            rss <= 1024 and "problem" not in mature,
            f"peak RSS of releaf collect for one night of {mature_feeds} feeds, each "
            f"with {mature_days} days (and the 31-day baseline) mirrored; "
            "daily_deposits takes the feeds in batches, one after the other, so "
            "more feeds add batches, not memory",
        )
    )
    return mature, targets
