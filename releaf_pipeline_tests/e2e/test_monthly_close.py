"""Nights through two month ends: certificates issue themselves when a month closes, a
month with an unhealthy feed waits for the grace period, late pages carry forward."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from releaf_pipeline.lib.trees import format_trees, trees
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days

pytestmark = [pytest.mark.e2e, pytest.mark.long]

FIRST_NIGHT = date(2026, 9, 25)
LAST_NIGHT = date(2026, 10, 31)


def _month_total(account_days: dict, account: str, month: str) -> int:
    return sum(p for d, p in account_days.get(account, {}).items() if d.strftime("%Y-%m") == month)


def _pdf_digests(certs: list[dict]) -> dict[str, str]:
    return {c["id"]: hashlib.sha256(Path(c["pdf"]).read_bytes()).hexdigest() for c in certs}


def test_certificates_close_months_and_carry_late_pages(
    home, sim, fleet, releaf, monkeypatch, tmp_path
):
    monkeypatch.setenv("RELEAF_CERTIFICATE_GRACE_DAYS", "3")
    monkeypatch.setenv("RELEAF_CERTIFICATES_DIR", str(tmp_path / "certs"))
    stale, resetting, adding, plain = fleet.customer_codes
    feeds = [
        (stale, "acct-a", date(2026, 9, 1), "all"),
        (resetting, "acct-a", date(2026, 9, 1), "all"),
        (adding, "acct-b", date(2026, 9, 1), "managed"),
        (plain, "acct-c", date(2026, 9, 10), "all"),
    ]
    sim.set_today(FIRST_NIGHT)
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST_NIGHT, LAST_NIGHT)

    certs = releaf("certificates", "list", "--json").json()
    by_key = {(c["account"], c["month"]): c for c in certs}
    assert sorted(by_key) == [
        (a, m) for a in ("acct-a", "acct-b", "acct-c") for m in ("2026-09", "2026-10")
    ]
    sept_a, oct_a = by_key["acct-a", "2026-09"], by_key["acct-a", "2026-10"]

    # September closed on Oct 1 for the accounts whose feeds were complete and fresh; the
    # account with a stale DCA waited for the grace period and was certified with what
    # was known then (its offline days had no readings yet).
    for acct in ("acct-b", "acct-c"):
        assert by_key[acct, "2026-09"]["issued_on"] == "2026-10-01"
        assert by_key[acct, "2026-09"]["closed_by"] == "complete"
    assert (sept_a["issued_on"], sept_a["closed_by"]) == ("2026-10-03", "grace")
    known_then = expected_account_days(fleet, feeds, date(2026, 9, 30), as_of=date(2026, 10, 3))
    assert sept_a["pages"] == _month_total(known_then, "acct-a", "2026-09")
    assert sept_a["adjustment_pages"] == 0

    # In the end every page is where the ground truth puts it, and the late pages of
    # September reached acct-a's October certificate as an adjustment.
    final = expected_account_days(fleet, feeds, LAST_NIGHT, as_of=LAST_NIGHT + timedelta(days=1))
    late = _month_total(final, "acct-a", "2026-09") - sept_a["pages"]
    assert late > 0
    assert oct_a["pages"] == _month_total(final, "acct-a", "2026-10")
    assert oct_a["adjustment_pages"] == late
    assert oct_a["closed_by"] == "complete" and oct_a["issued_on"] == "2026-11-01"
    for acct in ("acct-b", "acct-c"):
        for month in ("2026-09", "2026-10"):
            c = by_key[acct, month]
            assert c["pages"] == _month_total(final, acct, month)
            assert c["adjustment_pages"] == 0
            assert c["trees"] == float(format_trees(trees(c["pages"])))
    # The certificates together credit exactly what was deposited.
    for acct in ("acct-a", "acct-b", "acct-c"):
        credited = sum(c["pages"] + c["adjustment_pages"] for c in certs if c["account"] == acct)
        deposited = sum(
            a["pages"]
            for m in ("2026-09", "2026-10")
            for a in releaf("report", "--month", m, "--json").json()["accounts"]
            if a["account"] == acct
        )
        assert (
            credited
            == deposited
            == _month_total(final, acct, "2026-09") + _month_total(final, acct, "2026-10")
        )
    report = releaf("report", "--month", "2026-10", "--json").json()
    assert {a["account"]: a["certificate"] for a in report["accounts"]} == {
        a: by_key[a, "2026-10"]["id"] for a in ("acct-a", "acct-b", "acct-c")
    }
    shown = releaf("certificates", "show", oct_a["id"])
    assert shown.code == 0 and oct_a["id"] in shown.out and "acct-a" in shown.out

    # Re-running everything changes nothing: same ids, byte-identical PDFs.
    digests = _pdf_digests(certs)
    monkeypatch.setenv("RELEAF_NOW", "2026-11-02T03:00:00+00:00")
    assert releaf("collect", "--start", "2026-09-01", "--end", "2026-10-31").code == 0
    from releaf_pipeline.definitions import defs

    with dg.DagsterInstance.get() as instance:
        for month in ("2026-09-01", "2026-10-01"):
            result = defs.resolve_job_def("monthly_close").execute_in_process(
                instance=instance, partition_key=month
            )
            assert result.success
            _assert_month_shows_its_certificates(result, month[:7], certs)
    again = releaf("certificates", "list", "--json").json()
    assert again == certs
    assert _pdf_digests(again) == digests


def _assert_month_shows_its_certificates(result, month: str, certs: list[dict]) -> None:
    """A month closed again issues nothing, and its materialization still shows the month's
    certificates, each PDF as a path; the credit check's table says a page is carried into
    the next certificate only on an account with a difference."""
    (mat,) = result.asset_materializations_for_node("reforestation_certificates")
    meta = mat.metadata
    mine = {c["id"]: c for c in certs if c["month"] == month}
    assert meta["issued_now"].value == 0
    assert meta["accounts_certified"].value == len(mine) == 3
    rows = {r.data["certificate"]: r.data for r in meta["certificates"].records}
    assert sorted(rows) == sorted(mine)
    for cert_id, row in rows.items():
        assert (row["account"], row["pages"], row["pdf"], row["issued now"]) == (
            mine[cert_id]["account"], mine[cert_id]["pages"], mine[cert_id]["pdf"], False
        )  # fmt: skip
        pdf = meta[f"pdf: {row['account']}"]
        assert isinstance(pdf, dg.PathMetadataValue) and pdf.path == row["pdf"]
        assert Path(pdf.path).is_file()
    (check,) = result.get_asset_check_evaluations()
    credit = check.metadata["credit"].records
    assert {r.data["account"] for r in credit} == {c["account"] for c in mine.values()}
    for r in credit:
        carried = r.data["status"] == "carried into the next certificate"
        assert carried == (r.data["difference"] != 0), r.data
    # September's late pages of acct-a went into its October certificate; the rest match.
    late = {r.data["account"] for r in credit if r.data["difference"]}
    assert late == ({"acct-a"} if month == "2026-09" else set()), late
