"""Six weeks of nights with `releaf nightly`: a server outage, a DCA offline across a month
end that uploads late, and nights the pipeline did not run. Nobody starts a backfill."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.health import health_history
from releaf_pipeline.lib.store.registry import list_feeds
from releaf_pipeline.lib.store.tables import feed_days
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.long]

FIRST_NIGHT = date(2026, 9, 1)
LAST_NIGHT = date(2026, 10, 12)
OUTAGE = {date(2026, 9, 16), date(2026, 9, 17)}  # the server is down during these nights
NOT_RUN = {date(2026, 9, 23), date(2026, 9, 24), date(2026, 9, 25)}  # no daemon at all


def test_six_weeks_heal_themselves(home, sim, fleet, releaf, monkeypatch, tmp_path):
    stale, resetting, adding, plain = fleet.customer_codes
    feeds = [
        (stale, "acct-a", date(2026, 9, 1), "all"),
        (resetting, "acct-a", date(2026, 9, 1), "all"),
        (adding, "acct-b", date(2026, 9, 1), "managed"),
        (plain, "acct-c", date(2026, 9, 10), "all"),
    ]
    span = fleet.stale_spans[0]
    assert span.customer_code == stale
    assert (span.start, span.upload_date) == (date(2026, 9, 28), date(2026, 10, 9))

    sim.set_today(FIRST_NIGHT)
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST_NIGHT, LAST_NIGHT, outage=OUTAGE, not_run=NOT_RUN)

    # Daily deposits equal the ground truth, day by day.
    expected = expected_account_days(fleet, feeds, LAST_NIGHT, as_of=LAST_NIGHT + timedelta(days=1))
    for month in ("2026-09", "2026-10"):
        got = releaf("report", "--month", month, "--json").json()
        want = month_view(expected, month)
        assert [(a["account"], a["days"]) for a in got["accounts"]] == [
            (a["account"], a["days"]) for a in want["accounts"]
        ], month

    # The health history tells the scenario: the server down two nights, the stale feed
    # unhealthy from the third business day without data until its data came back.
    engine = make_engine(f"sqlite:///{home / 'releaf.db'}")
    server_events = [(e.healthy, e.at.date()) for e in health_history(engine, "server")]
    assert server_events == [(False, date(2026, 9, 17)), (True, date(2026, 9, 19))]
    codes = {f.id: f.customer_code for f in list_feeds(engine)}
    feed_events = [(codes[e.subject_id], e.healthy, e.day) for e in health_history(engine, "feed")]
    assert feed_events == [(stale, False, date(2026, 9, 30)), (stale, True, date(2026, 10, 8))]

    # Every day shows as materialized in the UI, and the catch-up runs say why they ran.
    with dg.DagsterInstance.get() as instance:
        every_day = {
            (FIRST_NIGHT + timedelta(days=i)).isoformat()
            for i in range((LAST_NIGHT - FIRST_NIGHT).days + 1)
        }
        for key in ("meter_readings", "daily_deposits"):
            assert every_day <= instance.get_materialized_partitions(dg.AssetKey(key)), key
        reasons = {
            (r.tags.get("releaf/catchup"), r.tags.get("dagster/asset_partition_range_start"))
            for r in instance.get_runs()
            # Replayed by `releaf nightly` in the catch-up sensor's place.
            if r.tags.get("releaf/replay_of") == "catchup_sensor"
        }
        recovery_night = [
            r.run_id
            for r in instance.get_runs()
            if r.tags.get("releaf/replay_key") == "nightly:2026-10-08"
        ]
    assert ("missing", "2026-09-23") in reasons
    # The night the stale feed recovered read it again from before its last data (its
    # account's September was not certified yet, so from Sep 1), so no separate
    # re-collection was needed.
    stale_id = next(i for i, c in codes.items() if c == stale)
    with engine.connect() as conn:
        recollected = {
            r.day
            for r in conn.execute(
                sa.select(feed_days.c.day).where(
                    feed_days.c.feed_id == stale_id, feed_days.c.run_id.in_(recovery_night)
                )
            )
        }
    # (The following nights read the last days once more, and the night of Sunday Oct 11
    # the whole look-back, from Sep 6.)
    assert recollected == {date(2026, 9, 1) + timedelta(days=i) for i in range(5)}

    # September's certificates: the accounts whose feeds were complete and fresh on Oct 1;
    # the account with the stale feed only once the feed recovered and was re-collected
    # (before the 10-day grace period), with every late page on it.
    certs = {
        c["account"]: c
        for c in releaf("certificates", "list", "--month", "2026-09", "--json").json()
    }
    assert {a: (c["issued_on"], c["closed_by"]) for a, c in certs.items()} == {
        "acct-a": ("2026-10-09", "complete"),
        "acct-b": ("2026-10-01", "complete"),
        "acct-c": ("2026-10-01", "complete"),
    }
    for acct, cert in certs.items():
        assert cert["pages"] == sum(p for d, p in expected[acct].items() if d.month == 9)

    listed = {f["customer_code"]: f for f in releaf("feed", "list", "--json").json()}
    assert all(f["healthy"] for f in listed.values())
    assert listed[stale]["health_since"] == "2026-10-08"
    servers = releaf("server", "list", "--json").json()
    assert servers[0]["healthy"] and servers[0]["health_since"].startswith("2026-09-19")
