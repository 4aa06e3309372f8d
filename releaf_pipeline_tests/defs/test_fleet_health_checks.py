"""`fleet_health`'s checks: red while a server is unhealthy or a feed failing or stale,
naming them, green once they recover; recorded with every report, never left stale."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.defs.health.fleet import (
    FEEDS_HEALTHY,
    FLEET_HEALTH,
    SERVERS_HEALTHY,
    current_fleet,
    fleet_checks,
    report_fleet_health,
)
from releaf_pipeline.defs.health.server_health import health_check_cron
from releaf_pipeline.defs.resources import RulesResource
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.collection import record_status
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.health import record_server_health
from releaf_pipeline.lib.store.lifecycle import pause_feed
from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds
from releaf_pipeline.lib.store.tables import feed_health, feeds

NOW = datetime(2026, 10, 1, tzinfo=UTC)
TODAY = date(2026, 10, 20)
SERVERS = [f"s{i}" for i in range(1, 8)]


@pytest.fixture
def engine(home):
    engine = make_engine(f"sqlite:///{home / 'store.db'}")
    cipher = TokenCipher(Fernet.generate_key())
    for name in SERVERS:
        add_server(engine, cipher, name=name, url=f"https://{name}", token="t",
                   ca_bundle_pem=None, dealer_code=f"D-{name}", now=NOW)  # fmt: skip
        record_server_health(engine, SERVERS.index(name) + 1, healthy=True, reason=None, now=NOW)
    specs = [FeedSpec("s1", c, "acct", date(2026, 10, 1), "all") for c in ("A", "B", "C")]
    added = add_feeds(engine, specs, now=NOW)
    with engine.begin() as conn:
        conn.execute(feeds.update().values(synced_through=date(2026, 10, 19)))
        for f in added:
            conn.execute(feed_health.insert().values(
                feed_id=f.id, healthy=True, since_day=date(2026, 10, 1), last_data=None,
                reason=None, evaluated_day=date(2026, 10, 19), recollect_from=None,
                recollect_to=None,
            ))  # fmt: skip
    yield engine
    engine.dispose()


def _checks(engine) -> dict[str, dg.AssetCheckResult]:
    return {c.check_name: c for c in fleet_checks(current_fleet(engine, TODAY, RulesResource()))}


def _rows(result: dg.AssetCheckResult, name: str) -> list[dict]:
    return [dict(r.data) for r in result.metadata[name].records]


def _feed(engine, code: str):
    (found,) = [f for f in list_feeds(engine) if f.customer_code == code]
    return found


def test_unhealthy_servers_fail_at_error_naming_five_and_how_many_more(engine):
    assert _checks(engine)[SERVERS_HEALTHY].passed
    for i, name in enumerate(SERVERS, start=1):
        record_server_health(engine, i, healthy=False, reason=f"unreachable: {name}", now=NOW)
    servers = _checks(engine)[SERVERS_HEALTHY]
    assert not servers.passed and servers.severity == dg.AssetCheckSeverity.ERROR
    assert servers.description.startswith("7 server(s) unhealthy: s1 (unreachable: s1), s2")
    assert "s5 (unreachable: s5); and 2 more" in servers.description
    assert "s6" not in servers.description
    assert [r["server"] for r in _rows(servers, "unhealthy_servers")] == SERVERS
    assert servers.metadata["servers_unhealthy"].value == 7

    for i in range(1, 8):
        record_server_health(engine, i, healthy=True, reason=None, now=NOW)
    assert _checks(engine)[SERVERS_HEALTHY].passed


def test_failing_and_stale_feeds_warn_naming_them_and_a_pause_takes_one_out(engine):
    assert _checks(engine)[FEEDS_HEALTHY].passed
    record_status(engine, feed_id=_feed(engine, "A").id, first=date(2026, 10, 19),
                  last=date(2026, 10, 19), status="failed", reason="timeout: slow",
                  run_id=None, now=NOW)  # fmt: skip
    stale = _feed(engine, "B").id
    with engine.begin() as conn:
        conn.execute(
            feed_health.update()
            .where(feed_health.c.feed_id == stale)
            .values(healthy=False, since_day=date(2026, 10, 15), last_data=date(2026, 10, 9),
                    reason="no new data since 2026-10-09")
        )  # fmt: skip
    result = _checks(engine)
    assert result[SERVERS_HEALTHY].passed
    check = result[FEEDS_HEALTHY]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("2 feed(s) failing or stale: A on s1 (failing: ")
    assert "B on s1 (stale: no new data since 2026-10-09)" in check.description
    assert [(r["customer"], r["state"]) for r in _rows(check, "feeds_failing_or_stale")] == [
        ("A", "failing"),
        ("B", "stale"),
    ]

    # An operator's pause is a decision, not a failure: the feed leaves the check.
    pause_feed(engine, _feed(engine, "B"), now=NOW)
    check = _checks(engine)[FEEDS_HEALTHY]
    assert "B on s1" not in check.description and check.description.startswith("1 feed(s)")


def _latest(instance: dg.DagsterInstance, check: str):
    return instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(FLEET_HEALTH, check))


def test_every_report_records_fresh_check_results_and_an_unchanged_one_is_skipped(engine):
    instance = dg.DagsterInstance.ephemeral()
    assert report_fleet_health(instance, engine, TODAY, RulesResource())
    assert _latest(instance, SERVERS_HEALTHY).evaluation.passed
    # Unchanged: nothing new is recorded, and the results stand for the materialization.
    assert not report_fleet_health(instance, engine, TODAY, RulesResource())

    record_server_health(engine, 3, healthy=False, reason="unauthorized: token", now=NOW)
    assert report_fleet_health(instance, engine, TODAY, RulesResource())
    materialized = instance.get_latest_materialization_event(FLEET_HEALTH)
    for name in (SERVERS_HEALTHY, FEEDS_HEALTHY):
        # Recorded with the materialization, outside a run like it: the UI takes a check
        # result of the same run as the latest materialization for that one's.
        assert _latest(instance, name).run_id == materialized.run_id == ""
    red = _latest(instance, SERVERS_HEALTHY).evaluation
    assert not red.passed and red.description == "1 server(s) unhealthy: s3 (unauthorized: token)"

    # An operator's change records both again, even when nothing the checks see changed.
    assert report_fleet_health(instance, engine, TODAY, RulesResource(), force=True)
    record_server_health(engine, 3, healthy=True, reason=None, now=NOW)
    assert report_fleet_health(instance, engine, TODAY, RulesResource())
    assert _latest(instance, SERVERS_HEALTHY).evaluation.passed


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [(5, "* * * * *"), (300, "*/5 * * * *"), (301, "*/6 * * * *"), (3600, "0 * * * *"),
     (7200, "0 */2 * * *"), (86_400, "0 0 * * *")],
)  # fmt: skip
def test_the_health_schedule_runs_every_interval_rounded_up_to_a_minute(seconds, cron):
    assert health_check_cron(seconds) == cron
