"""The Dagster UI in a real browser: dagster-webserver over a DAGSTER_HOME with two ranged
collection runs, one night with the MPS Monitor server down and the next night after it
came back, opened in headless Chromium (Debian's `chromium`, driven by Playwright's Python
API).

What an operator must see there:

- one day's own numbers on its partition page, not the range's;
- the Plots tab drawing a daily series that varies from day to day;
- the paused night as failing `feeds_collected` and `deposits_complete` checks on that
  day, naming the feeds;
- the `fleet_health` table with the server unhealthy, and its `servers_healthy` check
  failed, naming it;
- the runs `releaf` started listed under the `collection` job;
- after the next night, which catches the paused day up: that same day's partition page
  with the store's pages, its checks passed, and `servers_healthy` passed.
- in the demo's own UI, served with its daemon, a 3-day backfill launched there completes.

One test per claim; the collections and the webserver they look at are set up once for
the module. Screenshots are kept in `test-artifacts/` at the repository root.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from releaf_pipeline.launch import (
    CODE_LOCATION,
    COLLECTION_JOB,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    REPOSITORY,
    night_time,
)
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.conftest import make_home

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.long]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOW = "2026-10-01T03:00:00+00:00"
PARTITIONS_START = "2026-09-01"
# Two ranged runs from the first partition on, so no day before them is missing (the night
# would otherwise also catch those up), then the night after OUTAGE_DAY with the server down.
RANGES = [("2026-09-01", "2026-09-14"), ("2026-09-15", "2026-09-27")]
DAY = "2026-09-16"  # inside the second range: its page must show that day, not the range
OUTAGE_DAY = "2026-09-28"
RECOVERY_DAY = "2026-09-29"  # the night after it, with the server back, catches it up
SERVER = "east"
ASSETS = ["meter_readings", "daily_deposits", "monthly_pages", "reforestation_certificates"]
SERVER_WAIT_SECONDS = 90
UI_TIMEOUT_MS = 30_000
CLI_TIMEOUT_SECONDS = 180
# The GraphQL query by which Dagster 1.13's Plots tab (partitions mode) loads the latest
# materialization of every partition, whose numeric metadata it draws.
PLOTS_QUERY = "AssetPartitionEventsQuery"
# Pixels of the plotted line: Dagster's accent blue (about rgb(79, 67, 221)), in a canvas.
LINE_PIXEL_ROWS = """(canvas) => {
  const {width, height} = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const rows = new Set();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
      if (a > 128 && b > 150 && b - r > 60 && b - g > 60) { rows.add(y); break; }
    }
  }
  return rows.size;
}"""
MIN_LINE_ROWS = 40
"""Rows of a 216 px plot the line crosses: a flat series crosses a handful."""


def _unavailable(what: str) -> None:
    """Fail on CI, where the set-up installs the browser; skip elsewhere, saying what to do."""
    if os.environ.get("CI") == "true":
        pytest.fail(what)
    pytest.skip(what)


def _days(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _number(n: int) -> re.Pattern[str]:
    """A cell showing `n`, with or without thousands separators."""
    return re.compile(rf"^\s*({n}|{n:,})\s*$")


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of every process of the test: the CLI's and the webserver's."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "RELEAF_NOW": NOW}
    env["RELEAF_PARTITIONS_START"] = PARTITIONS_START
    # No store, key or token of the machine's: the home's own.
    for name in ("RELEAF_DATABASE_URL", "RELEAF_SECRET_KEY", "RELEAF_DEALER_TOKEN"):
        env.pop(name, None)
    return {**env, **extra}


def _releaf(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`releaf ARGS...` as its own process, as an operator runs it.

    Not in-process: the partitions are defined when the code location is imported, from
    RELEAF_PARTITIONS_START, and this pytest process may have imported it already with
    another start."""
    exe = Path(sys.executable).parent / "releaf"
    return subprocess.run(
        [str(exe), *args], cwd=REPO, env=_env(home, **extra), capture_output=True, text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )  # fmt: skip


