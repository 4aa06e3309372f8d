"""Benchmarks of releaf-pipeline against the MPS Monitor simulator; prints one JSON document.

    python -m benchmarks.run [--quick] [--out PATH] [--only SCENARIO,...] [--keep]

Scenarios (each in a fresh, temporary DAGSTER_HOME, with the simulator in a process of its
own answering every request after a fixed latency, 100 ms):

- ``startup``: the `releaf` command's start-up, timed apart (a no-op command on an empty
  store, and importing the Dagster definitions).
- ``night``: one night's collection (`releaf collect --start D --end D` as a subprocess:
  wall time, the run's own duration, requests, peak RSS) at 100, 300 and 1,000 feeds x 10
  devices with the default per-server concurrency, and with a concurrency of 1 (one
  customer after another) at 100 and 1,000 feeds; the serial/default ratios. The
  1,000-feed night is run once more with its phases timed (`benchmarks.phases`).
- ``big``: the same night at 10,000 feeds (peak RSS), phases timed too.
- ``mature``: the same night at 500 feeds after a year of mirrored readings, the store a
  pipeline has once it is not new (deposits are computed in batches of feeds, so the
  peak does not grow with more feeds).
- ``backfill``: a 90-day backfill (`releaf collect --start D-89 --end D`) as one run, at
  100, 250 and 500 feeds.
- ``accounting``: `compute_deposits`, `daily_deposits` and `monthly_pages` over 1,000,
  3,000 and 10,000 feeds x 10 devices x 31 days, no HTTP (`benchmarks.accounting`).
- ``history``: `daily_deposits` for one night at 1,000 and 10,000 feeds with 31 and 365
  days mirrored (the 10,000-feed year is a store of 37 million readings, about 10 GB).

`--quick` keeps every scenario but makes the big ones smaller (and says so in the JSON):
no serial run at 1,000 feeds (extrapolated from 100), 2,000 feeds instead of 10,000,
smaller backfills and accounting sizes, with the targets' sizes extrapolated.

The JSON goes to stdout and to `benchmarks/results/latest.json` (or `--out`); progress goes
to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PYTHON = sys.executable

# The night measured, D (a Wednesday): RELEAF_NOW is 02:00 UTC on D + 1 and the simulator's
# clock is D + 1, so D's readings have been uploaded.
NIGHT = date(2026, 10, 14)
LATENCY = 0.1
DEVICES = 10
TOKEN = "bench-dealer-token-0001"
SERVER = "bench-mpsmonitor"
FEEDS_PER_ACCOUNT = 2
BACKFILL_DAYS = 90
BASELINE_DAYS = 31
MIB = 1024 * 1024

# Every setting the pipeline reads from the environment that a benchmark must not inherit.
_SCRUBBED = (
    "RELEAF_DATABASE_URL",
    "RELEAF_SECRET_KEY",
    "RELEAF_CONCURRENCY_PER_SERVER",
    "RELEAF_NOW",
    "RELEAF_HOLIDAYS",
    "RELEAF_CERTIFICATES_DIR",
    "RELEAF_DEALER_TOKEN",
    "DAGSTER_HOME",
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def releaf_command() -> list[str]:
    """The installed `releaf` console script next to this interpreter."""
    script = Path(PYTHON).parent / "releaf"
    if script.exists():
        return [str(script)]
    found = shutil.which("releaf")
    if found is None:
        raise SystemExit("the `releaf` command is not installed: run `make bench`")
    return [found]


def default_concurrency() -> int:
    """The per-server concurrency the pipeline uses when nothing is set."""
    from releaf_pipeline.settings import read_settings

    env = {k: v for k, v in os.environ.items() if k != "RELEAF_CONCURRENCY_PER_SERVER"}
    return read_settings(env).concurrency_per_server


# ------------------------------------------------------------------ processes


@dataclass
class Measured:
    """One child process: how long it took, its peak RSS and CPU time, what it printed."""

    wall_seconds: float
    max_rss_mib: float
    cpu_seconds: float
    returncode: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall_seconds, 3),
            "peak_rss_mib": round(self.max_rss_mib, 1),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_utilisation": round(self.cpu_seconds / self.wall_seconds, 2)
            if self.wall_seconds
            else None,
        }


def measure(cmd: Sequence[str], env: dict[str, str], *, check: bool = True) -> Measured:
    """Run `cmd` to completion; wall time, and peak RSS and CPU time from `wait4`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=REPO, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Measured(
            wall_seconds=wall,
            # Linux reports ru_maxrss in KiB.
            max_rss_mib=usage.ru_maxrss / 1024,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            f"\n{result.stdout[-2000:]}"
        )
    return result


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


