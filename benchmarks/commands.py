"""The `releaf` command as the scenarios drive it: registering the simulator and its feeds,
one measured `releaf collect` run (from outside, and from what the instance recorded), and
the same collection again with its phases timed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from benchmarks.conditions import FEEDS_PER_ACCOUNT, PYTHON, SERVER
from benchmarks.home import Home, morning_after
from benchmarks.measuring import Measured, loadavg, measure
from benchmarks.simprocess import SimulatorProcess, stats_delta


def releaf_command() -> list[str]:
    """The installed `releaf` console script next to this interpreter."""
    script = Path(PYTHON).parent / "releaf"
    if script.exists():
        return [str(script)]
    found = shutil.which("releaf")
    if found is None:
        raise SystemExit("the `releaf` command is not installed: run `make bench`")
    return [found]


def releaf(home: Home, *args: str, now: datetime | None = None, **kw: Any) -> Measured:
    """`releaf ARGS...` in `home`, measured; `now` and `concurrency` as in `Home.env`."""
    return measure([*releaf_command(), *args], home.env(now=now, **kw))


def register(home: Home, sim: SimulatorProcess, n_feeds: int, activation: date) -> None:
    """Register the simulator and `n_feeds` feeds (in bulk, from a CSV)."""
    register_servers(home, {SERVER: sim}, n_feeds, activation)


def register_servers(
    home: Home, sims: Mapping[str, SimulatorProcess], feeds_each: int, activation: date
) -> None:
    """Register each simulator under its name and `feeds_each` feeds of each (in bulk,
    from one CSV)."""
    for name, sim in sims.items():
        releaf(home, "server", "add", name, "--url", sim.url, "--ca-bundle", sim.ca_bundle)
    csv_path = home.path / "feeds.csv"
    lines = ["server,customer_code,account,activation_date,scope"]
    for name, sim in sims.items():
        for code in sim.codes[:feeds_each]:
            account = f"acct-{(len(lines) - 1) // FEEDS_PER_ACCOUNT:05d}"
            lines.append(f"{name},{code},{account},{activation},all")
    csv_path.write_text("\n".join(lines) + "\n")
    releaf(home, "feed", "import", str(csv_path))


def run_id_of(stdout: str) -> str:
    """The run id `releaf collect` printed."""
    for line in stdout.splitlines():
        if line.startswith(("collection run ", "backfill run ")):
            return line.split()[2].rstrip(":")
    raise RuntimeError(f"no run id in the output of releaf collect:\n{stdout[-2000:]}")


def run_info(home: Home, run_id: str) -> dict[str, Any]:
    """What the instance in `home` recorded about the run (`benchmarks.runinfo`)."""
    out = measure([PYTHON, "-m", "benchmarks.runinfo", run_id], home.env())
    return json.loads(out.stdout)


def served_by(sims: Sequence[SimulatorProcess], before: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the simulators served since their `before` stats, added up."""
    total: dict[str, Any] = {"requests": 0, "by_path": {}, "simulator_cpu_seconds": 0.0}
    for sim, then in zip(sims, before, strict=True):
        delta = stats_delta(then, sim.stats())
        total["requests"] += delta["requests"]
        for path, n in delta["by_path"].items():
            total["by_path"][path] = total["by_path"].get(path, 0) + n
        total["simulator_cpu_seconds"] = round(
            total["simulator_cpu_seconds"] + delta["simulator_cpu_seconds"], 3
        )
    return total


