"""The `startup` scenario: the `releaf` command's own start-up, apart from any run."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.commands import releaf, run_id_of, run_info
from benchmarks.conditions import NIGHT, PYTHON
from benchmarks.home import Home, morning_after
from benchmarks.measuring import measure
from benchmarks.targets import Outcome, target


def scenario_startup(root: Path) -> dict[str, Any]:
    """The CLI's own start-up, apart from any run: `releaf feed list`, importing the
    definitions, and `releaf collect` of a day with no feed less its run's own duration."""
    noop, imports, collect_outside = [], [], []
    now = morning_after(NIGHT)
    for i in range(4):
        home = Home(root / f"startup-{i}")
        # The first command of a home creates the store (and asks the instance whether a
        # store with no schema is new); every later one pays only the start-up.
        releaf(home, "feed", "list")
        noop.append(releaf(home, "feed", "list").wall_seconds)
        imports.append(
            measure([PYTHON, "-c", "import releaf_pipeline.definitions"], home.env()).wall_seconds
        )
        result = releaf(home, "collect", "--start", NIGHT.isoformat(), now=now)
        run = run_info(home, run_id_of(result.stdout))
        if i:  # the first collect also creates the instance's storage
            collect_outside.append(result.wall_seconds - run["run_seconds"])
    return {
        "what": "median of 3 runs on an empty store, each after a first command created it",
        "releaf_feed_list_seconds": round(statistics.median(noop[1:]), 3),
        "import_definitions_seconds": round(statistics.median(imports[1:]), 3),
        "releaf_collect_outside_run_seconds": round(statistics.median(collect_outside), 3),
    }


def startup(root: Path) -> Outcome:
    """The start-up's section and its targets."""
    targets: list[dict[str, Any]] = []
    start = scenario_startup(root)
    targets.append(
        target(
            "start-up: releaf feed list",
            "<= 0.5 s",
            start["releaf_feed_list_seconds"],
            start["releaf_feed_list_seconds"] <= 0.5,
            "wall time of the command on an empty store, median of 3",
        )
    )
    targets.append(
        target(
            "start-up: releaf collect outside its run",
            "<= 1.5 s",
            start["releaf_collect_outside_run_seconds"],
            start["releaf_collect_outside_run_seconds"] <= 1.5,
            "wall time of `releaf collect` of a day with no feed less the run's own "
            "duration in the instance, median of 3",
        )
    )
    return start, targets
