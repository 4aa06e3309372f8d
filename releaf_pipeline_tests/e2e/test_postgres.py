"""End to end on PostgreSQL: the store on Postgres, then the Dagster instance on Postgres too.

The flow is the one of test_collect_month.py (register with the CLI, collect overlapping
ranges while the simulator's clock moves, compare `releaf report --json` with the ground
truth); only where the data lives changes.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from releaf_pipeline_tests.e2e.test_collect_month import (
    _at,
    _collect,
    _feeds,
    _register,
    _trees,
)
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.long]


def _expected_report(fleet, feeds, month: str, through: date, as_of: date) -> dict:
    want = month_view(expected_account_days(fleet, feeds, through, as_of=as_of), month)
    for acct in want["accounts"]:
        acct["trees"] = _trees(acct["pages"])
    return want


def _report(releaf, month: str) -> dict:
    r = releaf("report", "--month", month, "--json")
    assert r.code == 0, r.err
    return r.json()


def test_month_on_a_postgres_store_matches_ground_truth(
    home, sim, fleet, releaf, tmp_path, monkeypatch, pg_url
):
    monkeypatch.setenv("RELEAF_DATABASE_URL", pg_url)
    feeds = _feeds(fleet)
    _at(monkeypatch, sim, date(2026, 9, 20))
    _register(releaf, sim, tmp_path, monkeypatch, feeds)

    # Overlapping ranges while the DCA is offline across the month end and after its
    # late upload (2026-10-09), so rows are updated in place, not only inserted.
    _collect(releaf, "2026-09-01", "2026-09-19")
    _at(monkeypatch, sim, date(2026, 10, 5))
    _collect(releaf, "2026-09-15", "2026-10-04")
    _at(monkeypatch, sim, date(2026, 11, 2))
    _collect(releaf, "2026-09-25", "2026-11-01")

    reports = {}
    for month in ("2026-09", "2026-10"):
        reports[month] = _report(releaf, month)
        want = _expected_report(fleet, feeds, month, date(2026, 11, 1), date(2026, 11, 2))
        assert reports[month] == want, month
    assert [a["account"] for a in reports["2026-10"]["accounts"]] == ["acct-a", "acct-b", "acct-c"]
    assert min(reports["2026-10"]["accounts"][2]["days"]) == "2026-10-14"
    # The store is Postgres: nothing was written to a SQLite file under DAGSTER_HOME.
    assert not (home / "releaf.db").exists()

    _collect(releaf, "2026-09-10", "2026-10-20")
    for month, before in reports.items():
        assert _report(releaf, month) == before, month


def test_dagster_instance_on_postgres_records_the_run_and_partitions(
    home, sim, fleet, releaf, tmp_path, monkeypatch, postgres_server, pg_url
):
    instance_db = postgres_server.new_database("dagster_instance")
    (home / "dagster.yaml").write_text(postgres_server.instance_yaml(instance_db))
    monkeypatch.setenv("RELEAF_DATABASE_URL", pg_url)
    feeds = _feeds(fleet)[:3]
    _at(monkeypatch, sim, date(2026, 9, 20))
    _register(releaf, sim, tmp_path, monkeypatch, feeds)
    r = releaf("collect", "--start", "2026-09-01", "--end", "2026-09-19")
    assert r.code == 0, r.err

    with dg.DagsterInstance.get() as instance:
        for storage in (instance.run_storage, instance.event_log_storage):
            assert "Postgres" in type(storage).__name__, type(storage)
        runs = instance.get_runs()
        assert len(runs) == 1
        run = runs[0]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/asset_partition_range_start"] == "2026-09-01"
        assert run.tags["dagster/asset_partition_range_end"] == "2026-09-19"
        want_days = {f"2026-09-{d:02d}" for d in range(1, 20)}
        for asset in ("meter_readings", "daily_deposits"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == want_days, asset
    # Runs, events and the store are all in Postgres: no SQLite file under DAGSTER_HOME
    # (compute logs stay files there, as on any instance without a log manager set).
    assert not [p for p in home.rglob("*.db") if p.is_file()]

    want = _expected_report(fleet, feeds, "2026-09", date(2026, 9, 19), date(2026, 9, 20))
    assert _report(releaf, "2026-09") == want
