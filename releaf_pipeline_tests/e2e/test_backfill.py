"""`releaf backfill`: one ranged run, calling only the feeds named."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import pytest

from releaf_pipeline_tests.e2e.nights import register_feeds

pytestmark = pytest.mark.e2e


def test_backfill_is_one_run_for_the_named_feeds(home, sim, fleet, releaf, monkeypatch):
    sim.set_today(date(2026, 10, 12))
    monkeypatch.setenv("RELEAF_NOW", "2026-10-12T03:00:00+00:00")
    codes = fleet.customer_codes
    register_feeds(
        releaf,
        sim,
        [(c, f"acct-{i}", date(2026, 9, 1), "all") for i, c in enumerate(codes)],
        monkeypatch,
    )
    assert releaf("collect", "--start", "2026-09-01", "--end", "2026-10-11").code == 0
    before = releaf("report", "--month", "2026-09", "--json").json()

    sim.reset_log()
    r = releaf("backfill", "--start", "2026-09-10", "--end", "2026-09-20", "--feed", codes[1])
    assert r.code == 0, r.err
    assert "backfill run" in r.out
    bodies = [p for _m, p in sim.request_log if p != "/api3/PrintReleaf/Ping"]
    assert bodies and all(p in ("/api3/Device/List", "/api3/Counter/List") for p in bodies)
    assert len(bodies) == 2  # one feed: its device list and one Counter/List window
    assert releaf("report", "--month", "2026-09", "--json").json() == before

    with dg.DagsterInstance.get() as instance:
        runs = [r for r in instance.get_runs() if r.tags.get("releaf/trigger") == "backfill"]
    assert len(runs) == 1
    assert runs[0].tags["dagster/asset_partition_range_start"] == "2026-09-10"
    assert json.dumps(runs[0].run_config).count(codes[1]) == 1

    r = releaf("backfill", "--start", "2026-09-10", "--end", "2026-09-20", "--feed", "NOPE")
    assert r.code != 0 and "no feed NOPE" in r.err and len(r.err.strip().splitlines()) == 1