def _register(home: Path, sim, tmp_path: Path) -> list[str]:
    """Register the simulator as server `east` and 4 feeds; returns their customer codes."""
    # The `home` fixture's instance, which runs each run in the command that submits it
    # (no daemon, no process per run: the cheapest), without the first-visit dialog that
    # would cover the page.
    instance_file = home / "dagster.yaml"
    instance_file.write_text(instance_file.read_text() + "\nnux:\n  enabled: false\n")
    r = _releaf(
        home, "server", "add", SERVER, "--url", sim.url, "--ca-bundle", str(sim.ca_bundle),
        RELEAF_DEALER_TOKEN=sim.token,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    stale, resetting, adding, plain = codes = sim.fleet.customer_codes
    path = tmp_path / "feeds.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["server", "customer_code", "account", "activation_date", "scope"])
        w.writerow([SERVER, stale, "acct-a", "2026-09-01", "all"])
        w.writerow([SERVER, resetting, "acct-a", "2026-09-01", "all"])
        w.writerow([SERVER, adding, "acct-b", "2026-09-01", "managed"])
        w.writerow([SERVER, plain, "acct-c", "2026-09-21", "all"])
    r = _releaf(home, "feed", "import", str(path))
    assert r.returncode == 0, r.stderr
    return list(codes)


def _collection_runs(home: Path) -> list:
    """The collection job's runs in the instance at `home`, newest first."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(job_name=COLLECTION_JOB)))


def _days_pages(home: Path) -> dict[str, dict[str, int]]:
    """Pages per day and account in September, from `releaf report --json`."""
    r = _releaf(home, "report", "--month", "2026-09", "--json")
    assert r.returncode == 0, r.stderr
    pages: dict[str, dict[str, int]] = {}
    for account in json.loads(r.stdout)["accounts"]:
        for day, n in account["days"].items():
            pages.setdefault(day, {})[account["account"]] = n
    return pages


@contextlib.contextmanager
def _webserver(home: Path) -> Iterator[Callable[[], str]]:
    """dagster-webserver on a free loopback port over `home`, loading the repository's
    workspace.yaml (the code location `releaf_pipeline`, as the runs of `releaf` name it);
    yields a function that waits until it answers and returns its base URL."""
    port = _free_port()
    exe = Path(sys.executable).parent / "dagster-webserver"
    log_path = home / "webserver.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(exe), "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")],
            cwd=REPO, env=_env(home), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"

        def wait_until_up() -> str:
            deadline = time.monotonic() + SERVER_WAIT_SECONDS
            while True:
                assert proc.poll() is None, "webserver exited:\n" + log_path.read_text()[-3000:]
                try:
                    if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                        return base
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (
                    f"webserver not up in {SERVER_WAIT_SECONDS}s:\n" + log_path.read_text()[-3000:]
                )
                time.sleep(0.25)

        try:
            yield wait_until_up
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@dataclass
class _UI:
    """The UI over a home whose last night had the server down, and what the store says."""

    home: Path
    sim: Simulator
    base: str
    codes: list[str]
    pages: dict[str, dict[str, int]]
    runs: list
    recovered: dict[str, int] | None = None
    """The outage day's pages per account, once the next night has caught it up."""

    def run_covering(self, day: str) -> str:
        """The id of the newest collection run whose partitions include `day`."""
        for run in self.runs:
            first = run.tags.get(RANGE_START_TAG) or run.tags.get(PARTITION_TAG)
            if day in _days(first, run.tags.get(RANGE_END_TAG) or first):
                return run.run_id
        raise AssertionError(f"no collection run covers {day}")


class _Sessions:
    """Starts the expensive set-up (collections, the webserver) once for the module, and
    again only if an outage claim comes after the recovery, as a test scheduler may order."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, stack: ExitStack) -> None:
        self._tmp = tmp_path_factory
        self._stack = stack
        self._current: _UI | None = None

    def outage(self) -> _UI:
        if self._current is None or self._current.recovered is not None:
            self._current = self._start()
        return self._current

    def recovered(self) -> _UI:
        ui = self._current if self._current is not None else self.outage()
        if ui.recovered is None:
            ui.sim.set_now(night_time(date.fromisoformat(RECOVERY_DAY)))
            r = _releaf(ui.home, "nightly", "--date", RECOVERY_DAY)
            assert r.returncode == 0, (r.stdout, r.stderr)
            ui.recovered = _days_pages(ui.home)[OUTAGE_DAY]
            assert sum(ui.recovered.values()) > 0, ui.recovered
        return ui

    def _start(self) -> _UI:
        """Two ranged runs, then a night with the server down, and the UI over them."""
        tmp_path = self._tmp.mktemp("browser")
        home = make_home(tmp_path / "dagster_home")
        sim = self._stack.enter_context(
            Simulator(Fleet(FleetConfig()), today=date(2026, 10, 1), workdir=tmp_path / "sim")
        )
        sim.set_today(date.fromisoformat(NOW[:10]))
        codes = _register(home, sim, tmp_path)
        r = _releaf(home, "collect", "--start", RANGES[0][0], "--end", RANGES[0][1])
        assert r.returncode == 0, r.stderr
        # The instance exists now: the webserver starts while the rest is collected.
        webserver_up = self._stack.enter_context(_webserver(home))
        r = _releaf(home, "collect", "--start", RANGES[1][0], "--end", RANGES[1][1])
        assert r.returncode == 0, r.stderr
        sim.set_now(night_time(date.fromisoformat(OUTAGE_DAY)))
        sim.set_outage(True)
        r = _releaf(home, "nightly", "--date", OUTAGE_DAY)
        # The night leaves every feed paused: it may say so with exit status 1, never crash.
        assert r.returncode in (0, 1), (r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
        sim.set_outage(False)
        pages = _days_pages(home)
        runs = _collection_runs(home)
        return _UI(home, sim, webserver_up(), codes, pages, runs)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Sessions]:
    with ExitStack() as stack:
        yield _Sessions(tmp_path_factory, stack)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, Debian's, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright module is missing: pip install -e '.[test]'")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def outage(sessions: _Sessions, browser: Browser) -> _UI:
    """The UI after the night with the server down (the browser first: without it, skip)."""
    return sessions.outage()


@pytest.fixture
def recovery(sessions: _Sessions, browser: Browser) -> _UI:
    """The UI after the next night, with the server back, caught the outage day up."""
    return sessions.recovered()


# --- After the night with the server down. ----------------------------------------------


def test_releaf_runs_are_recorded_under_the_workspaces_code_location(outage: _UI) -> None:
    assert len(outage.runs) == len(RANGES) + 1, [r.tags for r in outage.runs]
    for run in outage.runs:
        origin = run.remote_job_origin
        assert origin is not None, run.run_id
        repository = origin.repository_origin
        assert repository.code_location_origin.location_name == CODE_LOCATION, run.run_id
        assert repository.repository_name == REPOSITORY, run.run_id


def test_asset_graph_shows_every_asset_in_its_group_with_partitions(
    outage: _UI, page: Page
) -> None:
    from playwright.sync_api import expect

    page.goto(
        f"{outage.base}/assets/meter_readings?view=lineage&lineageScope=downstream&lineageDepth=3"
    )
    graph = page.locator("svg foreignObject")
    for name in [*ASSETS, "collection", "rollup"]:
        expect(graph.get_by_text(name, exact=True).first).to_be_visible()
    expect(graph.get_by_text(re.compile(r"^\d+ partitions$"))).to_have_count(len(ASSETS))
    expect(graph.get_by_text("Loading")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))


def test_a_days_partition_page_shows_that_days_numbers_not_the_ranges(
    outage: _UI, page: Page
) -> None:
    from playwright.sync_api import expect

    pages = outage.pages
    day_pages = sum(pages[DAY].values())
    range_days = next(_days(*rng) for rng in RANGES if DAY in _days(*rng))
    range_pages = sum(sum(pages.get(d, {}).values()) for d in range_days)
    assert 0 < day_pages < range_pages, (day_pages, range_pages)

    page.goto(f"{outage.base}/assets/daily_deposits?view=partitions&partition={DAY}")
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    # Its materialization is the one of the run that covered it.
    run_link = page.locator(f'a[href^="/runs/{outage.run_covering(DAY)}"]').first
    expect(run_link).to_be_visible()
    expect(_metadata_value(page, "pages")).to_have_text(_number(day_pages))
    for account, n in pages[DAY].items():
        expect(_metadata_value(page, f"pages: {account}")).to_have_text(_number(n))
    expect(page.get_by_text(_number(range_pages))).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "partition-day.png"))


def test_plots_draw_each_days_own_pages(outage: _UI, page: Page) -> None:
    from playwright.sync_api import expect

    pages = outage.pages
    page.goto(f"{outage.base}/assets/daily_deposits?view=overview")
    plots = page.get_by_role("button", name=re.compile(r"\bPlots$"))
    with page.expect_response(
        lambda resp: (
            "/graphql" in resp.url
            and (resp.request.post_data_json or {}).get("operationName") == PLOTS_QUERY
        )
    ) as response:
        plots.click()
    plotted = _plotted(response.value.json())
    collected = [d for start, end in RANGES for d in _days(start, end)]
    for day in collected:
        assert plotted.get(day, {}).get("pages") == sum(pages[day].values()), day
        assert plotted[day].get("pages: acct-a") == pages[day]["acct-a"], day
    series = [plotted[d]["pages"] for d in collected]
    assert len(set(series)) >= len(collected) // 2, series
    for key in ("pages", "pages: acct-a"):
        canvas = page.locator(
            f"xpath=//span[normalize-space()='{key}']/ancestor::div[.//canvas][1]//canvas"
        )
        expect(canvas).to_be_visible()
        page.wait_for_function(
            f"c => ({LINE_PIXEL_ROWS})(c) >= {MIN_LINE_ROWS}", arg=canvas.element_handle()
        )
    # The pages plots at the top of the screenshot, under their titles.
    page.locator("xpath=//span[normalize-space()='pages']").first.evaluate(
        "e => e.scrollIntoView({block: 'start'})"
    )
    page.screenshot(path=str(ARTIFACTS / "plots.png"))


@pytest.mark.parametrize(
    ("asset", "check", "shot"),
    [
        ("meter_readings", "feeds_collected", "check-failed.png"),
        # The day's pages are not all there: never a passing zero.
        ("daily_deposits", "deposits_complete", "deposits-complete-failed.png"),
    ],
)
def test_the_paused_night_fails_the_days_check_naming_every_feed(
    outage: _UI, page: Page, asset: str, check: str, shot: str
) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 2000, "height": 1500})
    _open_check_on_day(page, outage.base, asset, check, OUTAGE_DAY)
    expect(_check_result(page, OUTAGE_DAY, "Failed")).to_be_visible()
    expect(page.get_by_text("Latest execution")).to_be_visible()
    for code in outage.codes:  # every feed was active on the day, and paused
        row = page.locator(f"xpath=//tr[td[normalize-space()='{code}']]")
        expect(row).to_have_count(1)
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(SERVER)
        expect(cells.nth(3)).to_have_text("paused")
        expect(cells.nth(5)).to_contain_text(re.compile(rf"\b{SERVER}\b.*health check"))
    page.screenshot(path=str(ARTIFACTS / shot))


def test_the_checks_partition_status_counts_the_paused_day_failed(outage: _UI, page: Page) -> None:
    _expect_check_status_count(page, outage.base, "feeds_collected", OUTAGE_DAY, "Failed")


def test_fleet_health_shows_the_server_unhealthy_and_its_feeds_paused(
    outage: _UI, page: Page
) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 2000, "height": 1500})
    # Its Events tab opens on the latest evaluation, the table at full width.
    page.goto(f"{outage.base}/assets/fleet_health?view=events")
    server_row = page.locator(
        f"xpath=//tr[td[normalize-space()='{SERVER}'] and td[normalize-space()='unhealthy']]"
    )
    expect(server_row).to_have_count(1)
    for code in outage.codes:
        feed_row = page.locator(
            f"xpath=//tr[td[normalize-space()='{code}'] and td[normalize-space()='paused']]"
        )
        expect(feed_row).to_have_count(1)
        expect(feed_row).to_contain_text(re.compile(rf"\b{SERVER}\b.*health check"))
    page.screenshot(path=str(ARTIFACTS / "fleet-health.png"))


def test_servers_healthy_fails_naming_the_server(outage: _UI, page: Page) -> None:
    page.set_viewport_size({"width": 2000, "height": 1500})
    _expect_servers_healthy(page, outage.base, passed=False)
    page.screenshot(path=str(ARTIFACTS / "servers-healthy-failed.png"))


def test_the_runs_releaf_started_are_listed_under_the_collection_job(
    outage: _UI, page: Page
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{outage.base}/locations/{CODE_LOCATION}/jobs/{COLLECTION_JOB}/runs")
    for run in outage.runs:
        # Its row's ID column: a link to the run showing its short id.
        link = page.locator(f'a[href="/runs/{run.run_id}"]', has_text=run.run_id[:8])
        expect(link).to_be_visible()
    listed = page.locator("a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
        ".filter(h => /^\\/runs\\/[0-9a-f-]{36}$/.test(h || ''))"
    )
    assert {h.rsplit("/", 1)[1] for h in listed} == {r.run_id for r in outage.runs}
    page.screenshot(path=str(ARTIFACTS / "job-runs.png"))


# --- After the next night, with the server back, caught the paused day up. ----------------


def test_after_recovery_the_days_partition_page_shows_the_stores_pages(
    recovery: _UI, page: Page
) -> None:
    from playwright.sync_api import expect

    recovered = recovery.recovered
    assert recovered is not None
    page.goto(f"{recovery.base}/assets/daily_deposits?view=partitions&partition={OUTAGE_DAY}")
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    expect(_metadata_value(page, "pages")).to_have_text(_number(sum(recovered.values())))
    for account, n in recovered.items():
        expect(_metadata_value(page, f"pages: {account}")).to_have_text(_number(n))
    page.screenshot(path=str(ARTIFACTS / "partition-day-recovered.png"))


@pytest.mark.parametrize(
    ("asset", "check", "shot"),
    [
        ("meter_readings", "feeds_collected", "check-passed-recovered.png"),
        ("daily_deposits", "deposits_complete", "deposits-complete-recovered.png"),
    ],
)
def test_after_recovery_the_days_check_passes(
    recovery: _UI, page: Page, asset: str, check: str, shot: str
) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 2000, "height": 1500})
    _open_check_on_day(page, recovery.base, asset, check, OUTAGE_DAY)
    expect(_check_result(page, OUTAGE_DAY, "Passed")).to_be_visible()
    expect(page.get_by_text(f"every feed collected on {OUTAGE_DAY}")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / shot))


def test_after_recovery_servers_healthy_passes(recovery: _UI, page: Page) -> None:
    _expect_servers_healthy(page, recovery.base, passed=True)
    page.screenshot(path=str(ARTIFACTS / "servers-healthy-recovered.png"))


def test_after_recovery_the_checks_partition_status_counts_the_day_passed(
    recovery: _UI, page: Page
) -> None:
    _expect_check_status_count(page, recovery.base, "feeds_collected", OUTAGE_DAY, "Passed")


def _open_check_on_day(page, base: str, asset: str, check: str, day: str) -> None:
    """The partitioned check's Partitions tab, filtered to `day` and opened on it."""
    page.goto(f"{base}/assets/{asset}?view=checks&checkDetail={check}")
    page.locator("button[role=tab]", has_text="Partitions").click()
    page.get_by_placeholder(re.compile("^Filter by partition")).fill(day)
    page.get_by_text(day, exact=True).filter(visible=True).first.click()


def _check_result(page, day: str, status: str):
    """The header of the opened partition's latest result, showing `status`."""
    return (
        page.locator("div")
        .filter(has=page.locator(f'[title="{day}"]'))
        .filter(has=page.get_by_text(status, exact=True))
        .last
    )


def _expect_check_status_count(page, base: str, check: str, day: str, status: str) -> None:
    """meter_readings' `check`, filtered to `day`: its partition status counts it as `status`."""
    from playwright.sync_api import expect

    page.goto(f"{base}/assets/meter_readings?view=checks&checkDetail={check}")
    page.locator("button[role=tab]", has_text="Partitions").click()
    page.get_by_placeholder(re.compile("^Filter by partition")).fill(day)
    expect(page.get_by_text("1 Partitions Selected")).to_be_visible()
    expect(
        page.get_by_text(f"{status} ({1})", exact=True),
        f"{check}'s result on {day} is {status}, but the check's partition status does "
        f"not count the day as {status}",
    ).to_be_visible()


def _expect_servers_healthy(page, base: str, *, passed: bool) -> None:
    """fleet_health's servers_healthy check: its latest result passed or failed, saying
    so (naming the server when it failed)."""
    from playwright.sync_api import expect

    page.goto(f"{base}/assets/fleet_health?view=checks&checkDetail=servers_healthy")
    expect(page.get_by_text("Latest execution")).to_be_visible()
    status = "Passed" if passed else "Failed"
    expect(page.get_by_text(status, exact=True).first).to_be_visible()
    said = r"^every server healthy" if passed else rf"^1 server\(s\) unhealthy: {SERVER} \("
    expect(page.get_by_text(re.compile(said)).first).to_be_visible()


def _metadata_value(page, key: str):
    """The value cell of metadata entry `key` in the partition's metadata table."""
    return page.locator(f"xpath=//tr/td[1][normalize-space()='{key}']/following-sibling::td[1]")


def _plotted(response: dict) -> dict[str, dict[str, int]]:
    """Numeric metadata per partition in the Plots tab's query answer."""
    events = response["data"]["assetNodeOrError"]["latestMaterializationByPartition"]
    return {
        e["partition"]: {m["label"]: m["intValue"] for m in e["metadataEntries"] if "intValue" in m}
        for e in events
        if e
    }


# --- The demo's UI runs with the daemon: a backfill launched there completes. -------------

DEMO_UP_SECONDS = 300
BACKFILL_SECONDS = 240
BACKFILL_DAYS = 3


def test_a_backfill_launched_in_the_demo_ui_completes(tmp_path: Path, page: Page) -> None:
    """`make demo` as a newcomer runs it (the repository's instance file copied into the
    home, `releaf demo --port`), then a 3-day backfill of the collection job launched from
    its UI: the demo's daemon runs it to the end."""
    from playwright.sync_api import expect

    with _demo(tmp_path) as (base, collected, home):
        last = date.fromisoformat(collected[1])
        days = [(last - timedelta(days=n)).isoformat() for n in reversed(range(BACKFILL_DAYS))]
        page.goto(f"{base}/locations/{CODE_LOCATION}/jobs/{COLLECTION_JOB}")
        # No first-visit dialog covers the page: the click would miss otherwise.
        page.get_by_role("button", name="Materialize all…").click()
        selection = page.get_by_placeholder("No matching partitions")
        selection.fill(f"[{days[0]}...{days[-1]}]")
        selection.press("Enter")
        expect(page.get_by_text(f"{BACKFILL_DAYS} partitions", exact=True)).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "demo-backfill-launch.png"))
        page.get_by_role("button", name="Launch backfill").click()
        created = page.get_by_text(re.compile(r"^Created backfill \w+$"))
        expect(created).to_be_visible()
        backfill_id = created.inner_text().rsplit(" ", 1)[1]

        status, runs = _wait_for_backfill(home, backfill_id)
        page.goto(f"{base}/runs/b/{backfill_id}")
        expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "demo-backfill-succeeded.png"))
    assert status == "COMPLETED_SUCCESS", (status, runs)
    # One run for the range, under the collection job, that succeeded.
    assert [
        (r.job_name, r.tags.get(RANGE_START_TAG), r.tags.get(RANGE_END_TAG), r.status.value)
        for r in runs
    ] == [(COLLECTION_JOB, days[0], days[-1], "SUCCESS")]


