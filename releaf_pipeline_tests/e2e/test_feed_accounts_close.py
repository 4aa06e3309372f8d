"""Removed feeds and feeds moved between accounts, night after night with `releaf nightly`
over HTTPS: a removed feed's deposits stay its account's and its months close; a feed's
account corrected from a day on after a certificate, as the README says to. Every day's
deposits and every certificate (pages, adjustment, period) equal the ground truth
computed from every reading the simulator serves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from releaf_pipeline.simulator.config import DeviceOutage, FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_feed_deposits, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.long]

SEPT, OCT = date(2026, 9, 1), date(2026, 10, 1)

# A feed as the ground truth sees it: customer, activation, the last day it deposits (the
# day before its removal, or the last night), and its accounts as (from day, account).
Truth = tuple[str, date, date, list[tuple[date, str]]]


@pytest.fixture
def fleet() -> Fleet:
    """Five customers without the default scenarios; the first customer's first device
    uploads its readings of Oct 3-9 late, on Oct 10."""
    outage = DeviceOutage(0, 0, date(2026, 10, 3), date(2026, 10, 10))
    return Fleet(
        FleetConfig(customers=5, devices_per_customer=5, scenarios=False, device_outages=(outage,))
    )


def expected_days(fleet: Fleet, feeds: list[Truth]) -> dict[str, dict[date, int]]:
    """account -> day -> pages: each feed's pages through its last day, each day on the
    account the feed had from that day on."""
    out: dict[str, dict[date, int]] = {}
    for code, activation, through, accounts in feeds:
        days = expected_feed_deposits(fleet.readings(code, as_of=None), {}, activation, "all",
                                      through)  # fmt: skip
        for day, pages in days.items():
            account = [a for start, a in accounts if start <= day][-1]
            acct = out.setdefault(account, {})
            acct[day] = acct.get(day, 0) + pages
    return out


def month_pages(truth: dict[str, dict[date, int]], account: str, month: date) -> int:
    return sum(p for d, p in truth.get(account, {}).items() if d.replace(day=1) == month)


def check_report(releaf, truth: dict, month: date, certs: dict) -> None:
    """`report --json` for the month equals the ground truth day by day."""
    key = month.strftime("%Y-%m")
    ids = {c["account"]: c["id"] for c in certs.values() if c["month"] == key}
    got = releaf("report", "--month", key, "--json").json()["accounts"]
    want = month_view(truth, key, ids)["accounts"]
    fields = ("account", "pages", "days", "certificate")
    assert [[a[f] for f in fields] for a in got] == [[a[f] for f in fields] for a in want]


def certificates(releaf) -> dict[tuple[str, str], dict]:
    return {(c["account"], c["month"]): c for c in releaf("certificates", "list", "--json").json()}


def at(releaf, monkeypatch, moment: datetime, *args: str):
    """`releaf ARGS` run at `moment` (what an operator does in the day, between nights)."""
    monkeypatch.setenv("RELEAF_NOW", moment.isoformat())
    try:
        return releaf(*args)
    finally:
        monkeypatch.delenv("RELEAF_NOW")


def test_removed_feeds_keep_their_deposits_and_their_months_close(
    home, sim, fleet, releaf, monkeypatch, tmp_path
):
    monkeypatch.setenv("RELEAF_CERTIFICATES_DIR", str(tmp_path / "certs"))
    leaves, first, second, z1, z2 = fleet.customer_codes
    feeds = [
        # A customer leaves on Sep 20.
        (leaves, "acct-leaves", SEPT, "all"),
        # An account whose first feed leaves on Sep 20 and whose new feed starts Oct 1.
        (first, "acct-switch", SEPT, "all"),
        (second, "acct-switch", OCT, "all"),
        # Z1 from Oct 1, removed on Oct 15, when Z2 starts.
        (z1, "acct-z", OCT, "all"),
        (z2, "acct-z", date(2026, 10, 15), "all"),
    ]
    sim.set_today(date(2026, 9, 18))
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, date(2026, 9, 18), date(2026, 9, 19))
    for code in (leaves, first):
        r = at(releaf, monkeypatch, datetime(2026, 9, 20, 12, tzinfo=UTC), "feed", "remove", code)
        assert r.code == 0, r.err
    live_nights(releaf, sim, date(2026, 9, 20), date(2026, 10, 14))
    r = at(releaf, monkeypatch, datetime(2026, 10, 15, 12, tzinfo=UTC), "feed", "remove", z1)
    assert r.code == 0, r.err
    live_nights(releaf, sim, date(2026, 10, 15), date(2026, 11, 11))

    last = date(2026, 11, 11)
    truth = expected_days(
        fleet,
        [
            (leaves, SEPT, date(2026, 9, 19), [(SEPT, "acct-leaves")]),
            (first, SEPT, date(2026, 9, 19), [(SEPT, "acct-switch")]),
            (second, OCT, last, [(OCT, "acct-switch")]),
            (z1, OCT, date(2026, 10, 14), [(OCT, "acct-z")]),
            (z2, date(2026, 10, 15), last, [(OCT, "acct-z")]),
        ],
    )
    certs = certificates(releaf)
    got = {
        key: (c["pages"], c["adjustment_pages"], c["period_start"], c["period_end"])
        for key, c in certs.items()
    }
    assert got == {
        # The days before the removal are certified; nothing is waited for after it.
        ("acct-leaves", "2026-09"): (
            month_pages(truth, "acct-leaves", SEPT), 0, "2026-09-01", "2026-09-30"
        ),
        ("acct-switch", "2026-09"): (
            month_pages(truth, "acct-switch", SEPT), 0, "2026-09-01", "2026-09-30"
        ),
        ("acct-switch", "2026-10"): (
            month_pages(truth, "acct-switch", OCT), 0, "2026-10-01", "2026-10-31"
        ),
        # The period starts with the removed feed, whose pages it credits.
        ("acct-z", "2026-10"): (month_pages(truth, "acct-z", OCT), 0, "2026-10-01", "2026-10-31"),
    }  # fmt: skip
    assert month_pages(truth, "acct-z", OCT) > month_pages(
        expected_days(fleet, [(z2, date(2026, 10, 15), last, [(OCT, "acct-z")])]), "acct-z", OCT
    )
    # Every month closed as soon as its days were in, by the grace date at the latest.
    for (_, month), c in certs.items():
        assert c["issued_on"] == ("2026-10-01" if month == "2026-09" else "2026-11-01"), c
        assert c["closed_by"] == "complete", c
    for month in (SEPT, OCT):
        check_report(releaf, truth, month, certs)
    # The removed feeds' customers stay in their accounts' reports, nothing waits.
    report = releaf("report", "--month", "2026-10", "--json").json()
    assert "closes with what is known" not in str(report)


def test_an_account_corrected_after_a_certificate_follows_the_readme(
    home, sim, fleet, releaf, monkeypatch, tmp_path
):
    monkeypatch.setenv("RELEAF_CERTIFICATES_DIR", str(tmp_path / "certs"))
    code, other = fleet.customer_codes[:2]
    feeds = [(code, "acct-wrong", SEPT, "all"), (other, "acct-right", SEPT, "all")]
    sim.set_today(date(2026, 9, 25))
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, date(2026, 9, 25), date(2026, 10, 7))
    assert ("acct-wrong", "2026-09") in certificates(releaf)

    # The customer moved to acct-right on Oct 5, and the operator hears of it on Oct 8.
    # The README: "an account wrong (or changed) since before a certificate: `releaf feed
    # update CODE --account RIGHT --from DAY` gives RIGHT the feed's deposits from DAY on
    # (a DAY inside a certified month is refused, naming the first day allowed)". Oct 3-9
    # of one device arrive on Oct 10, after the correction: recomputed, Oct 3-4 stay on
    # the old account, the later days go to the new one.
    moment = datetime(2026, 10, 8, 9, tzinfo=UTC)
    r = at(releaf, monkeypatch, moment, "feed", "update", code, "--account", "acct-right")
    assert r.code == 2 and r.err.count("\n") == 1 and "`--from 2026-10-01`" in r.err, r.err
    r = at(releaf, monkeypatch, moment, "feed", "update", code, "--account", "acct-right",
           "--from", "2026-09-28")  # fmt: skip
    assert r.code == 2 and "`--from 2026-10-01`" in r.err, r.err
    r = at(releaf, monkeypatch, moment, "feed", "update", code, "--account", "acct-right",
           "--from", "2026-10-05")  # fmt: skip
    assert r.code == 0 and "acct-wrong -> acct-right from 2026-10-05" in r.out, (r.out, r.err)
    live_nights(releaf, sim, date(2026, 10, 8), date(2026, 11, 1))

    last = date(2026, 11, 1)
    truth = expected_days(
        fleet,
        [
            (code, SEPT, last, [(SEPT, "acct-wrong"), (date(2026, 10, 5), "acct-right")]),
            (other, SEPT, last, [(SEPT, "acct-right")]),
        ],
    )
    certs = certificates(releaf)

    def check() -> None:
        for month in (SEPT, OCT):
            check_report(releaf, truth, month, certs)

    check()
    # Pages from Oct 5 are the right account's, those before stay certified where they were.
    assert month_pages(truth, "acct-right", OCT) > 0
    got = {key: (c["pages"], c["adjustment_pages"], c["period_start"]) for key, c in certs.items()}
    assert got == {
        ("acct-wrong", "2026-09"): (month_pages(truth, "acct-wrong", SEPT), 0, "2026-09-01"),
        ("acct-right", "2026-09"): (month_pages(truth, "acct-right", SEPT), 0, "2026-09-01"),
        ("acct-wrong", "2026-10"): (month_pages(truth, "acct-wrong", OCT), 0, "2026-10-01"),
        ("acct-right", "2026-10"): (month_pages(truth, "acct-right", OCT), 0, "2026-10-01"),
    }
    assert (
        0
        < month_pages(truth, "acct-wrong", OCT)
        < sum(
            expected_days(fleet, [(code, SEPT, last, [(SEPT, "x")])])["x"][OCT + timedelta(days=i)]
            for i in range(31)
        )
    )

    # Every deposit is recomputed from re-collected readings: each day stays on its account
    # and no certificate changes.
    r = at(releaf, monkeypatch, datetime(2026, 11, 2, 3, tzinfo=UTC), "collect", "--start",
           "2026-09-01", "--end", "2026-10-31")  # fmt: skip
    assert r.code == 0, r.err
    check()
    assert certificates(releaf) == certs
