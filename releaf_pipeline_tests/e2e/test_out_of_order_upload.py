"""A reading uploaded out of order, dated before the device's newest reading and behind
the night's re-read window, with `releaf nightly` over HTTPS night after night ("Month
close" in the contract): before the close, the month's re-read lands it on its own date
and the certificate is exact; after the close, the weekly re-read of the whole look-back
brings it in and the next certificate carries it as an adjustment. Every day's deposits
and every certificate are compared with the ground truth computed from every reading the
simulator serves."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from releaf_pipeline.lib.rules import FULL_REREAD_WEEKDAY
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import CustomerOutage, FleetConfig, OutOfOrderUpload
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days

pytestmark = [pytest.mark.e2e, pytest.mark.long]

SEP_30 = date(2026, 9, 30)
ACTIVATION = date(2026, 9, 21)


def fleet_with(**late) -> Fleet:
    return Fleet(
        FleetConfig(
            customers=2,
            devices_per_customer=5,
            scenarios=False,
            history_start=date(2026, 8, 1),
            history_end=date(2026, 12, 31),
            **late,
        )
    )


def late_pages(fleet: Fleet, code: str, device: int) -> int:
    """The pages of the out-of-order reading's own day: what lands on the wrong day when
    the reading is never read."""
    counts = fleet.readings(code)[fleet.device_ids(code)[device]]
    return counts[SEP_30] - counts[SEP_30 - timedelta(days=1)]


def assert_days_match(releaf, truth: dict, through: date) -> None:
    """`report --json` equals the ground truth for every account and every day through
    `through`."""
    months = sorted({d.strftime("%Y-%m") for days in truth.values() for d in days})
    for month in months:
        got = {
            a["account"]: {d: p for d, p in a["days"].items() if date.fromisoformat(d) <= through}
            for a in releaf("report", "--month", month, "--json").json()["accounts"]
        }
        want = {
            account: {
                d.isoformat(): p
                for d, p in sorted(days.items())
                if d.strftime("%Y-%m") == month and d <= through
            }
            for account, days in truth.items()
        }
        assert got == {a: days for a, days in want.items() if days}, month


def certificate(releaf, account: str, month: str) -> dict:
    (cert,) = [
        c
        for c in releaf("certificates", "list", "--month", month, "--json").json()
        if c["account"] == account
    ]
    return cert


def month_pages(truth: dict, account: str, month: str) -> int:
    return sum(p for d, p in truth[account].items() if d.strftime("%Y-%m") == month)


def test_before_the_close_the_months_reread_lands_it_on_its_own_date(
    releaf, home, monkeypatch, tmp_path
):
    # The account has two sites. The second one's DCA is offline over the month's end,
    # so September waits for it until Oct 5. Meanwhile the first site's Sep 30 reading of
    # one device comes in on Oct 4, after the device's readings of Oct 1 to 3: the night
    # of Oct 3 (a Saturday, not the weekly re-read) reads from Oct 1 only, but September
    # is over and not certified, so its feeds read September whole once more.
    fleet = fleet_with(
        out_of_order_uploads=(OutOfOrderUpload(0, 1, SEP_30, date(2026, 10, 4)),),
        customer_outages=(CustomerOutage(1, date(2026, 9, 28), date(2026, 10, 5)),),
    )
    first, second = fleet.customer_codes
    feeds = [(first, "acct-two", ACTIVATION, "all"), (second, "acct-two", ACTIVATION, "all")]
    pages = late_pages(fleet, first, 1)
    assert pages > 0
    with Simulator(fleet, today=ACTIVATION, workdir=tmp_path / "sim") as sim:
        sim.set_now(night_time(ACTIVATION))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, date(2026, 10, 3))
        assert date(2026, 10, 3).weekday() != FULL_REREAD_WEEKDAY
        # On its own date already, while September still waits for the second site.
        assert releaf("certificates", "list", "--json").json() == []
        night = date(2026, 10, 3)
        assert_days_match(
            releaf, expected_account_days(fleet, feeds, night, night_time(night)), night
        )
        live_nights(releaf, sim, date(2026, 10, 4), date(2026, 10, 4))

    truth = expected_account_days(fleet, feeds, date(2026, 10, 4), None)
    assert_days_match(releaf, truth, date(2026, 10, 4))
    september = certificate(releaf, "acct-two", "2026-09")
    assert september["pages"] == month_pages(truth, "acct-two", "2026-09")
    assert (september["adjustment_pages"], september["closed_by"]) == (0, "complete")
    assert (september["period_start"], september["period_end"]) == ("2026-09-21", "2026-09-30")
    assert september["issued_on"] == "2026-10-05"


def test_after_the_close_the_weekly_reread_brings_it_into_the_next_certificate(
    releaf, home, monkeypatch, tmp_path
):
    # September closes on the night of Oct 1 without the device's Sep 30 reading, which
    # is uploaded on Oct 6 after the readings of Oct 1 to 5. No night's window reaches it
    # and September is certified, so only the weekly full look-back (Sunday Oct 11) reads
    # it again; then it is September's, and October's certificate carries it.
    upload = date(2026, 10, 6)
    fleet = fleet_with(out_of_order_uploads=(OutOfOrderUpload(0, 1, SEP_30, upload),))
    code = fleet.customer_codes[0]
    feeds = [(code, "acct-late", ACTIVATION, "all")]
    pages = late_pages(fleet, code, 1)
    assert pages > 0
    per_night: dict[date, int] = {}
    with Simulator(fleet, today=ACTIVATION, workdir=tmp_path / "sim") as sim:
        sim.set_now(night_time(ACTIVATION))
        register_feeds(releaf, sim, feeds, monkeypatch)
        day = ACTIVATION
        while day <= date(2026, 10, 31):
            sim.reset_log()
            live_nights(releaf, sim, day, day)
            per_night[day] = sum(1 for _, path in sim.request_log if path.endswith("Counter/List"))
            if day == date(2026, 10, 10):
                # Uploaded, but until the weekly re-read its pages are the next day's.
                seen = expected_account_days(fleet, feeds, day, None)
                seen["acct-late"][SEP_30] -= pages
                seen["acct-late"][SEP_30 + timedelta(days=1)] += pages
                assert_days_match(releaf, seen, day)
            day += timedelta(days=1)

    # The month's re-reads and the weekly one cost no extra request.
    assert set(per_night.values()) == {1}, per_night
    truth = expected_account_days(fleet, feeds, date(2026, 10, 31), None)
    assert_days_match(releaf, truth, date(2026, 10, 31))
    known_at_close = expected_account_days(fleet, feeds, SEP_30, night_time(date(2026, 10, 1)))
    september = certificate(releaf, "acct-late", "2026-09")
    assert september["pages"] == month_pages(known_at_close, "acct-late", "2026-09")
    assert (september["closed_by"], september["issued_on"]) == ("complete", "2026-10-02")
    assert month_pages(truth, "acct-late", "2026-09") - september["pages"] == pages
    october = certificate(releaf, "acct-late", "2026-10")
    assert october["pages"] == month_pages(truth, "acct-late", "2026-10")
    assert october["adjustment_pages"] == pages
    assert (october["period_start"], october["period_end"]) == ("2026-10-01", "2026-10-31")
    assert (october["closed_by"], october["issued_on"]) == ("complete", "2026-11-01")
