"""The `fanout` scenario: one steady night of 10,000 feeds on 10 MPS Monitor servers (a
simulator each, 100 ms latency), its pieces (one per server) run by one worker and by 2
and 4 workers; what the night writes to the store; and `pieces`: a worker's peak RSS for
a piece of 5,000 feeds and for one of 1,000, on the same server.

One worker is `RELEAF_EXECUTOR=in_process` (every piece in the run's process, one after
another); N workers are `RELEAF_EXECUTOR=multiprocess` with `RELEAF_WORKERS=N` (each piece
in a process of its own, N at once). Every night is `releaf collect` through the default
run launcher, on the embedded default store (SQLite), from a copy of the same synced
store.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.commands import collect, register_servers
from benchmarks.conditions import LATENCY, NIGHT
from benchmarks.home import Home
from benchmarks.measuring import log
from benchmarks.projection import project
from benchmarks.simprocess import SimulatorProcess
from benchmarks.storewrites import snapshot, written
from benchmarks.targets import Outcome, target

WORKER_LIMIT_MIB = 500
"""A worker's peak RSS that the piece size must keep it under."""

EXECUTIONS: dict[str, dict[str, str]] = {
    "1_worker": {"RELEAF_EXECUTOR": "in_process"},
    "2_workers": {"RELEAF_EXECUTOR": "multiprocess", "RELEAF_WORKERS": "2"},
    "4_workers": {"RELEAF_EXECUTOR": "multiprocess", "RELEAF_WORKERS": "4"},
}


@contextmanager
def simulators(base: Path, servers: int, feeds_each: int) -> Iterator[dict[str, SimulatorProcess]]:
    """`servers` simulators, each a dealer of its own (the server's identity) with
    `feeds_each` customers, by the name each is registered under."""
    # Two days of baseline before the feeds' activation on D - 1, as in `night`.
    first_reading = NIGHT - timedelta(days=3)
    with ExitStack() as stack:
        sims = {}
        for i in range(servers):
            name = f"bench-mps-{i + 1:02d}"
            sims[name] = stack.enter_context(
                SimulatorProcess(
                    base / name,
                    customers=feeds_each,
                    today=NIGHT + timedelta(days=1),
                    history_start=first_reading,
                    history_end=NIGHT + timedelta(days=1),
                    latency=LATENCY,
                    dealer_code=f"D-{2001 + i}",
                    seed=7 + i,
                )
            )
        yield sims


def synced_home(base: Path, sims: Mapping[str, SimulatorProcess], feeds_each: int) -> Home:
    """A home with the simulators' feeds registered (activated on D - 1) and D - 1
    collected, so that the night D measured from a copy of it is a steady night."""
    home = Home(base / "setup")
    register_servers(home, sims, feeds_each, NIGHT - timedelta(days=1))
    day = NIGHT - timedelta(days=1)
    log(f"fanout: setup run ({day}, {feeds_each * len(sims):,} feeds)")
    collect(home, list(sims.values()), day, day, feeds_each * len(sims), concurrency=None)
    return home


def measured_night(
    synced: Home,
    path: Path,
    sims: Mapping[str, SimulatorProcess],
    n_feeds: int,
    settings: dict[str, str],
) -> dict[str, Any]:
    """Night D from a copy of `synced` with `settings`: the run measured from outside and
    from the instance, each process's peak RSS, and what it wrote to the store."""
    home = synced.copy(path)
    db = home.path / "releaf.db"
    before = snapshot(db)
    night = collect(
        home, list(sims.values()), NIGHT, NIGHT, n_feeds,
        concurrency=None, settings=settings, tree=True,
    )  # fmt: skip
    writes = written(before, snapshot(db))
    night["settings"] = settings
    night["store_writes"] = writes
    rows = writes["rows_inserted"] + writes["rows_updated"] + writes["rows_deleted"]
    night["per_feed"] = {
        "cpu_ms_all_processes": round(night["processes"]["all"]["cpu_seconds"] * 1000 / n_feeds, 2),
        "cpu_ms_collecting": round(night["piece_workers_cpu_seconds"] * 1000 / n_feeds, 2)
        if night.get("piece_workers_cpu_seconds") is not None
        else None,
        "simulator_cpu_ms": round(night["simulator_cpu_seconds"] * 1000 / n_feeds, 2),
        "rows_written": round(rows / n_feeds, 2),
        "rows_inserted": round(writes["rows_inserted"] / n_feeds, 2),
        "rows_updated": round(writes["rows_updated"] / n_feeds, 2),
        "rows_deleted": round(writes["rows_deleted"] / n_feeds, 2),
        "bytes_grown": round(writes["bytes_grown"] / n_feeds, 1),
        "used_bytes_grown": round(writes["used_bytes_grown"] / n_feeds, 1),
    }
    shutil.rmtree(home.path, ignore_errors=True)
    return night


def _worker_peak(night: dict[str, Any]) -> float | None:
    """The largest peak RSS of a process that collected a piece (the run's own tag)."""
    return night.get("piece_workers_peak_rss_mib")


