"""Where a collection's time goes: the pipeline's own functions, wrapped with timers.

`python -m benchmarks.phases --out PATH -- collect --start D --end D` runs the `releaf`
command in this process with the collection's phases timed (HTTP requests, the store
writes of each feed, the deposit update and its parts) and writes them to PATH as JSON.
`instrument_deposits()` times the parts of `update_deposits` alone (used by
`benchmarks.accounting`).

Nothing in the pipeline is changed: module attributes are replaced by timing wrappers
for the life of this process only. Times of concurrent calls (HTTP requests in flight
together) add up to more than the wall time; their count and mean say how long one
call took.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class Timings:
    """Total seconds and call counts per phase name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.missing: list[str] = []

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.add(name, time.perf_counter() - began)

            return timed_async

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - began)

        return timed

    def patch(self, owner: Any, attribute: str, name: str) -> None:
        """Replace `owner.attribute` by a timed wrapper (skipped if the code has no such
        attribute any more, so the benchmark outlives the code it times)."""
        original = getattr(owner, attribute, None)
        if original is None:
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{attribute}")
            return
        setattr(owner, attribute, self.wrap(name, original))

    def report(self, *, reset: bool = False) -> dict[str, Any]:
        with self._lock:
            out = {
                name: {
                    "seconds": round(total, 3),
                    "calls": self.calls[name],
                    "mean_ms": round(total / self.calls[name] * 1000, 2),
                }
                for name, total in sorted(self.seconds.items())
            }
            if reset:
                self.seconds.clear()
                self.calls.clear()
            return out


def instrument_deposits(timings: Timings) -> None:
    """Time the parts of `update_deposits`: loading, computing, writing, committing."""
    from releaf_pipeline.lib.store import deposits
    from releaf_pipeline.lib.store.deposits import load

    timings.patch(load, "_frame", "update_deposits: load (select into a DataFrame)")
    timings.patch(deposits, "compute_deposits", "update_deposits: compute_deposits")
    timings.patch(deposits, "upsert", "update_deposits: upsert statements")
    timings.patch(deposits, "_update_batch", "update_deposits: batches (everything)")


def instrument_engine_begin(timings: Timings, engine: Any, name: str) -> None:
    """Time every `engine.begin()` block (statements and the commit) on this engine."""
    original = engine.begin

    @contextlib.contextmanager
    def begin() -> Iterator[Any]:
        began = time.perf_counter()
        try:
            with original() as conn:
                yield conn
        finally:
            timings.add(name, time.perf_counter() - began)

    engine.begin = begin


def instrument_collection(timings: Timings) -> None:
    """Time the HTTP requests, each feed's store writes and the deposit update."""
    from releaf_pipeline.defs.collection import assets, checks
    from releaf_pipeline.lib import collector
    from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
    from releaf_pipeline.lib.store import deposits, registry

    for method in ("ping", "get_customer", "list_devices", "list_devices_of", "counter_list"):
        timings.patch(MPSMonitorClient, method, f"http: {method} (queueing included)")
    for fn in ("save_collection", "evaluate_feed_health", "clear_recollect", "record_status"):
        timings.patch(collector, fn, f"store: {fn}")
    timings.patch(collector, "_collect_feed", "feed: one feed from first request to last write")
    timings.patch(collector, "collect", "collect: every feed (meter_readings)")
    # The assets import these when they run, from their own modules.
    timings.patch(deposits, "update_deposits", "daily_deposits: update_deposits")
    timings.patch(registry, "list_feeds", "store: list_feeds")
    timings.patch(assets, "publish_from_step", "assets: publish the days rewritten outside the run")
    timings.patch(assets, "report_fleet_health", "assets: report_fleet_health")
    timings.patch(checks, "report_days", "checks: report a check's days")
    instrument_deposits(timings)


def run_in_this_process() -> None:
    """Make the home's instance execute each run in the process that submits it (Dagster's
    synchronous run launcher), so that the timers see the run: the home is a copy made for
    this measurement."""
    from releaf_pipeline_tests.instances import IN_PROCESS_INSTANCE_YAML, NO_COMPUTE_LOGS_YAML

    home = Path(os.environ["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text(IN_PROCESS_INSTANCE_YAML + NO_COMPUTE_LOGS_YAML)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.phases")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("releaf_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    releaf_args = [a for a in args.releaf_args if a != "--"]
    run_in_this_process()
    timings = Timings()
    instrument_collection(timings)
    from releaf_pipeline import cli

    began = time.perf_counter()
    status = cli.main(releaf_args)
    wall = time.perf_counter() - began
    args.out.write_text(
        json.dumps(
            {
                "command_seconds": round(wall, 3),
                "phases": timings.report(),
                "not_timed": timings.missing,
            },
            indent=2,
        )
    )
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
