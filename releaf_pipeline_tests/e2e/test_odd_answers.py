"""Honest but odd answers the contract allows, night after night with `releaf nightly` over
HTTPS: a mono printer whose colour counter is null, two different readings for one date,
Device/List pages holding fewer rows than asked for, and device ids spelled in another
case by one of the two lists. Each case compares every day's deposits (`report --json`)
with the ground truth computed from every reading the simulator serves, by the contract's
rules, and checks the month's certificate. And a feed whose answers break the contract is
not retried by the catch-up: a night asks for it once, says so once, and the nights after
the server is fixed collect what it missed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH, DEVICE_LIST_PATH
from releaf_pipeline.lib.store.collection import DUPLICATE_READING, UNLISTED_DEVICE
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.tables import anomalies
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import Feed, live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = pytest.mark.e2e

ACTIVATION = date(2026, 10, 20)
LAST_NIGHT = date(2026, 11, 1)  # the night that closes October


def small_fleet() -> Fleet:
    return Fleet(
        FleetConfig(
            customers=2,
            devices_per_customer=5,
            scenarios=False,
            history_start=date(2026, 8, 1),
            history_end=date(2026, 12, 31),
        )
    )


@contextmanager
def serving(fleet: Fleet, tmp_path) -> Iterator[Simulator]:
    with Simulator(fleet, now=night_time(ACTIVATION), workdir=tmp_path / "sim") as sim:
        yield sim


def anomaly_rows(home, kind: str) -> list[sa.Row]:
    engine = make_engine(f"sqlite:///{home / 'releaf.db'}")
    with engine.connect() as conn:
        return conn.execute(
            sa.select(anomalies.c.device_id, anomalies.c.day, anomalies.c.previous_count,
                      anomalies.c.count)
            .where(anomalies.c.kind == kind)
            .order_by(anomalies.c.day)
        ).all()  # fmt: skip


def assert_october_exact(releaf, fleet: Fleet, feeds: list[Feed]) -> dict:
    """Every October day's deposits equal the ground truth, and each account's October
    certificate holds exactly its pages, issued complete the night after the 31st."""
    truth = expected_account_days(fleet, feeds, date(2026, 10, 31), None)
    got = releaf("report", "--month", "2026-10", "--json").json()
    want = month_view(truth, "2026-10")
    assert [(a["account"], a["days"]) for a in got["accounts"]] == [
        (a["account"], a["days"]) for a in want["accounts"]
    ]
    certificates = releaf("certificates", "list", "--month", "2026-10", "--json").json()
    assert sorted(
        (c["account"], c["pages"], c["adjustment_pages"], c["period_start"], c["closed_by"])
        for c in certificates
    ) == [
        (a["account"], a["pages"], 0, ACTIVATION.isoformat(), "complete") for a in want["accounts"]
    ]
    assert all(a["pages"] > 0 for a in want["accounts"])
    return truth


def test_a_mono_printer_whose_colour_counter_is_null_is_read_as_zero_colour(
    home, releaf, monkeypatch, tmp_path
):
    fleet = small_fleet()
    code = fleet.customer_codes[0]
    mono = fleet.device_ids(code)[0]
    feeds = [(code, "acct-mono", ACTIVATION, "all")]
    with serving(fleet, tmp_path) as sim:
        sim.null_counter(code, mono)
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, LAST_NIGHT)
    truth = assert_october_exact(releaf, fleet, feeds)
    # The printer's own pages are in: its counts are all on the mono counter.
    counts = fleet.readings(code)[mono]
    assert counts[date(2026, 10, 31)] > counts[ACTIVATION - timedelta(days=1)]
    assert sum(truth["acct-mono"].values()) > 0


def test_two_different_readings_for_one_date_the_higher_stands_and_is_flagged(
    home, releaf, monkeypatch, tmp_path
):
    fleet = small_fleet()
    code = fleet.customer_codes[0]
    device = fleet.device_ids(code)[2]
    since = date(2026, 10, 24)
    feeds = [(code, "acct-dup", ACTIVATION, "all")]
    with serving(fleet, tmp_path) as sim:
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, since)
        # From here on the server sends a second, lower reading for every date of the
        # device, in a row before the real one: the feed goes on, night after night.
        sim.duplicate_readings(code, device, since=since, less_by=40)
        live_nights(releaf, sim, since + timedelta(days=1), LAST_NIGHT)
    assert_october_exact(releaf, fleet, feeds)
    counts = fleet.readings(code)[device]
    flagged = anomaly_rows(home, DUPLICATE_READING)
    assert flagged and {row.device_id for row in flagged} == {device}
    assert all((row.previous_count, row.count) == (counts[row.day] - 40, counts[row.day])
               for row in flagged)  # fmt: skip
    assert {row.day for row in flagged} >= {
        since + timedelta(days=i) for i in range((date(2026, 10, 31) - since).days + 1)
    } & set(counts)


def test_device_list_pages_shorter_than_asked_are_paged_to_total_rows(
    home, releaf, monkeypatch, tmp_path
):
    fleet = small_fleet()
    feeds = [(code, f"acct-{i}", ACTIVATION, "all") for i, code in enumerate(fleet.customer_codes)]
    devices = sum(len(fleet.device_ids(code)) for code in fleet.customer_codes)
    with serving(fleet, tmp_path) as sim:
        # The server's own cap: 2 rows a page, whatever the pipeline asks for.
        sim.page_cap = 2
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, LAST_NIGHT - timedelta(days=1))
        sim.set_now(night_time(LAST_NIGHT))
        sim.reset_log()
        live_nights(releaf, sim, LAST_NIGHT, LAST_NIGHT)
        # One listing shared by both feeds, every page of it once and not one more.
        pages = [path for _, path in sim.request_log if path == DEVICE_LIST_PATH]
        assert len(pages) == -(-devices // 2) > 1
    assert_october_exact(releaf, fleet, feeds)


def test_device_ids_in_another_case_in_one_list_keep_a_managed_feeds_pages(
    home, releaf, monkeypatch, tmp_path
):
    fleet = small_fleet()
    code = fleet.customer_codes[0]
    assert any(fleet.managed(code).values()) and not all(fleet.managed(code).values())
    feeds = [(code, "acct-managed", ACTIVATION, "managed")]
    flip = date(2026, 10, 26)
    with serving(fleet, tmp_path) as sim:
        # Counter/List spells the ids in upper case, Device/List as generated (lower)...
        sim.recase_device_ids(code, COUNTER_LIST_PATH, upper=True)
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, flip)
        # ... then the other way round.
        sim.recase_device_ids(code, COUNTER_LIST_PATH, upper=False)
        sim.recase_device_ids(code, DEVICE_LIST_PATH, upper=True)
        live_nights(releaf, sim, flip + timedelta(days=1), LAST_NIGHT)
    truth = assert_october_exact(releaf, fleet, feeds)
    assert all(p > 0 for d, p in truth["acct-managed"].items() if d.weekday() < 5)
    assert anomaly_rows(home, UNLISTED_DEVICE) == []


def test_a_failure_no_retry_fixes_is_asked_for_once_a_night_and_said_once(
    home, releaf, monkeypatch, tmp_path
):
    fleet = small_fleet()
    bad, good = fleet.customer_codes
    feeds = [(bad, "acct-bad", ACTIVATION, "all"), (good, "acct-good", ACTIVATION, "all")]
    broken = [date(2026, 10, 23), date(2026, 10, 24), date(2026, 10, 25)]
    with serving(fleet, tmp_path) as sim:
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, broken[0] - timedelta(days=1))
        # The server's Counter/List answers for one customer break the contract, for
        # as many requests as are made.
        sim.inject("wrong_type", path=COUNTER_LIST_PATH, customer=bad, field="Mono",
                   value="n/a", times=1_000)  # fmt: skip
        for night in broken:
            sim.set_now(night_time(night))
            sim.reset_log()
            r = releaf("nightly", "--date", night.isoformat())
            assert r.code == 1, (r.out, r.err)
            # The night asked for the feed once: no catch-up round asked again.
            assert sim.requests_for(bad).count(COUNTER_LIST_PATH) == 1, night
            assert sim.requests_for(good).count(COUNTER_LIST_PATH) == 1, night
            said = [line for line in r.err.splitlines() if bad in line]
            assert len(said) == 1, r.err
            assert said[0].startswith(f"feed {bad} on east: {night} failed: invalid_response")
            assert "next: not retried" in said[0] and "releaf backfill" in said[0]
        sim.clear_faults()
        # Fixed on the server: the nights go on, and read back what the feed missed.
        live_nights(releaf, sim, broken[-1] + timedelta(days=1), LAST_NIGHT)
    assert_october_exact(releaf, fleet, feeds)
