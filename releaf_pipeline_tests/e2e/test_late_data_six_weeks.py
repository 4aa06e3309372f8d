"""Six weeks of nights with every way data arrives late at once: one device offline across
the month end, a customer whose day ends after the night, a device leaving and another
joining management, a feed activated while its DCA was offline, the server down two
nights and a night not run. Nobody starts a backfill; every certificate is exact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from releaf_pipeline.defs.health.sensors import plan_requests
from releaf_pipeline.defs.resources import StoreResource
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.health import feed_health_states
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator import (
    CustomerOutage,
    DeviceOutage,
    Fleet,
    FleetConfig,
    ManagedChange,
)
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = pytest.mark.e2e

FIRST_NIGHT = date(2026, 9, 24)
LAST_NIGHT = date(2026, 11, 4)
OUTAGE = {date(2026, 10, 14), date(2026, 10, 15)}
NOT_RUN = {date(2026, 10, 22)}


def _fleet() -> Fleet:
    base = FleetConfig(customers=5, scenarios=False, history_start=date(2026, 8, 1),
                       history_end=date(2026, 12, 31))  # fmt: skip
    probe = Fleet(base)
    flags = probe.managed(probe.customer_codes[2])
    ids = probe.device_ids(probe.customer_codes[2])
    leaving = next(i for i, x in enumerate(ids) if flags[x])
    joining = next(i for i, x in enumerate(ids) if not flags[x])
    return Fleet(
        FleetConfig(
            **{k: getattr(base, k) for k in ("customers", "scenarios", "history_start",
                                             "history_end")},
            device_outages=(DeviceOutage(0, 1, date(2026, 10, 28), date(2026, 11, 4)),),
            publication_delays=((1, 7.5),),
            managed_changes=(
                ManagedChange(2, leaving, datetime(2026, 10, 8, 12, tzinfo=UTC), False),
                ManagedChange(2, joining, datetime(2026, 10, 20, 12, tzinfo=UTC), True),
            ),
            customer_outages=(CustomerOutage(3, date(2026, 9, 30), date(2026, 10, 9)),),
        )
    )  # fmt: skip


def _seen_at(day: date) -> datetime:
    """The first night on or after `day` that ran with the server up covered it."""
    night = max(day, FIRST_NIGHT)
    while night in OUTAGE or night in NOT_RUN:
        night += timedelta(days=1)
    return night_time(night)


def test_six_weeks_of_late_data(home, releaf, monkeypatch, tmp_path):
    fleet = _fleet()
    c = fleet.customer_codes
    feeds = [
        (c[0], "acct-a", FIRST_NIGHT, "all"),  # one device offline across the month end
        (c[4], "acct-a", FIRST_NIGHT, "all"),
        (c[1], "acct-b", FIRST_NIGHT, "all"),  # its day ends at 07:30 UTC
        (c[2], "acct-c", FIRST_NIGHT, "managed"),  # one device leaves, one joins
        (c[3], "acct-d", date(2026, 10, 5), "all"),  # activated while its DCA was offline
    ]
    with Simulator(fleet, now=night_time(FIRST_NIGHT), workdir=tmp_path / "sim") as sim:
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, FIRST_NIGHT, LAST_NIGHT, outage=OUTAGE, not_run=NOT_RUN)

    truth = expected_account_days(fleet, feeds, date(2026, 10, 31), None, _seen_at)
    for month in ("2026-09", "2026-10"):
        got = releaf("report", "--month", month, "--json").json()
        want = month_view(truth, month)
        assert [(a["account"], a["days"]) for a in got["accounts"]] == [
            (a["account"], a["days"]) for a in want["accounts"]
        ], month

    certs = {(x["account"], x["month"]): x for x in releaf("certificates", "list", "--json").json()}
    expected = {
        ("acct-a", "2026-09"): ("2026-10-01", "2026-09-24"),
        ("acct-b", "2026-09"): ("2026-10-02", "2026-09-24"),
        ("acct-c", "2026-09"): ("2026-10-01", "2026-09-24"),
        ("acct-a", "2026-10"): ("2026-11-04", "2026-10-01"),
        ("acct-b", "2026-10"): ("2026-11-02", "2026-10-01"),
        ("acct-c", "2026-10"): ("2026-11-01", "2026-10-01"),
        ("acct-d", "2026-10"): ("2026-11-01", "2026-10-05"),
    }
    assert {k: (x["issued_on"], x["period_start"]) for k, x in certs.items()} == expected
    for (account, month), cert in certs.items():
        pages = sum(p for d, p in truth[account].items() if d.strftime("%Y-%m") == month)
        assert (cert["pages"], cert["adjustment_pages"], cert["closed_by"]) == (
            pages, 0, "complete",
        ), (account, month)  # fmt: skip

    # Healed: every feed fresh, nothing pending, nothing left for the catch-up sensor.
    states = feed_health_states(make_engine(f"sqlite:///{home / 'releaf.db'}"))
    assert all(s.healthy and s.recollect_from is None for s in states.values())
    with dg.DagsterInstance.get() as instance:
        assert plan_requests(instance, StoreResource(), LAST_NIGHT + timedelta(days=1)) == []