class Home:
    """A fresh DAGSTER_HOME (instance, store, key) for one scenario."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")

    def copy(self, path: Path) -> Home:
        """A copy of this home as it is now (no process may be using it)."""
        shutil.copytree(self.path, path)
        return Home(path)

    def env(self, *, now: datetime | None = None, concurrency: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env["DAGSTER_HOME"] = str(self.path)
        env["RELEAF_DEALER_TOKEN"] = TOKEN
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        if now is not None:
            env["RELEAF_NOW"] = now.isoformat()
        if concurrency is not None:
            env["RELEAF_CONCURRENCY_PER_SERVER"] = str(concurrency)
        return env


def morning_after(day: date) -> datetime:
    """02:00 UTC the day after `day`: when the nightly schedule collects `day`."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC).replace(hour=2)


class SimulatorProcess:
    """`benchmarks.simserver` in a process of its own."""

    def __init__(
        self,
        workdir: Path,
        *,
        customers: int,
        today: date,
        history_start: date,
        history_end: date,
        latency: float,
        devices: int = DEVICES,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file = workdir / "ready.json"
        self.stats_file = workdir / "stats.json"
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env["RELEAF_DEALER_TOKEN"] = TOKEN
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        cmd = [
            PYTHON,
            "-m",
            "benchmarks.simserver",
            f"--customers={customers}",
            f"--devices={devices}",
            f"--today={today}",
            f"--history-start={history_start}",
            f"--history-end={history_end}",
            f"--latency={latency}",
            f"--workdir={workdir / 'sim'}",
            f"--ready-file={self.ready_file}",
            f"--stats-file={self.stats_file}",
        ]
        self._log = (workdir / "simulator.log").open("wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 300
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited {self.proc.returncode}: see {workdir}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start within 5 minutes")
            time.sleep(0.1)
        info = json.loads(self.ready_file.read_text())
        self.url: str = info["url"]
        self.ca_bundle: str = info["ca_bundle"]
        self.generate_seconds: float = info["generate_seconds"]
        self.codes = Path(info["customer_codes_file"]).read_text().split()
        self._snapshot = 0

    def stats(self) -> dict[str, Any]:
        """Requests served so far (by path) and the simulator's CPU time."""
        self._snapshot += 1
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                stats = json.loads(self.stats_file.read_text())
                if stats["snapshot"] >= self._snapshot:
                    return stats
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("the simulator did not report its request count")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    paths = set(before["by_path"]) | set(after["by_path"])
    return {
        "requests": after["requests"] - before["requests"],
        "by_path": {
            p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1]: after["by_path"].get(p, 0)
            - before["by_path"].get(p, 0)
            for p in sorted(paths)
            if after["by_path"].get(p, 0) != before["by_path"].get(p, 0)
        },
        "simulator_cpu_seconds": round(after["cpu_seconds"] - before["cpu_seconds"], 3),
    }


# ------------------------------------------------------------------ the pipeline's CLI


def releaf(home: Home, *args: str, now: datetime | None = None, **kw: Any) -> Measured:
    return measure([*releaf_command(), *args], home.env(now=now, **kw))


def register(home: Home, sim: SimulatorProcess, n_feeds: int, activation: date) -> None:
    """Register the simulator and `n_feeds` feeds (in bulk, from a CSV)."""
    releaf(home, "server", "add", SERVER, "--url", sim.url, "--ca-bundle", sim.ca_bundle)
    csv_path = home.path / "feeds.csv"
    lines = ["server,customer_code,account,activation_date,scope"]
    for i, code in enumerate(sim.codes[:n_feeds]):
        lines.append(f"{SERVER},{code},acct-{i // FEEDS_PER_ACCOUNT:05d},{activation},all")
    csv_path.write_text("\n".join(lines) + "\n")
    releaf(home, "feed", "import", str(csv_path))


def run_id_of(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith(("collection run ", "backfill run ")):
            return line.split()[2].rstrip(":")
    raise RuntimeError(f"no run id in the output of releaf collect:\n{stdout[-2000:]}")


def run_info(home: Home, run_id: str) -> dict[str, Any]:
    out = measure([PYTHON, "-m", "benchmarks.runinfo", run_id], home.env())
    return json.loads(out.stdout)


def collect(
    home: Home,
    sim: SimulatorProcess,
    start: date,
    end: date,
    n_feeds: int,
    *,
    concurrency: int | None,
) -> dict[str, Any]:
    """One `releaf collect` run, measured from outside and from the instance."""
    before = sim.stats()
    load_before = loadavg()
    result = releaf(
        home,
        "collect",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        now=morning_after(end),
        concurrency=concurrency,
    )
    served = stats_delta(before, sim.stats())
    info = run_info(home, run_id_of(result.stdout))
    readings = info["meter_readings"]
    collect_seconds = readings.get("duration_seconds")
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
        "meter_readings_step_seconds": info["steps"].get("meter_readings", {}).get("seconds"),
        "daily_deposits_step_seconds": deposits_seconds,
        "feeds_collected": readings.get("feeds_collected"),
        "feeds_failed": readings.get("feeds_failed"),
        "feeds_paused": readings.get("feeds_paused"),
        "devices": readings.get("devices"),
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
        "run_status": info["status"],
        "loadavg_before": load_before,
    }
    if info["status"] != "SUCCESS" or readings.get("feeds_collected") != n_feeds:
        out["problem"] = "not every feed was collected"
    return out


# ------------------------------------------------------------------ scenarios


def scenario_startup(root: Path) -> dict[str, Any]:
    """The CLI's own start-up, apart from any run: `releaf feed list`, importing the
    definitions, and `releaf collect` of a day with no feed less its run's own duration."""
    noop, imports, collect_outside = [], [], []
    now = morning_after(NIGHT)
    for i in range(4):
        home = Home(root / f"startup-{i}")
        noop.append(releaf(home, "feed", "list").wall_seconds)
        imports.append(
            measure([PYTHON, "-c", "import releaf_pipeline.definitions"], home.env()).wall_seconds
        )
        result = releaf(home, "collect", "--start", NIGHT.isoformat(), now=now)
        run = run_info(home, run_id_of(result.stdout))
        if i:  # the first collect also creates the instance's storage
            collect_outside.append(result.wall_seconds - run["run_seconds"])
    return {
        "what": "median of 3 runs on an empty store (the collect after a first one)",
        "releaf_feed_list_seconds": round(statistics.median(noop[1:]), 3),
        "import_definitions_seconds": round(statistics.median(imports[1:]), 3),
        "releaf_collect_outside_run_seconds": round(statistics.median(collect_outside), 3),
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


def scenario_backfill(root: Path, n_feeds: int, *, profile: bool = False) -> dict[str, Any]:
    """D - 89 .. D as one run, on an empty store, feeds activated on D - 89."""
    first = NIGHT - timedelta(days=BACKFILL_DAYS - 1)
    base = root / f"backfill-{n_feeds}"
    with SimulatorProcess(
        base,
        customers=n_feeds,
        today=NIGHT + timedelta(days=1),
        history_start=first - timedelta(days=BASELINE_DAYS + 1),
        history_end=NIGHT + timedelta(days=1),
        latency=LATENCY,
    ) as sim:
        home = Home(base / "home")
        register(home, sim, n_feeds, first)
        fresh = home.copy(base / "fresh") if profile else None
        log(f"backfill {n_feeds} feeds x {BACKFILL_DAYS} days")
        out = collect(home, sim, first, NIGHT, n_feeds, concurrency=None)
        log(f"backfill {n_feeds}: {out['wall_seconds']} s wall, {out['peak_rss_mib']} MiB")
        out["store_mib"] = round(
            sum(p.stat().st_size for p in home.path.glob("releaf.db*")) / MIB, 1
        )
        shutil.rmtree(home.path, ignore_errors=True)
        if fresh is not None:
            log(f"backfill {n_feeds}: phases run (timers around the pipeline's functions)")
            out["phases"] = phases_run(fresh, first, NIGHT)
            shutil.rmtree(fresh.path, ignore_errors=True)
    return out


def scenario_accounting(
    root: Path, n_feeds: int, history_days: int = 31, *, history_only: bool = False
) -> dict[str, Any]:
    """`benchmarks.accounting` in a process of its own (its peak RSS is this size's)."""
    workdir = root / f"accounting-{n_feeds}-{history_days}"
    log(f"accounting {n_feeds} feeds x {DEVICES} devices x {history_days} days")
    cmd = [
        PYTHON,
        "-m",
        "benchmarks.accounting",
        f"--feeds={n_feeds}",
        f"--history-days={history_days}",
        f"--workdir={workdir}",
    ]
    if history_days != 31 or history_only:
        cmd += ["--no-compute-alone", "--no-from-scratch"]
    result = measure(cmd, Home(root / f"accounting-home-{n_feeds}-{history_days}").env())
    out = json.loads(result.stdout)
    out["process_wall_seconds"] = round(result.wall_seconds, 3)
    out["peak_rss_mib"] = round(result.max_rss_mib, 1)
    log(
        f"accounting {n_feeds}: daily_deposits {out['daily_deposits_last_night_seconds']} s, "
        f"monthly_pages {out['monthly_pages_seconds']} s"
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return out


# ------------------------------------------------------------------ growth and targets


def growth(
    sizes: Sequence[int], values: Sequence[float], unit: str, x: str = "feeds"
) -> dict[str, Any]:
    """Least-squares value = fixed + slope * x, and the exponent between the extremes
    (1: linear in x; 2: quadratic)."""
    n = len(sizes)
    mean_x, mean_y = sum(sizes) / n, sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in sizes)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes, values, strict=True)) / sxx
    fixed = mean_y - slope * mean_x
    exponent = (
        math.log(values[-1] / values[0]) / math.log(sizes[-1] / sizes[0])
        if values[0] > 0 and values[-1] > 0 and sizes[-1] != sizes[0]
        else None
    )
    return {
        "x": x,
        "at": list(sizes),
        "values": [round(v, 3) for v in values],
        "unit": unit,
        "fit_fixed": round(fixed, 3),
        f"fit_per_1000_{x}": round(slope * 1000, 3),
        "exponent": round(exponent, 2) if exponent is not None else None,
        "predict": lambda size: fixed + slope * size,
    }


