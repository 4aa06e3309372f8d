"""A DCA that reports a page or a few less than the day before is a glitch, not a meter
reset (rule 4): nights replayed with `releaf nightly` over HTTPS, every day's deposits and
the month's certificate compared with the ground truth, next to a real reset in the same
month, a glitch inside a late upload, and the month collected again in another order."""

from __future__ import annotations

from datetime import date

import pytest

from releaf_pipeline.lib.store.days import anomalies_between
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import DeviceOutage, FleetConfig, MeterGlitch
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.e2e.test_late_data import (
    certificate,
    check_months,
    engine_of,
    month_pages,
)

pytestmark = [pytest.mark.e2e, pytest.mark.long]

# Customer 1 of the default fleet: its device 4's meter restarts from zero on Nov 16.
CUSTOMER, RESETTING = 1, 4
GLITCHES = (
    MeterGlitch(CUSTOMER, RESETTING, date(2026, 11, 10)),  # before the reset
    MeterGlitch(CUSTOMER, RESETTING, date(2026, 11, 18)),  # after it, near zero
    MeterGlitch(CUSTOMER, 0, date(2026, 11, 20)),  # a Friday, before a quiet weekend
    MeterGlitch(CUSTOMER, 2, date(2026, 11, 19), pages=3),  # inside a late upload
    MeterGlitch(CUSTOMER, 5, date(2026, 11, 30)),  # the month's last day
)
LATE = DeviceOutage(CUSTOMER, 2, date(2026, 11, 18), date(2026, 11, 24))


def test_a_one_page_dip_is_a_glitch_and_the_month_is_certified_exactly(
    home, releaf, monkeypatch, tmp_path
):
    fleet = Fleet(FleetConfig(meter_glitches=GLITCHES, device_outages=(LATE,)))
    code = fleet.customer_codes[CUSTOMER]
    ids = fleet.device_ids(code)
    (reset,) = [r for r in fleet.resets if r.customer_code == code]
    assert (reset.device_id, reset.date) == (ids[RESETTING], date(2026, 11, 16))
    feeds = [(code, "acct-g", date(2026, 11, 1), "all")]

    with Simulator(fleet, today=date(2026, 11, 1), workdir=tmp_path / "sim") as sim:
        sim.set_now(night_time(date(2026, 11, 1)))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, date(2026, 11, 1), date(2026, 12, 2))

        truth = check_months(releaf, fleet, feeds, ["2026-11"])
        cert = certificate(releaf, "acct-g", "2026-11")
        pages = month_pages(truth, "acct-g", "2026-11")
        assert (cert["pages"], cert["adjustment_pages"]) == (pages, 0)
        assert (cert["closed_by"], cert["issued_on"]) == ("complete", "2026-12-01")
        assert cert["period_start"] == "2026-11-01"
        # No day credits a meter's whole count: the reset day holds that day's pages only.
        assert max(truth["acct-g"].values()) < 5_000

        # Each glitch, and the reset, is recorded for operators with the count that stood.
        readings = fleet.readings(code)
        found = {
            (a.device_id, a.day): (a.kind, a.previous_count, a.count)
            for a in anomalies_between(engine_of(home), date(2026, 11, 1), date(2026, 12, 1))
        }
        want = {
            (ids[g.device], g.date): (
                "meter_glitch",
                readings[ids[g.device]][g.date] + g.pages,
                readings[ids[g.device]][g.date],
            )
            for g in GLITCHES
        }
        before_reset = max(d for d in readings[ids[RESETTING]] if d < reset.date)
        want[(ids[RESETTING], reset.date)] = (
            "meter_reset",
            readings[ids[RESETTING]][before_reset],
            readings[ids[RESETTING]][reset.date],
        )
        assert found == want

        # The month collected again, later days first: the same deposits (rule 7).
        report = releaf("report", "--month", "2026-11", "--json").json()
        monkeypatch.setenv("RELEAF_NOW", "2026-12-02T09:00:00+00:00")
        for start, end in (("2026-11-19", "2026-11-30"), ("2026-11-01", "2026-11-19")):
            assert releaf("collect", "--start", start, "--end", end).code == 0
        assert releaf("report", "--month", "2026-11", "--json").json() == report
        assert certificate(releaf, "acct-g", "2026-11") == cert
