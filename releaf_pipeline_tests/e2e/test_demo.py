"""The README's first command, headless, as a user runs it: the installed `releaf`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


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
    rows = re.findall(r"^\| (acct-\w+) \| (\d+) \| (\d+\.\d\d) \|$", proc.stdout, re.M)
    assert {r[0] for r in rows} == {"acct-alpha", "acct-bravo", "acct-charlie"}
    assert all(int(pages) > 0 for _, pages, _ in rows)
    # DAGSTER_HOME defaulted to ./.releaf, and the run is recorded there.
    assert (tmp_path / ".releaf" / "releaf.db").exists()
    assert (tmp_path / ".releaf" / "storage").is_dir()
    # Running it again re-points the simulator and changes no totals.
    again = subprocess.run(
        [_releaf(), "demo", "--no-ui"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert re.findall(r"^\| (acct-\w+) \| (\d+) \| (\d+\.\d\d) \|$", again.stdout, re.M) == rows