def collect(
    home: Home,
    sim: SimulatorProcess | Sequence[SimulatorProcess],
    start: date,
    end: date,
    n_feeds: int,
    *,
    concurrency: int | None,
    settings: Mapping[str, str] | None = None,
    tree: bool = True,
) -> dict[str, Any]:
    """One `releaf collect` run, measured from outside and from the instance; `settings`
    are more `RELEAF_*` variables for it. With `tree` (the default) each process under the
    command is sampled (`processes`), and `peak_rss_mib` is the largest of them: the run
    executes in the code server's child, whose memory `wait4` of the command never sees
    (`command_peak_rss_mib`)."""
    sims = [sim] if isinstance(sim, SimulatorProcess) else list(sim)
    before = [s.stats() for s in sims]
    load_before = loadavg()
    result = measure(
        [
            *releaf_command(),
            "collect",
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
        ],
        home.env(now=morning_after(end), concurrency=concurrency, settings=settings),
        tree=tree,
    )
    served = served_by(sims, before)
    info = run_info(home, run_id_of(result.stdout))
    readings = {**info["meter_readings"], **info["summary"]}
    collect_seconds = readings.get("seconds")
    deposits_seconds = info["steps"].get("daily_deposits", {}).get("seconds")
    run_seconds = info["run_seconds"]
    out: dict[str, Any] = {
        "feeds": n_feeds,
        "days": f"{start}..{end}",
        **result.summary(),
        "run_seconds": run_seconds,
        "cli_overhead_seconds": round(result.wall_seconds - run_seconds, 3)
        if run_seconds
        else None,
        "collect_seconds": collect_seconds,
        "meter_readings_step_seconds": _graph_seconds(info["steps"], "meter_readings."),
        "daily_deposits_step_seconds": deposits_seconds,
        "feeds_collected": readings.get("feeds_collected"),
        "feeds_failed": readings.get("feeds_failed"),
        "feeds_paused": readings.get("feeds_paused"),
        "devices": readings.get("devices_reporting"),
        "readings_changed": readings.get("readings_changed"),
        "retries": readings.get("retries"),
        "requests_counted_by_pipeline": readings.get("requests"),
        **served,
        "requests_per_feed": round(served["requests"] / n_feeds, 3),
        "feeds_per_second": round(n_feeds / result.wall_seconds, 2),
        "requests_per_second": round(served["requests"] / result.wall_seconds, 2),
        "feeds_per_second_collecting": round(n_feeds / collect_seconds, 2)
        if collect_seconds
        else None,
        "requests_per_second_collecting": round(served["requests"] / collect_seconds, 2)
        if collect_seconds
        else None,
        "deposit_pages": info["daily_deposits"].get("pages"),
        **_pieces(info),
        "run_status": info["status"],
        "loadavg_before": load_before,
    }
    if result.processes is not None:
        out["processes"] = result.processes
        peaks = [r["peak_rss_mib"] for r in result.processes.values() if "peak_rss_mib" in r]
        out["command_peak_rss_mib"] = out["peak_rss_mib"]
        out["peak_rss_mib"] = max([out["peak_rss_mib"], *peaks])
    if info["status"] != "SUCCESS" or readings.get("feeds_collected") != n_feeds:
        out["problem"] = "not every feed was collected"
    return out


def _pieces(info: dict[str, Any]) -> dict[str, Any]:
    """The run's pieces: their steps' durations and what the processes that collected them
    used (the run's `releaf/run.*` tags, set by the collection itself)."""
    # A graph-backed asset's steps are keyed ASSET.OP, a mapped one's ASSET.OP[PIECE].
    steps = {key.rsplit(".", 1)[-1]: s["seconds"] for key, s in info["steps"].items()}
    spans = [
        (s["began_after"], s["began_after"] + s["seconds"])
        for key, s in info["steps"].items()
        if key.rsplit(".", 1)[-1].startswith("collect_piece[")
        and s["seconds"] is not None
        and s["began_after"] is not None
    ]
    pieces = [end - began for began, end in spans]
    summary = info["summary"]
    return {
        "pieces": len(pieces),
        "step_timeline": {
            key.rsplit(".", 1)[-1]: [s["began_after"], s["seconds"]]
            for key, s in info["steps"].items()
        },
        "pieces_at_once_max": max(
            (sum(1 for b, e in spans if b <= at < e) for at, _ in spans), default=0
        ),
        "piece_step_seconds_max": max(pieces, default=None),
        "piece_step_seconds_sum": round(sum(pieces), 3),
        "plan_step_seconds": steps.get("plan_collection"),
        "publish_step_seconds": steps.get("publish_readings"),
        "piece_workers_peak_rss_mib": summary.get("peak_rss_mib"),
        "piece_workers_cpu_seconds": summary.get("cpu_seconds"),
    }


def phases_run(home: Home, start: date, end: date) -> dict[str, Any]:
    """The same collection again, in-process with its phases timed (`benchmarks.phases`)."""
    out_path = home.path / "phases.json"
    measure(
        [
            PYTHON,
            "-m",
            "benchmarks.phases",
            f"--out={out_path}",
            "--",
            "collect",
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
        ],
        home.env(now=morning_after(end)),
    )
    result = json.loads(out_path.read_text())
    result["note"] = (
        "a separate run of the same night from the same store, with timers around the "
        "pipeline's functions; http times of concurrent requests add up past the wall time"
    )
    return result


def _graph_seconds(steps: dict[str, dict[str, Any]], prefix: str) -> float | None:
    """From the first step of a graph-backed asset (its steps' keys start with `prefix`)
    starting to the last one ending: the asset's time in the run."""
    spans = [
        (s["began_after"], s["began_after"] + s["seconds"])
        for key, s in steps.items()
        if key.startswith(prefix) and s["began_after"] is not None and s["seconds"] is not None
    ]
    if not spans:
        return None
    return round(max(end for _, end in spans) - min(start for start, _ in spans), 3)
