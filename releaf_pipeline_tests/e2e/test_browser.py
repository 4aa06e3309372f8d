"""The Dagster UI in a real browser: dagster-webserver over a DAGSTER_HOME with collected days,
opened in headless Chromium (Debian's `chromium`, driven by Playwright's Python API).

Screenshots are kept in `test-artifacts/` at the repository root."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

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
# Two runs: the second one is the latest, and its metadata is what the run page shows.
RANGES = [("2026-09-14", "2026-09-20"), ("2026-09-21", "2026-09-27")]
ASSETS = ["meter_readings", "daily_deposits", "monthly_pages", "reforestation_certificates"]
SERVER_WAIT_SECONDS = 90
UI_TIMEOUT_MS = 30_000


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


def _prepare_home(home: Path, sim, releaf, tmp_path: Path, monkeypatch) -> str:
    """Register the simulator and 4 feeds, collect RANGES; returns the latest run's id."""
    # The repository's instance settings, as `make ui` copies them, without the first-visit
    # newsletter dialog that would cover the page.
    (home / "dagster.yaml").write_text(
        (REPO / "dagster.yaml").read_text() + "\nnux:\n  enabled: false\n"
    )
    monkeypatch.setenv("RELEAF_NOW", NOW)
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    stale, resetting, adding, plain = sim.fleet.customer_codes
    path = tmp_path / "feeds.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["server", "customer_code", "account", "activation_date", "scope"])
        w.writerow(["east", stale, "acct-a", "2026-09-01", "all"])
        w.writerow(["east", resetting, "acct-a", "2026-09-01", "all"])
        w.writerow(["east", adding, "acct-b", "2026-09-01", "managed"])
        w.writerow(["east", plain, "acct-c", "2026-09-21", "all"])
    r = releaf("feed", "import", str(path))
    assert r.code == 0, r.err
    run_id = ""
    for start, end in RANGES:
        r = releaf("collect", "--start", start, "--end", end)
        assert r.code == 0, r.err
        match = re.search(r"collection run ([0-9a-f-]{36})", r.out)
        assert match, r.out
        run_id = match.group(1)
    return run_id


@pytest.fixture
def webserver(home: Path) -> Iterator[str]:
    """dagster-webserver on a free loopback port over `home`; yields its base URL."""
    port = _free_port()
    exe = Path(sys.executable).parent / "dagster-webserver"
    env = {**os.environ, "DAGSTER_HOME": str(home), "RELEAF_NOW": NOW}
    env.pop("RELEAF_DEALER_TOKEN", None)
    log_path = home / "webserver.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [str(exe), "-h", "127.0.0.1", "-p", str(port), "-m", "releaf_pipeline.definitions"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        while True:
            assert proc.poll() is None, "webserver exited:\n" + log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (
                f"webserver not up in {SERVER_WAIT_SECONDS}s:\n" + log_path.read_text()[-3000:]
            )
            time.sleep(0.25)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def test_ui_shows_assets_partitions_and_run_metadata(
    home, sim, releaf, tmp_path, monkeypatch, request
):
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("the playwright module is missing: pip install -e '.[test]'")

    sim.set_today(date.fromisoformat(NOW[:10]))
    run_id = _prepare_home(home, sim, releaf, tmp_path, monkeypatch)
    base = request.getfixturevalue("webserver")
    ARTIFACTS.mkdir(exist_ok=True)
    collected = [d for start, end in RANGES for d in _days(start, end)]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)

            # The asset graph: everything downstream of meter_readings, both groups.
            page.goto(
                f"{base}/assets/meter_readings?view=lineage&lineageScope=downstream&lineageDepth=3"
            )
            graph = page.locator("svg foreignObject")
            for name in [*ASSETS, "collection", "rollup"]:
                expect(graph.get_by_text(name, exact=True).first).to_be_visible()
            # Every node has loaded its status rows (partition counts) before the screenshot.
            expect(graph.get_by_text(re.compile(r"^\d+ partitions$"))).to_have_count(len(ASSETS))
            expect(graph.get_by_text("Loading")).to_have_count(0)
            expect(graph.get_by_text("Asset checks")).to_have_count(len(ASSETS))
            # meter_readings' node counts its one check and links to it: feeds_fresh.
            checks = graph.locator('a[href*="/assets/meter_readings?view=checks"]').first
            expect(checks).to_contain_text("/ 1")
            page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))
            checks.click()
            expect(page.get_by_text("feeds_fresh").first).to_be_visible()
            expect(
                page.get_by_text("Every feed has new data within 3 business days")
            ).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "asset-checks.png"))

            # The partitions view, materialized days only: exactly the collected ones.
            page.goto(f"{base}/assets/meter_readings?view=partitions&status=MATERIALIZED")
            expect(page.get_by_text(f"Materialized ({len(collected)})")).to_be_visible()
            expect(page.get_by_text(f"{len(collected)} Partitions Selected")).to_be_visible()
            for day in collected:
                expect(page.get_by_text(day, exact=True).first).to_be_visible()
            before = (date.fromisoformat(collected[0]) - timedelta(days=1)).isoformat()
            expect(page.get_by_text(before, exact=True)).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "partitions.png"))

            # The runs list opens on the latest run, whose events show their metadata tables.
            page.goto(f"{base}/runs")
            link = page.locator(f'a[href="/runs/{run_id}"]').first
            expect(link).to_have_text(run_id[:8])
            runs = page.locator("a").evaluate_all(
                "links => links.map(a => a.getAttribute('href'))"
                ".filter(h => /^\\/runs\\/[0-9a-f-]{36}$/.test(h || ''))"
            )
            assert len(set(runs)) == len(RANGES) and runs[0] == f"/runs/{run_id}", runs
            link.click()
            page.wait_for_url(f"**/runs/{run_id}")
            expect(page.get_by_text("Success", exact=True).first).to_be_visible()
            expect(page.get_by_text("feeds_fresh on meter_readings").first).to_be_visible()
            expect(page.get_by_text("RUN_SUCCESS").first).to_be_visible()
            latest = f"{RANGES[-1][0]}..{RANGES[-1][1]}"
            expect(page.get_by_role("cell", name=latest, exact=True).first).to_be_visible()
            expect(page.get_by_role("cell", name="pages_per_account").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "run-metadata.png"))
            # The last materialization in the log is daily_deposits' last day: open it, then
            # its pages_per_account table.
            page.get_by_role("button", name="View full message").last.click()
            event = page.get_by_role("dialog").first
            expect(event.get_by_text("pages_per_account")).to_be_visible()
            expect(event.get_by_text(collected[-1], exact=True)).to_be_visible()
            event.get_by_text("[Show Markdown]").click()
            dialogs = page.get_by_role("dialog")
            for account in ("acct-a", "acct-b", "acct-c"):
                expect(dialogs.get_by_role("cell", name=account, exact=True)).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "run-pages-per-account.png"))
        finally:
            browser.close()
