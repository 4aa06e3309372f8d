"""End to end over real HTTPS: register with the CLI, collect in overlapping ranges while
the simulator's clock moves, and compare `releaf report --json` with the ground truth."""

from __future__ import annotations

import csv
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from releaf_pipeline_tests.conftest import capture_compute_logs
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = pytest.mark.e2e

UNKNOWN_CODE = "DEADBEEFDEADBEEF"


def _at(monkeypatch, sim, day: date) -> None:
    """Move the simulator and the pipeline to the morning of `day`."""
    sim.set_today(day)
    monkeypatch.setenv("RELEAF_NOW", f"{day.isoformat()}T03:00:00+00:00")


def _feeds(fleet) -> list[tuple[str, str, date, str]]:
    stale, resetting, adding, plain = fleet.customer_codes
    return [
        (stale, "acct-a", date(2026, 9, 1), "all"),  # DCA offline across a month end
        (resetting, "acct-a", date(2026, 9, 1), "all"),  # meter reset, missing days
        (adding, "acct-b", date(2026, 9, 1), "managed"),  # managed only, device added
        (plain, "acct-c", date(2026, 10, 14), "all"),  # activated mid-month
        (UNKNOWN_CODE, "acct-d", date(2026, 9, 1), "all"),  # not on the server
    ]


def _register(releaf, sim, tmp_path: Path, monkeypatch, feeds) -> None:
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    path = tmp_path / "feeds.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["server", "customer_code", "account", "activation_date", "scope"])
        for code, account, activation, scope in feeds:
            w.writerow(["east", code, account, activation.isoformat(), scope])
    r = releaf("feed", "import", str(path))
    assert r.code == 0, r.err


def _collect(releaf, start: str, end: str) -> None:
    r = releaf("collect", "--start", start, "--end", end)
    assert r.code == 0, r.err
    # The unknown customer fails alone, with its reason; the others are collected.
    assert UNKNOWN_CODE in r.err and "customer_not_found" in r.err
    assert "acct-a" in r.out


def _trees(pages: int) -> float:
    return float((Decimal(pages) / Decimal(8333)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_month_matches_ground_truth_day_by_day(home, sim, fleet, releaf, tmp_path, monkeypatch):
    feeds = _feeds(fleet)
    stale_span = fleet.stale_spans[0]
    assert stale_span.start == date(2026, 9, 28) and stale_span.upload_date == date(2026, 10, 9)
    assert any(r.date == date(2026, 11, 16) for r in fleet.resets)
    assert any(a.first_date == date(2026, 10, 20) for a in fleet.added)
    _at(monkeypatch, sim, date(2026, 9, 20))
    _register(releaf, sim, tmp_path, monkeypatch, feeds)

    # Overlapping ranges, out of order, while the DCA is offline and after its upload.
    _collect(releaf, "2026-09-01", "2026-09-19")
    _at(monkeypatch, sim, date(2026, 10, 5))
    _collect(releaf, "2026-09-15", "2026-10-04")
    _at(monkeypatch, sim, date(2026, 11, 20))
    _collect(releaf, "2026-10-01", "2026-11-19")
    _at(monkeypatch, sim, date(2026, 12, 2))
    _collect(releaf, "2026-11-10", "2026-12-01")
    _collect(releaf, "2026-09-25", "2026-10-12")

    expected = expected_account_days(fleet, feeds, date(2026, 12, 1), as_of=date(2026, 12, 2))
    reports = {}
    for month in ("2026-09", "2026-10", "2026-11"):
        r = releaf("report", "--month", month, "--json")
        assert r.code == 0, r.err
        got = r.json()
        want = month_view(expected, month)
        for acct in want["accounts"]:
            acct["trees"] = _trees(acct["pages"])
        assert got == want, month
        reports[month] = got
    assert [a["account"] for a in reports["2026-10"]["accounts"]] == ["acct-a", "acct-b", "acct-c"]
    # acct-c starts mid-month: nothing before its activation.
    days_c = reports["2026-10"]["accounts"][2]["days"]
    assert min(days_c) == "2026-10-14"

    # Re-running any collected range changes nothing.
    _collect(releaf, "2026-09-10", "2026-10-20")
    _collect(releaf, "2026-11-01", "2026-11-05")
    for month, before in reports.items():
        assert releaf("report", "--month", month, "--json").json() == before


def test_no_secret_or_private_field_lands_under_dagster_home(
    home, sim, fleet, releaf, tmp_path, monkeypatch
):
    capture_compute_logs(home)
    feeds = _feeds(fleet)[:3]
    _at(monkeypatch, sim, date(2026, 10, 12))
    _register(releaf, sim, tmp_path, monkeypatch, feeds)
    _collect_ok = releaf("collect", "--start", "2026-09-20", "--end", "2026-10-11")
    assert _collect_ok.code == 0, _collect_ok.err
    private = {sim.token}
    for code in fleet.customer_codes:
        for dev in fleet.devices(code, date(2026, 10, 12)):
            private |= {dev["SerialNumber"], dev["IpAddress"], dev["MacAddress"]}
    assert len(private) > 10
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "releaf.db" for p in files)
    assert any("storage" in p.parts for p in files), "the Dagster instance wrote nothing"
    for path in files:
        data = path.read_bytes()
        for value in private:
            assert value.encode() not in data, f"{value!r} found in {path}"
