"""The `night` scenario: one steady-state night's collection at several sizes, with the
default concurrency and one customer after another, and how the night grows with feeds.

`scenario_night` also measures the nights of `benchmarks.scenarios.memory`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.commands import collect, phases_run, register
from benchmarks.conditions import BASELINE_DAYS, LATENCY, NIGHT
from benchmarks.home import Home
from benchmarks.measuring import log
from benchmarks.simprocess import SimulatorProcess
from benchmarks.targets import Outcome, growth, public, target


def scenario_night(
    root: Path,
    n_feeds: int,
    concurrencies: Sequence[int],
    default: int,
    *,
    profile: bool = False,
    history_days: int = 1,
) -> dict[str, dict[str, Any]]:
    """Night D at `n_feeds` feeds, once per concurrency, each from the same synced store.

    The feeds are activated `history_days` days before D and a setup run collects them up
    to D - 1 (their first sync, the baseline window included), so the night measured is a
    steady-state night: each feed fetches one day. With `profile`, the default-concurrency
    night is run once more with its phases timed.
    """
    activation = NIGHT - timedelta(days=history_days)
    # Two days of baseline are enough for a one-day history; otherwise the whole window.
    first_reading = activation - timedelta(days=2 if history_days == 1 else BASELINE_DAYS + 1)
    base = root / f"night-{n_feeds}-{history_days}"
    with SimulatorProcess(
        base,
        customers=n_feeds,
        today=NIGHT + timedelta(days=1),
        history_start=first_reading,
        history_end=NIGHT + timedelta(days=1),
        latency=LATENCY,
    ) as sim:
        home = Home(base / "setup")
        register(home, sim, n_feeds, activation)
        log(f"night {n_feeds}: setup run ({activation}..{NIGHT - timedelta(days=1)})")
        setup = collect(home, sim, activation, NIGHT - timedelta(days=1), n_feeds, concurrency=None)
        out: dict[str, dict[str, Any]] = {}
        for conc in concurrencies:
            label = "serial" if conc == 1 else "default"
            run_home = home.copy(base / f"c{conc}")
            log(f"night {n_feeds}: measured run at concurrency {conc}")
            measured = collect(
                run_home, sim, NIGHT, NIGHT, n_feeds, concurrency=None if conc == default else conc
            )
            measured["concurrency"] = conc
            measured["setup_run_wall_seconds"] = setup["wall_seconds"]
            measured["simulator_generate_seconds"] = sim.generate_seconds
            out[label] = measured
            log(
                f"night {n_feeds} c={conc}: {measured['wall_seconds']} s wall, "
                f"{measured['requests']} requests, {measured['peak_rss_mib']} MiB"
            )
            shutil.rmtree(run_home.path, ignore_errors=True)
        if profile:
            log(f"night {n_feeds}: phases run (timers around the pipeline's functions)")
            run_home = home.copy(base / "phases")
            out["default"]["phases"] = phases_run(run_home, NIGHT, NIGHT)
            shutil.rmtree(run_home.path, ignore_errors=True)
        shutil.rmtree(home.path, ignore_errors=True)
    return out


def night(
    root: Path, night_sizes: Sequence[int], serial_sizes: Sequence[int], default: int
) -> Outcome:
    """The nights' section (sizes, growth, serial/default ratios) and their targets; the
    serial 1,000-feed night is extrapolated from the 100-feed one when not run."""
    targets: list[dict[str, Any]] = []
    nights: dict[str, Any] = {}
    for n in night_sizes:
        concs = [default, 1] if n in serial_sizes else [default]
        nights[str(n)] = scenario_night(root, n, concs, default, profile=n == 1000)
    default_walls = [nights[str(n)]["default"]["wall_seconds"] for n in night_sizes]
    default_runs = [nights[str(n)]["default"]["run_seconds"] for n in night_sizes]
    wall_fit = growth(night_sizes, default_walls, "s")
    run_fit = growth(night_sizes, default_runs, "s")
    section: dict[str, Any] = {
        "sizes": nights,
        "growth_default_wall_seconds": public(wall_fit),
        "growth_default_run_seconds": public(run_fit),
        "growth_default_peak_rss_mib": public(
            growth(
                night_sizes,
                [nights[str(n)]["default"]["peak_rss_mib"] for n in night_sizes],
                "MiB",
            )
        ),
    }
    ratios = {}
    for n in serial_sizes:
        d, s = nights[str(n)]["default"], nights[str(n)]["serial"]
        ratios[str(n)] = {
            "wall_seconds_serial_over_default": round(s["wall_seconds"] / d["wall_seconds"], 2),
            "collect_seconds_serial_over_default": round(
                s["collect_seconds"] / d["collect_seconds"], 2
            ),
            "feeds_per_second_default_over_serial": round(
                d["feeds_per_second"] / s["feeds_per_second"], 2
            ),
            "requests_per_second_default_over_serial": round(
                d["requests_per_second"] / s["requests_per_second"], 2
            ),
            "peak_rss_serial_over_default": round(s["peak_rss_mib"] / d["peak_rss_mib"], 2),
        }
    one = nights["1000"]
    if "serial" in one:
        serial_1000 = one["serial"]["wall_seconds"]
        serial_how = "measured: releaf collect, RELEAF_CONCURRENCY_PER_SERVER=1"
    else:
        s100 = nights["100"]["serial"]
        serial_1000 = s100["wall_seconds"] - s100["run_seconds"] + s100["run_seconds"] * 10
        serial_how = (
            "extrapolated (--quick): the serial 100-feed run's CLI overhead plus 10x "
            "its run duration"
        )
        ratios["1000"] = {
            "wall_seconds_serial_over_default": round(
                serial_1000 / one["default"]["wall_seconds"], 2
            ),
            "extrapolated": True,
        }
        section["serial_1000_extrapolated_wall_seconds"] = round(serial_1000, 3)
    section["ratios"] = ratios
    steady = one["default"]
    targets.append(
        target(
            "night: requests per feed, 1,000 feeds x 10 devices",
            "<= 1.1",
            steady["requests_per_feed"],
            steady["requests_per_feed"] <= 1.1,
            f"requests the simulator answered during the night: {steady['by_path']}",
        )
    )
    targets.append(
        target(
            "night: run time, 1,000 feeds x 10 devices, 100 ms latency, 16 in flight",
            "<= 10 s",
            steady["run_seconds"],
            steady["run_seconds"] is not None and steady["run_seconds"] <= 10,
            "the Dagster run's own duration (start to end in the instance)",
        )
    )
    wall = one["default"]["wall_seconds"]
    ok = wall <= 15 and "problem" not in one["default"]
    targets.append(
        target(
            "night: 1,000 feeds x 10 devices, 100 ms latency, default concurrency",
            "<= 15 s",
            wall,
            ok,
            f"wall time of releaf collect through the default run launcher (a code server "
            f"and a run process), CLI start-up included (run alone: "
            f"{one['default']['run_seconds']} s)",
        )
    )
    # One request after another cannot take less than the requests times the latency:
    # the floor shows the default night's speed comes from concurrency, not from skipping.
    floor = one["default"]["requests"] * LATENCY
    targets.append(
        target(
            "night: the same one customer after another (concurrency 1)",
            f">= {floor:.0f} s (its requests, one after another, at {LATENCY * 1000:.0f} ms)",
            serial_1000,
            serial_1000 >= floor,
            serial_how,
        )
    )
    return section, targets
