"""From the fan-out nights to 1,000,000 feeds a night: workers needed to finish within an
hour, the store's write rate, and a year's storage. `benchmarks/README.md` derives it; every
assumption is in `ASSUMPTIONS` and in the JSON next to the results."""

from __future__ import annotations

import math
from typing import Any

ASSUMPTIONS: dict[str, Any] = {
    "feeds": 1_000_000,
    "window_seconds": 3600,
    "servers": 200,
    "feeds_per_server": 5_000,
    "limit_per_server": 16,
    "latency_seconds": 0.1,
    "feeds_per_piece": 5_000,
    "core_per_worker": 1,
    "postgres_bytes_over_sqlite": 2.0,
    "nights_per_year": 365,
}
"""The night projected: 1,000,000 feeds on 200 MPS Monitor servers of 5,000 feeds each,
each answering after 100 ms with the default limit of 16 requests in flight, cut into the
default pieces of 5,000 feeds (one per server); each worker a process with a core of its
own; Postgres taking twice SQLite's bytes for the same rows (its 23-byte tuple headers,
item pointers and fill factor), WAL not counted."""


def project(section: dict[str, Any], assumptions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The projection from the `fanout` section's nights (its measured per-feed figures)."""
    a = {**ASSUMPTIONS, **(assumptions or {})}
    one, two = section["nights"]["1_worker"], section["nights"]["2_workers"]
    measured_feeds = section["feeds"]
    feeds = a["feeds"]
    piece = a["feeds_per_piece"]
    pieces = math.ceil(feeds / piece)
    # A worker's pace: one worker's pieces on this machine, seconds per feed (CPU and the
    # servers' latency overlapped as they are in a piece), no better than the server allows.
    pace = one["piece_step_seconds_sum"] / measured_feeds
    floor = one["requests_per_feed"] * a["latency_seconds"] / a["limit_per_server"]
    pace = max(pace, floor)
    # A step in a process of its own starts a process and loads the code: the CPU the
    # 2-worker night's processes spent beyond the 1-worker night's, per step process.
    extra = two["processes"]["all"]["cpu_seconds"] - one["processes"]["all"]["cpu_seconds"]
    steps = two["processes"].get("step_worker", {}).get("processes") or 1
    overhead = max(0.0, extra / steps)
    piece_seconds = piece * pace + overhead
    # What runs once per night after the last piece (the run's figures, daily_deposits
    # and its checks), taken to grow with the feeds; the command's start-up, the launch
    # and the plan before the first piece, as measured.
    timeline = one["step_timeline"]
    pieces_end = max(b + s for k, (b, s) in timeline.items() if k.startswith("collect_piece["))
    serial_per_feed = (one["run_seconds"] - pieces_end) / measured_feeds
    first_piece = min(b for k, (b, _) in timeline.items() if k.startswith("collect_piece["))
    fixed = first_piece + (one["wall_seconds"] - one["run_seconds"])
    serial = feeds * serial_per_feed + fixed
    left = a["window_seconds"] - serial
    workers = math.ceil(pieces * piece_seconds / left) if left > 0 else None
    collecting = pieces * piece_seconds / workers if workers else None
    rows = one["per_feed"]["rows_written"]
    grown = one["per_feed"]["used_bytes_grown"]
    feeds_per_second = feeds / collecting if collecting else None
    server_floor = a["feeds_per_server"] * one["requests_per_feed"] * a["latency_seconds"]
    return {
        "assumptions": a,
        "measured_inputs": {
            "requests_per_feed": one["requests_per_feed"],
            "worker_seconds_per_feed": round(pace, 5),
            "piece_process_overhead_cpu_seconds": round(overhead, 2),
            "serial_seconds_per_feed": round(serial_per_feed, 6),
            "fixed_seconds_per_night": round(fixed, 2),
            "rows_written_per_feed": rows,
            "bytes_grown_per_feed_sqlite": grown,
        },
        "pieces": pieces,
        "seconds_per_piece": round(piece_seconds, 1),
        "server_seconds_per_night": round(server_floor / a["limit_per_server"], 1),
        "serial_seconds": round(serial, 1),
        "workers_needed": workers,
        "collecting_seconds": round(collecting, 1) if collecting else None,
        "postgres_rows_per_second_while_collecting": round(rows * feeds_per_second)
        if feeds_per_second
        else None,
        "postgres_rows_per_second_over_the_hour": round(rows * feeds / a["window_seconds"]),
        "postgres_mb_per_second_while_collecting": round(
            grown * a["postgres_bytes_over_sqlite"] * feeds_per_second / 1e6, 2
        )
        if feeds_per_second
        else None,
        "rows_per_year": round(rows * feeds * a["nights_per_year"]),
        "sqlite_gb_per_year": round(grown * feeds * a["nights_per_year"] / 1e9, 1),
        "postgres_gb_per_year": round(
            grown * a["postgres_bytes_over_sqlite"] * feeds * a["nights_per_year"] / 1e9, 1
        ),
    }