def fanout(root: Path, servers: int, feeds_each: int, *, quick: bool) -> Outcome:
    """The fan-out nights, their ratios against one worker, and the projection."""
    base = root / "fanout"
    n_feeds = servers * feeds_each
    nights: dict[str, Any] = {}
    with simulators(base, servers, feeds_each) as sims:
        synced = synced_home(base, sims, feeds_each)
        for label, settings in EXECUTIONS.items():
            log(f"fanout: night of {n_feeds:,} feeds on {servers} servers, {label}")
            nights[label] = measured_night(synced, base / label, sims, n_feeds, settings)
            n = nights[label]
            log(
                f"fanout {label}: {n['wall_seconds']} s wall, run {n['run_seconds']} s, "
                f"worker peak {_worker_peak(n)} MiB, {n['per_feed']['rows_written']} rows/feed"
            )
        shutil.rmtree(synced.path, ignore_errors=True)
    one = nights["1_worker"]
    ratios = {
        label: {
            "wall_seconds_one_over_this": round(one["wall_seconds"] / n["wall_seconds"], 2),
            "run_seconds_one_over_this": round(one["run_seconds"] / n["run_seconds"], 2),
            "cpu_seconds_this_over_one": round(
                n["processes"]["all"]["cpu_seconds"] / one["processes"]["all"]["cpu_seconds"], 2
            ),
        }
        for label, n in nights.items()
        if label != "1_worker"
    }
    section: dict[str, Any] = {
        "servers": servers,
        "feeds_per_server": feeds_each,
        "feeds": n_feeds,
        "store": "SQLite (the embedded default)",
        "nights": nights,
        "ratios_against_one_worker": ratios,
        "faster_with_workers": {
            label: r["wall_seconds_one_over_this"] > 1 for label, r in ratios.items()
        },
    }
    if quick:
        section["quick"] = f"{feeds_each} feeds per server instead of 1,000"
    section["projection"] = project(section)
    targets = []
    for label in ("2_workers", "4_workers"):
        peak = _worker_peak(nights[label])
        targets.append(
            target(
                f"fan-out: {n_feeds:,} feeds on {servers} servers, {label.replace('_', ' ')}: "
                "a worker's peak RSS",
                f"<= {WORKER_LIMIT_MIB} MiB",
                peak,
                peak is not None and peak <= WORKER_LIMIT_MIB and "problem" not in nights[label],
                f"the run's releaf/run.peak_rss_mib: the largest ru_maxrss of a process "
                f"that collected a piece of {feeds_each:,} feeds, every feed collected",
            )
        )
    return section, targets


def pieces(root: Path, sizes: tuple[int, int], *, quick: bool) -> Outcome:
    """A worker's peak RSS for a piece of `sizes[0]` feeds (one server's, one piece) and
    of `sizes[1]` (the same server cut into pieces of that size, each with the same 16
    requests in flight), each piece in a process of its own."""
    big, small = sizes
    base = root / "pieces"
    out: dict[str, Any] = {"server_feeds": big}
    with simulators(base, 1, big) as sims:
        synced = synced_home(base, sims, big)
        shards = -(-big // small)
        runs = {
            str(big): {"RELEAF_EXECUTOR": "multiprocess", "RELEAF_WORKERS": "1"},
            # Shards share the server's limit: a limit of 16 per shard keeps each piece's
            # requests in flight (and feeds in progress) those of the whole-server piece.
            str(small): {
                "RELEAF_EXECUTOR": "multiprocess",
                "RELEAF_WORKERS": "2",
                "RELEAF_FEEDS_PER_PIECE": str(small),
                "RELEAF_CONCURRENCY_PER_SERVER": str(16 * shards),
            },
        }
        for size, settings in runs.items():
            log(f"pieces: {big:,} feeds of one server in pieces of {size}")
            night = measured_night(synced, base / f"p{size}", sims, big, settings)
            out[size] = {
                "pieces": night["pieces"],
                "worker_peak_rss_mib": _worker_peak(night),
                "processes": night.get("processes"),
                "run_seconds": night["run_seconds"],
                "wall_seconds": night["wall_seconds"],
                "settings": settings,
                "feeds_collected": night["feeds_collected"],
            }
            log(f"pieces {size}: worker peak {_worker_peak(night)} MiB")
        shutil.rmtree(synced.path, ignore_errors=True)
    if quick:
        out["quick"] = f"pieces of {big:,} and {small:,} feeds instead of 5,000 and 1,000"
    a, b = out[str(big)]["worker_peak_rss_mib"], out[str(small)]["worker_peak_rss_mib"]
    if a is not None and b is not None:
        out["mib_per_1000_feeds_of_a_piece"] = round((a - b) / (big - small) * 1000, 1)
    targets = [
        target(
            f"a worker's peak RSS for a piece of {size:,} feeds",
            f"<= {WORKER_LIMIT_MIB} MiB",
            out[str(size)]["worker_peak_rss_mib"],
            out[str(size)]["worker_peak_rss_mib"] is not None
            and out[str(size)]["worker_peak_rss_mib"] <= WORKER_LIMIT_MIB
            and out[str(size)]["feeds_collected"] == big,
            "the run's releaf/run.peak_rss_mib (ru_maxrss of each process that collected "
            "a piece, the largest), RELEAF_EXECUTOR=multiprocess",
        )
        for size in sizes
    ]
    return out, targets
