"""Accounting at scale, without HTTP: `compute_deposits`, `daily_deposits` and `monthly_pages`.

Synthetic readings (N feeds x D devices, one reading a day for `--history-days` days
through the end of October 2026, 31 by default: the month, plus the baseline day before)
are generated with numpy and written to a fresh SQLite store with bulk inserts, together
with what the pipeline would have stored by the month's second-to-last night: every
device's row and scope history, and the deposits, device counts and meter resets of every
earlier day (computed with numpy by the contract's rules, exactly). Then the pipeline's own
functions are timed:

- `compute_deposits` alone, on in-memory frames of every reading;
- what the `daily_deposits` asset does on the month's last night: the 31st's readings just
  mirrored (as the collection leaves them: each feed dirty from that day), `update_deposits`
  and the partition's own pages, with its parts timed (`benchmarks.phases`);
- the same from scratch (no deposit stored yet: every feed recomputed from its baseline and
  every day written), with `--from-scratch`;
- what the `monthly_pages` asset computes: `month_report` and `feed_month_pages`.

Run as `python -m benchmarks.accounting --feeds N --workdir DIR`; prints one JSON object.
The benchmark runner starts it as a process of its own so that its peak RSS is measured
per size; `peak_rss_mib_after` says which phase raised it.

This module runs the phases in order; the readings and their expected deposits are in
`benchmarks.accounting_data`, the store's bulk writes in `benchmarks.accounting_store`, and
the assets' calls in `benchmarks.accounting_steps`.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.accounting_data import FIRST, LAST, MONTH, Accounted, Synthetic
from benchmarks.accounting_steps import daily_deposits_step, monthly_pages_step, timed
from benchmarks.accounting_store import fill_store, forget_deposits, mirror_day, redo_night
from benchmarks.phases import Timings, instrument_deposits, instrument_engine_begin
from releaf_pipeline.lib.accounting.compute import compute_deposits
from releaf_pipeline.lib.store.engine import make_engine


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(
    n_feeds: int,
    n_devices: int,
    workdir: Path,
    *,
    history_days: int = 31,
    compute_alone: bool = True,
    from_scratch: bool = True,
    repeat: int = 3,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "feeds": n_feeds,
        "devices_per_feed": n_devices,
        "history_days": history_days,
        "month": MONTH,
    }
    # The process's peak RSS so far, after each phase: which phase raised it.
    peak: dict[str, float] = {}
    t, data = timed(lambda: Synthetic(n_feeds, n_devices, history_days))
    out["generate_seconds"] = round(t, 3)
    out["activation_date"] = data.activation.isoformat()
    peak["generated"] = _rss_mib()

    if compute_alone:
        # compute_deposits alone, on every reading (and the baseline day), in memory.
        frame = data.frame(LAST)
        out["readings"] = len(frame)
        through = pd.Series([pd.Timestamp(LAST)] * n_feeds, index=pd.Index(data.feed_ids))
        feed_df, device_df = data.feed_frame(), data.device_frame()
        began = time.perf_counter()
        result = compute_deposits(frame, feed_df, device_df, through)
        out["compute_deposits_seconds"] = round(time.perf_counter() - began, 3)
        out["deposit_rows"] = len(result.deposits)
        out["anomalies"] = len(result.anomalies)
        del frame, result
        peak["compute_deposits_alone"] = _rss_mib()

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "releaf.db"
    engine = make_engine(f"sqlite:///{db}")
    # Every night up to the month's second-to-last is already collected and deposited...
    t, _ = timed(lambda: fill_store(engine, data, LAST - timedelta(days=1)))
    out["fill_store_seconds"] = round(t, 3)
    peak["store_filled"] = _rss_mib()
    t, _ = timed(lambda: mirror_day(engine, data, LAST))
    out["mirror_last_day_seconds"] = round(t, 3)
    # ... then the month's last night: its readings just mirrored, deposits brought up to date.
    timings = Timings()
    instrument_deposits(timings)
    instrument_engine_begin(timings, engine, "update_deposits: transactions (statements + commit)")
    t, info = timed(lambda: daily_deposits_step(engine, LAST, LAST))
    out["daily_deposits_last_night_phases"] = timings.report(reset=True)
    # The same night again (its deposits taken back out) a few times: the median is
    # what is compared across sizes and histories.
    times = [t]
    for _ in range(repeat - 1):
        redo_night(engine, LAST)
        times.append(timed(lambda: daily_deposits_step(engine, LAST, LAST))[0])
    timings.report(reset=True)
    out["daily_deposits_last_night_seconds"] = round(sorted(times)[len(times) // 2], 3)
    out["daily_deposits_last_night_runs_seconds"] = [round(x, 3) for x in times]
    out["daily_deposits_last_night"] = info
    expected = int(Accounted(data, len(data.days) - 1).deposits[:, -1].sum())
    if info["pages"] != expected:
        raise SystemExit(f"the last night deposited {info['pages']} pages, not {expected}")
    peak["daily_deposits_last_night"] = _rss_mib()
    t, monthly = timed(lambda: monthly_pages_step(engine))
    out["monthly_pages_seconds"] = round(t, 3)
    out["monthly_pages"] = monthly
    peak["monthly_pages"] = _rss_mib()

    if from_scratch:
        # The same from scratch: no deposit stored yet, every day of the history written.
        forget_deposits(engine)
        timings.report(reset=True)
        t, info = timed(lambda: daily_deposits_step(engine, FIRST, LAST))
        out["daily_deposits_from_scratch_seconds"] = round(t, 3)
        out["daily_deposits_from_scratch"] = info
        out["daily_deposits_from_scratch_phases"] = timings.report(reset=True)
        peak["daily_deposits_from_scratch"] = _rss_mib()
        out["accounting_from_scratch_seconds"] = round(
            out["daily_deposits_from_scratch_seconds"] + out["monthly_pages_seconds"], 3
        )

    out["accounting_seconds"] = round(
        out["daily_deposits_last_night_seconds"] + out["monthly_pages_seconds"], 3
    )
    out["store_bytes"] = sum(p.stat().st_size for p in workdir.glob("releaf.db*"))
    out["peak_rss_mib_after"] = peak
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accounting")
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument(
        "--history-days", type=int, default=31, help="days of readings mirrored (31: the month)"
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--no-compute-alone", action="store_true", help="skip compute_deposits on its own"
    )
    parser.add_argument(
        "--no-from-scratch", action="store_true", help="skip the deposits from scratch"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="nights measured (the median is reported)"
    )
    args = parser.parse_args(argv)
    if args.history_days < 31:
        parser.error("--history-days must be at least 31 (the month)")
    result = run(
        args.feeds,
        args.devices,
        args.workdir,
        history_days=args.history_days,
        compute_alone=not args.no_compute_alone,
        from_scratch=not args.no_from_scratch,
        repeat=max(1, args.repeat),
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
