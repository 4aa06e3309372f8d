"""Six weeks of nights with every way data arrives late at once: one device offline across
the month end, a customer whose day ends after the night, a device leaving and another
joining management, a feed activated while its DCA was offline, the server down two
nights and a night not run. Beside them, an operator removes a feed mid-October and moves
another to a new account after its September certificate, a site has a mono printer whose
colour counter is null and a meter that reads one page low for a day, and acct-a's second
site uploads October's last readings of a device out of order. Nobody starts a backfill;
every certificate is exact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from releaf_pipeline.definitions import default_resources
from releaf_pipeline.defs.health.sensors import plan
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.health import feed_health_states
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import (
    CustomerOutage,
    DeviceOutage,
    FleetConfig,
    ManagedChange,
    MeterGlitch,
    OutOfOrderUpload,
)
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.long]

FIRST_NIGHT = date(2026, 9, 24)
LAST_NIGHT = date(2026, 11, 4)
OUTAGE = {date(2026, 10, 14), date(2026, 10, 15)}
NOT_RUN = {date(2026, 10, 22)}
REMOVED_ON = date(2026, 10, 19)  # noon, after the night of Oct 18
MOVED_FROM = date(2026, 10, 12)  # told on Oct 13, after the night of Oct 12 deposited it
# Customer 7's site: a mono printer (device 0) and a meter one page low on Oct 13 (device 1).
GLITCH = MeterGlitch(7, 1, date(2026, 10, 13))
# Customer 4's device 0 uploads its readings of Oct 30 and 31 on Nov 4, after those of Nov
# 1-3: the night of Nov 3 reads from Nov 1 only, so only October's re-read before acct-a's
# close (held by customer 0's offline device) lands Friday's pages in October.
OUT_OF_ORDER = tuple(OutOfOrderUpload(4, 0, date(2026, 10, d), date(2026, 11, 4)) for d in (30, 31))


def _fleet() -> Fleet:
    base = FleetConfig(customers=8, scenarios=False, history_start=date(2026, 8, 1),
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
            meter_glitches=(GLITCH,),
            out_of_order_uploads=OUT_OF_ORDER,
        )
    )  # fmt: skip


def _seen_at(day: date) -> datetime:
    """The first night on or after `day` that ran with the server up covered it."""
    night = max(day, FIRST_NIGHT)
    while night in OUTAGE or night in NOT_RUN:
        night += timedelta(days=1)
    return night_time(night)


def _at(releaf, monkeypatch, moment: datetime, *args: str) -> None:
    """`releaf ARGS` run by an operator at `moment`, between nights."""
    monkeypatch.setenv("RELEAF_NOW", moment.isoformat())
    try:
        r = releaf(*args)
    finally:
        monkeypatch.delenv("RELEAF_NOW")
    assert r.code == 0, (args, r.out, r.err)


def _merge(into: dict[str, dict[date, int]], account: str, days: dict[date, int]) -> None:
    acct = into.setdefault(account, {})
    for d, p in days.items():
        acct[d] = acct.get(d, 0) + p


def test_six_weeks_of_late_data(home, releaf, monkeypatch, tmp_path):
    fleet = _fleet()
    c = fleet.customer_codes
    feeds = [
        (c[0], "acct-a", FIRST_NIGHT, "all"),  # one device offline across the month end
        (c[4], "acct-a", FIRST_NIGHT, "all"),  # uploads Oct 30-31 of a device out of order
        (c[1], "acct-b", FIRST_NIGHT, "all"),  # its day ends at 07:30 UTC
        (c[2], "acct-c", FIRST_NIGHT, "managed"),  # one device leaves, one joins
        (c[3], "acct-d", date(2026, 10, 5), "all"),  # activated while its DCA was offline
    ]
    removed = (c[5], "acct-e", FIRST_NIGHT, "all")  # removed on Oct 19
    moved = (c[6], "acct-f", FIRST_NIGHT, "all")  # acct-g's from Oct 12
    site = (c[7], "acct-g", FIRST_NIGHT, "all")  # a null colour counter and a glitch
    mono = fleet.device_ids(c[7])[0]
    nights = {"outage": OUTAGE, "not_run": NOT_RUN}
    with Simulator(fleet, now=night_time(FIRST_NIGHT), workdir=tmp_path / "sim") as sim:
        sim.null_counter(c[7], mono)
        register_feeds(releaf, sim, [*feeds, removed, moved, site], monkeypatch)
        live_nights(releaf, sim, FIRST_NIGHT, MOVED_FROM, **nights)
        _at(releaf, monkeypatch, datetime(2026, 10, 13, 9, tzinfo=UTC), "feed", "update",
            c[6], "--account", "acct-g", "--from", MOVED_FROM.isoformat())  # fmt: skip
        live_nights(releaf, sim, MOVED_FROM + timedelta(days=1), REMOVED_ON - timedelta(days=1),
                    **nights)  # fmt: skip
        _at(releaf, monkeypatch, datetime(2026, 10, 19, 12, tzinfo=UTC), "feed", "remove", c[5])
        live_nights(releaf, sim, REMOVED_ON, LAST_NIGHT, **nights)

    truth = expected_account_days(fleet, feeds, date(2026, 10, 31), None, _seen_at)
    # The removed feed's days through the day before its removal stay acct-e's; the moved
    # feed's days before Oct 12 stay acct-f's, the later ones are acct-g's.
    _merge(truth, "acct-e", expected_account_days(
        fleet, [removed], REMOVED_ON - timedelta(days=1), None)["acct-e"])  # fmt: skip
    moved_days = expected_account_days(fleet, [moved], date(2026, 10, 31), None)["acct-f"]
    _merge(truth, "acct-f", {d: p for d, p in moved_days.items() if d < MOVED_FROM})
    _merge(truth, "acct-g", {d: p for d, p in moved_days.items() if d >= MOVED_FROM})
    _merge(
        truth, "acct-g", expected_account_days(fleet, [site], date(2026, 10, 31), None)["acct-g"]
    )
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
        ("acct-e", "2026-09"): ("2026-10-01", "2026-09-24"),
        ("acct-f", "2026-09"): ("2026-10-01", "2026-09-24"),
        ("acct-g", "2026-09"): ("2026-10-01", "2026-09-24"),
        # The removed feed's October closes with the month; nothing waits for it after.
        ("acct-e", "2026-10"): ("2026-11-01", "2026-10-01"),
        ("acct-f", "2026-10"): ("2026-11-01", "2026-10-01"),
        ("acct-g", "2026-10"): ("2026-11-01", "2026-10-01"),
    }
    assert {k: (x["issued_on"], x["period_start"]) for k, x in certs.items()} == expected
    for (account, month), cert in certs.items():
        pages = sum(p for d, p in truth[account].items() if d.strftime("%Y-%m") == month)
        assert (cert["pages"], cert["adjustment_pages"], cert["closed_by"]) == (
            pages, 0, "complete",
        ), (account, month)  # fmt: skip

    # Each new case is one a wrong count would show: the moved feed has pages on both
    # sides of the move, the removed feed pages after its removal that are not acct-e's,
    # the glitch would be a meter reset, the late readings have pages of their own.
    october = {d: p for d, p in moved_days.items() if d.month == 10}
    assert sum(p for d, p in october.items() if d < MOVED_FROM) > 0
    assert sum(p for d, p in october.items() if d >= MOVED_FROM) > 0
    after = expected_account_days(fleet, [removed], date(2026, 10, 31), None)["acct-e"]
    assert sum(after.values()) > sum(truth["acct-e"].values())
    counts = fleet.readings(c[7])
    glitched = counts[fleet.device_ids(c[7])[GLITCH.device]]
    assert glitched[GLITCH.date] == glitched[GLITCH.date - timedelta(days=1)] - 1
    late = fleet.readings(c[4])[fleet.device_ids(c[4])[0]]
    assert late[date(2026, 10, 30)] > late[date(2026, 10, 29)]
    assert counts[mono][date(2026, 10, 31)] > counts[mono][FIRST_NIGHT]

    # Healed: every feed fresh, nothing pending, nothing left for the catch-up sensor.
    states = feed_health_states(make_engine(f"sqlite:///{home / 'releaf.db'}"))
    assert all(s.healthy and s.recollect_from is None for s in states.values())
    with dg.DagsterInstance.get() as instance:
        assert plan(instance, *_store_and_day(LAST_NIGHT + timedelta(days=1))).requests == []


def _store_and_day(day):
    """The catch-up's inputs as the pipeline configures them (DAGSTER_HOME's settings)."""
    resources = default_resources()
    return resources["store"], day, resources["rules"]