@contextlib.contextmanager
def _demo(tmp_path: Path) -> Iterator[tuple[str, tuple[str, str], Path]]:
    """`releaf demo` on a free port, as `make demo` starts it; yields the UI's base URL once
    it answers, the days the demo collected and its home. Stopped with SIGTERM, as a
    terminal closing stops it, which stops its daemon and webserver."""
    home = tmp_path / ".releaf"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEAF_", "DAGSTER_"))}
    log_path = tmp_path / "demo.log"
    exe = Path(sys.executable).parent / "releaf"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(exe), "demo", "--port", str(port)], cwd=tmp_path,
            env={**env, "DAGSTER_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEMO_UP_SECONDS
        while True:
            assert proc.poll() is None, "the demo exited:\n" + log_path.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, (
                f"the demo's UI not up in {DEMO_UP_SECONDS}s:\n" + log_path.read_text()[-3000:]
            )
            time.sleep(0.5)
        collected = re.search(r"^collecting (\S+) to (\S+) \.\.\.$", log_path.read_text(), re.M)
        assert collected, log_path.read_text()[-3000:]
        yield base, (collected[1], collected[2]), home
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise
        finally:
            # Whatever the demo left in its own process group goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    # The demo took its webserver down with it.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/server_info", timeout=2)


def _wait_for_backfill(home: Path, backfill_id: str) -> tuple[str, list]:
    """The backfill's final status and its runs, once the daemon has finished it."""
    import dagster as dg

    deadline = time.monotonic() + BACKFILL_SECONDS
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while True:
            backfill = instance.get_backfill(backfill_id)
            assert backfill is not None, backfill_id
            if backfill.status.value not in ("REQUESTED", "CANCELING"):
                break
            assert time.monotonic() < deadline, (
                f"backfill {backfill_id} still {backfill.status.value} after "
                f"{BACKFILL_SECONDS}s: is the demo's daemon running?"
            )
            time.sleep(2)
        runs = list(instance.get_runs(filters=dg.RunsFilter.for_backfill(backfill_id)))
    return backfill.status.value, runs
