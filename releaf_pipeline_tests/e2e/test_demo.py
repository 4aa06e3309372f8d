"""The README's first command, headless, as a user runs it: the installed `releaf`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.long]

# A row of the aligned "pages per account" table: account, pages, trees.
PAGES_ROW = r"^(acct-\w+) +([\d,]+) +(\d[\d,]*\.\d\d)$"


def _releaf() -> str:
    exe = Path(sys.executable).parent / "releaf"
    return str(exe) if exe.exists() else shutil.which("releaf") or "releaf"


def test_demo_headless_prints_pages_per_account(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEAF_", "DAGSTER_"))}
    proc = subprocess.run(
        [_releaf(), "demo", "--no-ui"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pages per account" in proc.stdout
    rows = re.findall(PAGES_ROW, proc.stdout, re.M)
    assert {r[0] for r in rows} == {"acct-alpha", "acct-bravo", "acct-charlie"}
    assert all(int(pages.replace(",", "")) > 0 for _, pages, _ in rows)
    # DAGSTER_HOME defaulted to ./.releaf, and the run is recorded there.
    assert (tmp_path / ".releaf" / "releaf.db").exists()
    assert (tmp_path / ".releaf" / "storage").is_dir()
    # Running it again re-points the simulator and changes no totals.
    again = subprocess.run(
        [_releaf(), "demo", "--no-ui"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert re.findall(PAGES_ROW, again.stdout, re.M) == rows
    _assert_certificates(tmp_path, env, proc.stdout)
    _assert_every_asset_materialized(tmp_path / ".releaf")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is missing: apt-get install poppler-utils"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _assert_certificates(cwd: Path, env: dict[str, str], stdout: str) -> None:
    """The demo ends with the last full month's certificates, which `certificates list`
    lists, each PDF with its fonts embedded and the account's display name."""
    printed = stdout.split("Certificates of Reforestation for ", 1)[1]
    ids = re.findall(r"^(RC-\d{6}-[0-9A-F]{10}) ", printed, re.M)
    paths = re.findall(r"(/\S+\.pdf)$", printed, re.M)
    assert len(ids) == 3 and len(paths) == 3, printed
    listed = subprocess.run(
        [_releaf(), "certificates", "list", "--json"], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    assert sorted(c["id"] for c in json.loads(listed.stdout)) == sorted(ids)
    for path in paths:
        fonts = subprocess.run([_tool("pdffonts"), path], capture_output=True, text=True,
                               check=True).stdout.splitlines()[2:]  # fmt: skip
        assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts
        text = subprocess.run([_tool("pdftotext"), path, "-"], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip
        assert any(name in text for name in ("Alpha Logistics Ltd.", "Bravo Dental Group",
                                             "Charlie & Sons Printing")), text  # fmt: skip


def _assert_every_asset_materialized(home: Path) -> None:
    """What the UI shows after the demo, in a process given the home alone (as `dg dev`
    is): all four assets materialized, partitions starting on the demo's first month, a
    check that failed on some day for a newcomer to look at, and the daemon's heartbeats."""
    script = (
        "import dagster as dg, json\n"
        "from releaf_pipeline.definitions import defs\n"
        "i = dg.DagsterInstance.get()\n"
        "keys = ['meter_readings', 'daily_deposits', 'monthly_pages',"
        " 'reforestation_certificates']\n"
        "out = {k: sorted(i.get_materialized_partitions(dg.AssetKey(k))) for k in keys}\n"
        "out['first'] = defs.resolve_assets_def('daily_deposits')"
        ".partitions_def.get_first_partition_key()\n"
        "runs = i.get_runs(filters=dg.RunsFilter(job_name='collection'))\n"
        "evals = [e.dagster_event.event_specific_data for r in runs for e in"
        " i.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]\n"
        "out['failed'] = sorted({(e.check_name, e.partition) for e in evals if not e.passed})\n"
        "out['daemons'] = sorted(i.get_daemon_heartbeats())\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEAF_", "DAGSTER_"))}
    out = subprocess.run([sys.executable, "-c", script], env={**env, "DAGSTER_HOME": str(home)},
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    done = json.loads(out.stdout)
    first, failed, daemons = done.pop("first"), done.pop("failed"), done.pop("daemons")
    assert all(done.values()), done
    assert first == done["meter_readings"][0], (first, done["meter_readings"][:3])
    # The site offline for a week: its feed is stale on the last days.
    assert ["feeds_fresh", done["meter_readings"][-1]] in failed, failed
    # The instance `releaf` writes launches runs at once: no run queue for a daemon to drain.
    assert {"SCHEDULER", "SENSOR", "MONITORING"} <= set(daemons), daemons
    assert (
        len(done["monthly_pages"]) == 1
        and done["monthly_pages"] == done["reforestation_certificates"]
    )
    assert done["meter_readings"][0].endswith("-01"), "collected from the first of the month"
