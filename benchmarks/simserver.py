"""The MPS Monitor simulator in a process of its own, sized and windowed for a benchmark.

`releaf simulator` always precomputes the fleet's default eight months of counters; a
benchmark of thousands of customers wants only the few days it collects, so this launcher
builds the `Fleet` with an explicit history window and serves it with `Simulator`.

It writes `--ready-file` (JSON: url, CA bundle, token, pid, customer codes file) once it
listens, and `--stats-file` (JSON: requests served, per path, its own CPU time and peak
RSS) on SIGUSR1 and when it stops (SIGTERM or SIGINT), so the benchmark can count
requests without sending any itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.contract import DEFAULT_TOKEN
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def _stats(sim: Simulator, snapshot: int) -> dict[str, Any]:
    log = list(sim.request_log)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "snapshot": snapshot,
        "requests": len(log),
        "by_path": dict(Counter(path for _method, path in log)),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_kib": usage.ru_maxrss,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simserver")
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--devices", type=int, default=10, help="per customer (+/- 2)")
    parser.add_argument("--today", type=date.fromisoformat, required=True)
    parser.add_argument("--history-start", type=date.fromisoformat, required=True)
    parser.add_argument("--history-end", type=date.fromisoformat, required=True)
    parser.add_argument("--latency", type=float, default=0.1, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--dealer-code",
        default=FleetConfig.dealer_code,
        help="the dealer the server answers for (its identity: one per server registered)",
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--stats-file", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(
        FleetConfig(
            seed=args.seed,
            customers=args.customers,
            devices_per_customer=args.devices,
            history_start=args.history_start,
            history_end=args.history_end,
            dealer_code=args.dealer_code,
        )
    )
    began = time.monotonic()
    # Generate every customer's counters now, so serving measures the server, not the
    # fleet's lazy generation on first use.
    _ = fleet.resets
    generate_seconds = time.monotonic() - began

    token = os.environ.get("RELEAF_DEALER_TOKEN") or DEFAULT_TOKEN
    sim = Simulator(
        fleet, token=token, today=args.today, latency=args.latency, workdir=args.workdir
    )
    sim.start()
    codes_file = args.workdir / "customer_codes.txt"
    codes_file.write_text("".join(f"{c}\n" for c in fleet.customer_codes))

    snapshots = 0

    def dump(_signum: int = 0, _frame: Any = None) -> None:
        nonlocal snapshots
        snapshots += 1
        _write_json(args.stats_file, _stats(sim, snapshots))

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGTERM, stop)
    _write_json(
        args.ready_file,
        {
            "url": sim.url,
            "ca_bundle": str(sim.ca_bundle.resolve()),
            "pid": os.getpid(),
            "customer_codes_file": str(codes_file),
            "customers": len(fleet.customer_codes),
            "generate_seconds": round(generate_seconds, 3),
        },
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        dump()
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