def _public(g: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in g.items() if k != "predict"}


def target(
    name: str, goal: str, measured: float | None, met: bool | None, how: str
) -> dict[str, Any]:
    return {
        "name": name,
        "target": goal,
        "measured": None if measured is None else round(measured, 3),
        "met": met,
        "how": how,
    }


# ------------------------------------------------------------------ machine


def machine() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    os_name = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    from importlib.metadata import version

    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory,
        "os": os_name or platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "dagster": version("dagster"),
        "sqlite": sqlite3.sqlite_version,
        "commit": commit or None,
        "loadavg_at_start": loadavg(),
    }


# ------------------------------------------------------------------ main


SCENARIOS = ("startup", "night", "big", "mature", "backfill", "accounting", "history")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, extrapolated")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run (default: all of {','.join(SCENARIOS)})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    quick = args.quick
    default = default_concurrency()
    night_sizes = [100, 300, 1000]
    serial_sizes = [100] if quick else [100, 1000]
    big_size = 2000 if quick else 10_000
    backfill_sizes = [50, 100, 200] if quick else [100, 250, 500]
    accounting_sizes = [500, 1000, 2000] if quick else [1000, 3000, 10_000]
    history_feeds = [1000] if quick else [1000, 10_000]
    mature_feeds = 500
    mature_days = 365
    history_days = [31, 365]

    began = time.monotonic()
    doc: dict[str, Any] = {
        "benchmark": "releaf-pipeline",
        "mode": "quick" if quick else "full",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "conditions": {
            "simulator": "benchmarks.simserver (the bundled MPS Monitor simulator over HTTPS) "
            "in a process of its own on the same machine, so it shares the CPUs",
            "latency_seconds_per_request": LATENCY,
            "devices_per_feed": f"{DEVICES} +/- 2 (the simulator's seeded variation)",
            "night_measured": NIGHT.isoformat(),
            "night_mode": "steady state: feeds activated on D-1, a setup run collects D-1 "
            "(first sync), then the night D is measured from a copy of that store, so each "
            "feed fetches one day (Device/List + Counter/List)",
            "mature_mode": "the same steady-state night, the feeds activated a year "
            "earlier and the setup run collecting that year (with its 31-day baseline)",
            "store": "SQLite in a fresh temporary DAGSTER_HOME per scenario",
            "default_concurrency": default,
            "wall_seconds": "the `releaf collect` process from start to exit, CLI start-up "
            "included; run_seconds is the Dagster run alone (its start and end in the "
            "instance), collect_seconds the collection inside meter_readings",
            "peak_rss": "the `releaf collect` process's ru_maxrss from wait4",
        },
        "scenarios": {},
    }
    scenarios: dict[str, Any] = doc["scenarios"]
    targets: list[dict[str, Any]] = []

    root = Path(tempfile.mkdtemp(prefix="releaf-bench-"))
    log(f"working in {root} ({doc['mode']} mode)")
    try:
        if "startup" in only:
            start = scenarios["startup"] = scenario_startup(root)
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

        if "night" in only:
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
                "growth_default_wall_seconds": _public(wall_fit),
                "growth_default_run_seconds": _public(run_fit),
                "growth_default_peak_rss_mib": _public(
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
                    "wall_seconds_serial_over_default": round(
                        s["wall_seconds"] / d["wall_seconds"], 2
                    ),
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
            scenarios["night"] = section
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
            ok = wall <= 30 and "problem" not in one["default"]
            targets.append(
                target(
                    "night: 1,000 feeds x 10 devices, 100 ms latency, default concurrency",
                    "<= 30 s",
                    wall,
                    ok,
                    f"wall time of releaf collect, CLI start-up included (run alone: "
                    f"{one['default']['run_seconds']} s)",
                )
            )
            targets.append(
                target(
                    "night: the same one customer after another (concurrency 1)",
                    ">= 200 s (what the serial path needs)",
                    serial_1000,
                    serial_1000 >= 200,
                    serial_how,
                )
            )

        if "big" in only:
            big = scenario_night(root, big_size, [default], default, profile=True)["default"]
            scenarios["big_night"] = big
            rss = big["peak_rss_mib"]
            how = f"peak RSS of releaf collect for one night of {big_size:,} feeds"
            if big_size != 10_000 and "night" in scenarios:
                sizes = [*night_sizes, big_size]
                nights = scenarios["night"]["sizes"]
                values = [nights[str(n)]["default"]["peak_rss_mib"] for n in night_sizes]
                fit = growth(sizes, [*values, rss], "MiB")
                rss = fit["predict"](10_000)
                how = (
                    f"extrapolated (--quick): linear fit of peak RSS over {sizes} feeds, "
                    f"{fit['fit_per_1000_feeds']} MiB per 1,000 feeds"
                )
            ok = rss <= 1024 and "problem" not in big
            targets.append(
                target(
                    "night: 10,000 feeds in one run, peak RSS",
                    "<= 1024 MiB, every feed collected",
                    rss,
                    ok,
                    how,
                )
            )

        if "mature" in only:
            mature = scenario_night(
                root, mature_feeds, [default], default, history_days=mature_days
            )["default"]
            mature["history_days"] = mature_days
            scenarios["mature_night"] = mature
            rss = mature["peak_rss_mib"]
            targets.append(
                target(
                    f"night: peak RSS after {mature_days} days of mirrored history",
                    "<= 1024 MiB (the 10,000-feed target, once the store is not new)",
                    rss,
                    rss <= 1024 and "problem" not in mature,
                    f"peak RSS of releaf collect for one night of {mature_feeds} feeds, each "
                    f"with {mature_days} days (and the 31-day baseline) mirrored; "
                    "daily_deposits takes the feeds in batches, one after the other, so "
                    "more feeds add batches, not memory",
                )
            )

        if "backfill" in only:
            fills = {
                str(n): scenario_backfill(root, n, profile=n == backfill_sizes[-1])
                for n in backfill_sizes
            }
            walls = [fills[str(n)]["wall_seconds"] for n in backfill_sizes]
            fit = growth(backfill_sizes, walls, "s")
            scenarios["backfill"] = {
                "days": BACKFILL_DAYS,
                "mode": "empty store, feeds activated on the first day of the range: one "
                "run fetches each feed's 31-day baseline window and the 90 days",
                "sizes": fills,
                "growth_wall_seconds": _public(fit),
            }
            if "500" in fills:
                measured, how = fills["500"]["wall_seconds"], "measured, CLI start-up included"
                ok = measured <= 120 and "problem" not in fills["500"]
            else:
                measured = fit["predict"](500)
                how = f"extrapolated (--quick): linear fit over {backfill_sizes} feeds"
                ok = measured <= 120
            targets.append(
                target("backfill: 90 days of 500 feeds as one run", "<= 120 s", measured, ok, how)
            )

        if "accounting" in only:
            accs = {str(n): scenario_accounting(root, n) for n in accounting_sizes}
            keys = (
                "compute_deposits_seconds",
                "daily_deposits_last_night_seconds",
                "daily_deposits_from_scratch_seconds",
                "monthly_pages_seconds",
                "accounting_seconds",
                "peak_rss_mib",
            )
            scenarios["accounting"] = {
                "mode": "synthetic readings (10 devices per feed, one a day, 1% missing, "
                "a few meter resets, 2 feeds per account) bulk-inserted into SQLite; "
                "daily_deposits = list_feeds + update_deposits on the month's last night "
                "(30 days already deposited); monthly_pages = month_report + "
                "feed_month_pages",
                "sizes": accs,
                "growth": {
                    k: _public(
                        growth(
                            accounting_sizes,
                            [accs[str(n)][k] for n in accounting_sizes],
                            "MiB" if k.endswith("_mib") else "s",
                        )
                    )
                    for k in keys
                },
            }
            if "10000" in accs:
                a = accs["10000"]
                measured = a["accounting_seconds"]
                how = (
                    f"daily_deposits {a['daily_deposits_last_night_seconds']} s + monthly_pages "
                    f"{a['monthly_pages_seconds']} s; compute_deposits alone "
                    f"{a['compute_deposits_seconds']} s; from scratch (31 days written) "
                    f"{a['accounting_from_scratch_seconds']} s"
                )
            else:
                fit = growth(
                    accounting_sizes,
                    [accs[str(n)]["accounting_seconds"] for n in accounting_sizes],
                    "s",
                )
                measured = fit["predict"](10_000)
                how = f"extrapolated (--quick): linear fit over {accounting_sizes} feeds"
            targets.append(
                target(
                    "accounting: daily_deposits + monthly_pages, 10,000 feeds x 31 days",
                    "<= 10 s",
                    measured,
                    measured <= 10,
                    how,
                )
            )
            if "10000" in accs:
                a = accs["10000"]
                scratch = a["daily_deposits_from_scratch"]
                full = scratch["update_deposits_seconds"]
                targets.append(
                    target(
                        "deposits from scratch: 10,000 feeds x 31 days",
                        "<= 10 s",
                        full,
                        full <= 10,
                        "update_deposits with the month's readings mirrored and no deposit "
                        "stored yet (a backfill of new feeds): every feed recomputed from its "
                        f"baseline, {scratch['days_written']:,} days written; the "
                        "daily_deposits step with its own per-day pages "
                        f"{a['daily_deposits_from_scratch_seconds']} s",
                    )
                )
                c = a["compute_deposits_seconds"]
                targets.append(
                    target(
                        "accounting: compute_deposits alone, 10,000 feeds x 31 days",
                        "<= 10 s",
                        c,
                        c <= 10,
                        "in memory, no store",
                    )
                )
        if "history" in only:
            hist = {
                str(n): {
                    str(d): scenario_accounting(root, n, d, history_only=True) for d in history_days
                }
                for n in history_feeds
            }
            scenarios["history"] = {
                "mode": "daily_deposits for the last night of October (the 31st's readings "
                "just mirrored, every earlier day deposited) with the readings mirrored for "
                f"{' and '.join(str(d) for d in history_days)} days before it; each feed is "
                "recomputed from the day its inputs changed, seeded by each device's latest "
                "earlier reading; the median of 3 nights",
                "feeds": history_feeds,
                "sizes": hist,
            }
            for n in history_feeds:
                month = hist[str(n)]["31"]["daily_deposits_last_night_seconds"]
                year = hist[str(n)]["365"]["daily_deposits_last_night_seconds"]
                ratio = year / month
                targets.append(
                    target(
                        f"history: one night's daily_deposits, {n:,} feeds, 365 days mirrored "
                        "against 31",
                        "<= 1.3 times",
                        ratio,
                        ratio <= 1.3,
                        f"{year} s with 365 days, {month} s with 31",
                    )
                )
            if quick:
                targets.append(
                    target(
                        "history: one night's daily_deposits, 10,000 feeds, 365 days mirrored "
                        "against 31",
                        "<= 1.3 times",
                        None,
                        None,
                        "not run with --quick (a 10 GB store)",
                    )
                )
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    doc["targets"] = targets
    doc["not_met"] = [t["name"] for t in targets if t["met"] is False]
    doc["loadavg_at_end"] = loadavg()
    doc["total_seconds"] = round(time.monotonic() - began, 1)
    text = json.dumps(doc, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    log(f"done in {doc['total_seconds']} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
