"""Living through nights against the simulator with `releaf nightly`."""

from __future__ import annotations

from collections.abc import Callable, Container
from datetime import date, timedelta

from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.server import Simulator

Feed = tuple[str, str, date, str]  # customer code, account, activation, scope


def register_feeds(releaf: Callable, sim: Simulator, feeds: list[Feed], monkeypatch) -> None:
    """Register the simulator as server `east` and one feed per (code, account, date, scope)."""
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    for code, account, activation, scope in feeds:
        r = releaf(
            "feed", "add", "--server", "east", "--customer-code", code, "--account", account,
            "--activation-date", activation.isoformat(), "--scope", scope,
        )  # fmt: skip
        assert r.code == 0, r.err


def live_nights(
    releaf: Callable,
    sim: Simulator,
    first: date,
    last: date,
    *,
    outage: Container[date] = (),
    not_run: Container[date] = (),
    problems: Container[date] | None = None,
) -> None:
    """Each night after `first`..`last`: the simulator's clock moves to the moment the
    nightly schedule fires, and `releaf nightly` runs unless the night is in `not_run`;
    the server is down in `outage`.

    A night in `problems` (by default: the outage nights, whose feeds are paused) must
    exit 1 with a line per feed left paused or failed on stderr; every other night must
    exit 0.
    """
    expect_problems = outage if problems is None else problems
    day = first
    while day <= last:
        sim.set_now(night_time(day))
        sim.set_outage(day in outage)
        if day not in not_run:
            r = releaf("nightly", "--date", day.isoformat())
            if day in expect_problems:
                # Beside the run's own warnings, one line per feed and days left paused.
                problem = [line for line in r.err.splitlines() if line.startswith("feed ")]
                assert r.code == 1 and problem and "next: " in problem[0], (day, r.out, r.err)
            else:
                assert r.code == 0, (day, r.out, r.err)
        day += timedelta(days=1)
