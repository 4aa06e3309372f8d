"""The `registration` scenario: `releaf feed import` of a CSV of many feeds into a new
store, at several sizes, and how it grows with rows (it must stay linear)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.commands import releaf
from benchmarks.conditions import FEEDS_PER_ACCOUNT, LATENCY, NIGHT, SERVER
from benchmarks.home import Home, morning_after
from benchmarks.measuring import log
from benchmarks.simprocess import SimulatorProcess
from benchmarks.targets import Outcome, growth, public, target

IMPORT_TARGET_ROWS = 100_000
IMPORT_TARGET_SECONDS = 20.0


def scenario_import(root: Path, sim: SimulatorProcess, rows: int) -> dict[str, Any]:
    """One `releaf feed import` of `rows` feeds (codes the server need not know: an import
    asks the server nothing) into a store holding only the server."""
    home = Home(root / f"import-{rows}")
    now = morning_after(NIGHT)
    added = releaf(home, "server", "add", SERVER, "--url", sim.url, "--ca-bundle", sim.ca_bundle)
    if added.returncode:
        raise RuntimeError(f"server add failed: {added.stderr[-2000:]}")
    csv_path = home.path / "feeds.csv"
    lines = ["server,customer_code,account,activation_date,scope"]
    lines += [
        f"{SERVER},C{i:015X},acct-{i // FEEDS_PER_ACCOUNT:06d},{NIGHT},all" for i in range(rows)
    ]
    csv_path.write_text("\n".join(lines) + "\n")
    log(f"feed import of {rows} rows")
    result = releaf(home, "feed", "import", str(csv_path), now=now)
    if result.returncode or f"imported {rows} feed(s)" not in result.stdout:
        raise RuntimeError(f"feed import failed: {result.stderr[-2000:]}")
    log(f"feed import of {rows} rows: {result.wall_seconds:.1f} s")
    shutil.rmtree(home.path, ignore_errors=True)
    return {"rows": rows, **result.summary()}


def registration(root: Path, sizes: list[int]) -> Outcome:
    """The imports' section and their target (100,000 rows, extrapolated when not run)."""
    with SimulatorProcess(
        root / "registration",
        customers=1,
        today=NIGHT + timedelta(days=1),
        history_start=NIGHT - timedelta(days=1),
        history_end=NIGHT + timedelta(days=1),
        latency=LATENCY,
    ) as sim:
        imports = {str(n): scenario_import(root, sim, n) for n in sizes}
    walls = [imports[str(n)]["wall_seconds"] for n in sizes]
    fit = growth(sizes, walls, "s", x="rows")
    section: dict[str, Any] = {
        "mode": "`releaf feed import` of a new CSV into a store holding only the server, "
        "CLI start-up included",
        "sizes": imports,
        "growth": public(fit),
    }
    if IMPORT_TARGET_ROWS in sizes:
        measured, how = imports[str(IMPORT_TARGET_ROWS)]["wall_seconds"], "measured"
    else:
        measured = fit["predict"](IMPORT_TARGET_ROWS)
        how = f"extrapolated linearly from {', '.join(map(str, sizes))} rows"
    targets = [
        target(
            f"releaf feed import of {IMPORT_TARGET_ROWS:,} rows",
            f"<= {IMPORT_TARGET_SECONDS:g} s",
            measured,
            measured <= IMPORT_TARGET_SECONDS,
            f"wall time of the command, {how}; growth exponent {fit['exponent']}",
        )
    ]
    return section, targets
