"""A server is its registered dealer: when another dealer answers at a registered URL, with
the same customer codes but other printers, nothing it serves is deposited. Nights with
`releaf nightly` over HTTPS; every day's deposits are compared with the ground truth of the
real fleet while the other dealer answers and after the real one is back."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg
import pytest

from releaf_pipeline.definitions import defs
from releaf_pipeline.defs.health.fleet import servers_summary
from releaf_pipeline.defs.health.server_health import SERVER_HEALTH_JOB
from releaf_pipeline.launch import Launcher, clock_config
from releaf_pipeline.lib.store.collection import feed_day_statuses
from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.tables import PAUSED, servers
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = [pytest.mark.e2e, pytest.mark.long]

ACTIVATION = date(2026, 10, 1)
SWAP = [date(2026, 10, 6), date(2026, 10, 7)]  # the nights another dealer answers
LAST = date(2026, 10, 12)
REAL, OTHER = "D-1042", "D-9999"


def two_customers() -> Fleet:
    return Fleet(
        FleetConfig(
            customers=2,
            devices_per_customer=5,
            scenarios=False,
            history_start=date(2026, 8, 1),
            history_end=date(2026, 12, 31),
            dealer_code=REAL,
        )
    )


def deposits(releaf) -> dict[str, dict[str, int]]:
    """account -> day -> pages, as `releaf report --json` shows October."""
    got = releaf("report", "--month", "2026-10", "--json").json()
    return {a["account"]: a["days"] for a in got["accounts"]}


def truth(fleet: Fleet, feeds, through: date) -> dict[str, dict[str, int]]:
    """account -> day -> pages from every reading `fleet` serves, through `through`."""
    want = month_view(expected_account_days(fleet, feeds, through, None), "2026-10")
    return {a["account"]: a["days"] for a in want["accounts"]}


def health_check_alone(at: datetime, home) -> str:
    """The server_health job on its own, as its schedule runs it; the servers' summary."""
    with dg.DagsterInstance.get() as instance, Launcher(instance) as launcher:
        run_config = dg.RunConfig(resources=clock_config(at))
        assert launcher.execute(defs, SERVER_HEALTH_JOB, run_config=run_config).success
    return servers_summary(make_engine(f"sqlite:///{home / 'releaf.db'}"))


def server_row(releaf) -> dict:
    (row,) = releaf("server", "list", "--json").json()
    return row


def test_another_dealer_at_the_registered_url_is_never_deposited(
    home, releaf, monkeypatch, tmp_path
):
    fleet = two_customers()
    a, b = fleet.customer_codes
    feeds = [(a, "acct-a", ACTIVATION, "all"), (b, "acct-b", ACTIVATION, "managed")]
    with Simulator(fleet, today=ACTIVATION, workdir=tmp_path / "sim") as sim:
        sim.set_now(night_time(ACTIVATION))
        register_feeds(releaf, sim, feeds, monkeypatch)
        live_nights(releaf, sim, ACTIVATION, SWAP[0] - timedelta(days=1))
        before = truth(fleet, feeds, SWAP[0] - timedelta(days=1))
        assert deposits(releaf) == before

        impostor = sim.swap_dealer(OTHER)
        # Deposited, the other dealer's printers would be visibly wrong on both accounts.
        wrong = truth(impostor, feeds, SWAP[-1])
        for account, days in truth(fleet, feeds, SWAP[-1]).items():
            assert all(wrong[account][d.isoformat()] != days[d.isoformat()] for d in SWAP)

        # The health check alone finds it out: unhealthy at once, both codes named.
        sim.set_now(night_time(SWAP[0]))
        summary = health_check_alone(night_time(SWAP[0]), home)
        assert "east: another_dealer" in summary and OTHER in summary and REAL in summary
        row = server_row(releaf)
        assert row["healthy"] is False and row["state"] == "unhealthy"
        reason = row["health_reason"]
        assert OTHER in reason and REAL in reason and "releaf server update east" in reason
        assert "\n" not in reason
        assert row["dealer_code"] == REAL

        # Each night it answers exits 1, naming the server and why; its days are paused.
        for night in SWAP:
            sim.set_now(night_time(night))
            r = releaf("nightly", "--date", night.isoformat())
            lines = [line for line in r.err.splitlines() if line.startswith("feed ")]
            assert r.code == 1, (night, r.out, r.err)
            assert {line.split(":")[0] for line in lines} == {
                f"feed {a} on east",
                f"feed {b} on east",
            }
            assert all(
                f"{night} paused" in line and OTHER in line and REAL in line for line in lines
            )
            assert deposits(releaf) == before, night  # nothing of the other dealer's
        statuses = feed_day_statuses(make_engine(f"sqlite:///{home / 'releaf.db'}"), *SWAP)
        assert [(r.day, r.status) for r in statuses] == [(d, PAUSED) for d in SWAP] * 2
        assert server_row(releaf)["state"] == "unhealthy"

        # The real dealer answers again: the paused days are collected as after an outage.
        sim.restore_dealer()
        live_nights(releaf, sim, SWAP[-1] + timedelta(days=1), LAST)

    assert deposits(releaf) == truth(fleet, feeds, LAST)
    row = server_row(releaf)
    assert row["healthy"] is True and row["dealer_code"] == REAL
    assert releaf("feed", "list", "--json").json()[0]["healthy"] is True


def test_a_server_without_a_stored_code_adopts_the_first_and_keeps_it(
    home, releaf, monkeypatch, tmp_path
):
    fleet = two_customers()
    a, b = fleet.customer_codes
    feeds = [(a, "acct-a", ACTIVATION, "all"), (b, "acct-b", ACTIVATION, "all")]
    with Simulator(fleet, today=ACTIVATION, workdir=tmp_path / "sim") as sim:
        sim.set_now(night_time(ACTIVATION))
        register_feeds(releaf, sim, feeds, monkeypatch)
        # Registered before dealer codes were kept.
        engine = make_engine(f"sqlite:///{home / 'releaf.db'}")
        with engine.begin() as conn:
            conn.execute(servers.update().values(dealer_code=None))
        live_nights(releaf, sim, ACTIVATION, date(2026, 10, 2))
        assert server_row(releaf)["dealer_code"] == REAL

        # Once adopted, the code is the server's identity like a registered one.
        sim.swap_dealer(OTHER)
        live_nights(releaf, sim, date(2026, 10, 3), date(2026, 10, 3), problems={date(2026, 10, 3)})
        row = server_row(releaf)
        assert row["dealer_code"] == REAL and row["state"] == "unhealthy"
        assert deposits(releaf) == truth(fleet, feeds, date(2026, 10, 2))

        # The dealer's code changes only when the operator says so, and says it right.
        r = releaf("server", "update", "east", "--url", sim.url)
        assert r.code != 0 and r.err.count("\n") == 1
        assert f"--dealer-code {OTHER}" in r.err
        r = releaf("server", "update", "east", "--dealer-code", "D-0000")
        assert r.code != 0 and r.err.count("\n") == 1 and "D-0000" in r.err
        assert server_row(releaf)["dealer_code"] == REAL
        r = releaf("server", "update", "east", "--dealer-code", OTHER)
        assert r.code == 0, r.err
        assert "updated server east (dealer code)" in r.out
        row = server_row(releaf)
        assert row["dealer_code"] == OTHER and row["state"] == "healthy"
