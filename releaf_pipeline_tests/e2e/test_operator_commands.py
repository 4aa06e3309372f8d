"""Operators change what they registered: a dealer token rotated on the server, feeds
paused, resumed, removed and amended, a server removed. No page is lost or doubled."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from releaf_pipeline.replay import night_time
from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = pytest.mark.e2e

FIRST = date(2026, 10, 1)


def _feeds(fleet):
    _stale, resetting, adding, plain = fleet.customer_codes
    return [
        (resetting, "acct-a", FIRST, "all"),
        (adding, "acct-b", FIRST, "managed"),
        (plain, "acct-c", FIRST, "all"),
    ]


def _assert_exact(releaf, fleet, feeds, through: date) -> None:
    expected = expected_account_days(fleet, feeds, through, as_of=through + timedelta(days=1))
    got = releaf("report", "--month", "2026-10", "--json").json()
    want = month_view(expected, "2026-10")
    assert [(a["account"], a["days"]) for a in got["accounts"]] == [
        (a["account"], a["days"]) for a in want["accounts"]
    ]


def test_a_rotated_token_is_updated_and_no_page_is_lost(home, sim, fleet, releaf, monkeypatch):
    feeds = _feeds(fleet)
    sim.set_today(FIRST)
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST, date(2026, 10, 3))

    # The dealer rotates the token on the server: the next night's feeds are paused.
    old = sim.token
    sim.token = "rotated-dealer-token"
    live_nights(releaf, sim, date(2026, 10, 4), date(2026, 10, 5),
                problems={date(2026, 10, 4), date(2026, 10, 5)})  # fmt: skip
    servers = releaf("server", "list", "--json").json()
    assert servers[0]["state"] == "unhealthy" and "unauthorized" in servers[0]["health_reason"]

    # Nothing given, or a wrong token: refused in one line, nothing changes.
    r = releaf("server", "update", "east")
    assert r.code != 0 and r.err.count("\n") == 1 and "nothing to change" in r.err
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", old)
    r = releaf("server", "update", "east")
    assert r.code != 0 and "unauthorized" in r.err and r.err.count("\n") == 1
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", "rotated-dealer-token")
    r = releaf("server", "update", "east")
    assert r.code == 0, r.err
    assert "updated server east (dealer token)" in r.out
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    assert releaf("server", "list", "--json").json()[0]["state"] == "healthy"

    # The following nights heal the paused days by themselves: every page is there.
    live_nights(releaf, sim, date(2026, 10, 6), date(2026, 10, 8))
    _assert_exact(releaf, fleet, feeds, date(2026, 10, 8))


def test_pause_resume_remove_and_update_feeds_and_servers(home, sim, fleet, releaf, monkeypatch):
    feeds = _feeds(fleet)
    resetting, adding, plain = (f[0] for f in feeds)
    sim.set_today(FIRST)
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST, date(2026, 10, 3))

    # Paused: not collected, and said so; resumed: the nights read the missed days back.
    assert releaf("feed", "pause", plain).code == 0
    assert "was paused already" in releaf("feed", "pause", plain).out
    states = {f["customer_code"]: f for f in releaf("feed", "list", "--json").json()}
    assert states[plain]["state"] == "paused by operator"
    assert f"releaf feed resume east/{plain}" in states[plain]["next"]
    live_nights(releaf, sim, date(2026, 10, 4), date(2026, 10, 6))
    synced = {f["customer_code"]: f["synced_through"] for f in states.values()}
    after = {f["customer_code"]: f for f in releaf("feed", "list", "--json").json()}
    assert after[plain]["synced_through"] == synced[plain], "a paused feed is not collected"
    assert releaf("feed", "resume", plain).code == 0
    live_nights(releaf, sim, date(2026, 10, 7), date(2026, 10, 8))
    _assert_exact(releaf, fleet, feeds, date(2026, 10, 8))

    # The account of a feed moves with its deposits while no certificate credits them.
    r = releaf("feed", "update", adding, "--account", "acct-d")
    assert r.code == 0 and "its deposits moved with it" in r.out, r.err
    moved = [(c, "acct-d" if c == adding else a, d, s) for c, a, d, s in feeds]
    _assert_exact(releaf, fleet, moved, date(2026, 10, 8))
    r = releaf("feed", "update", adding, "--activation-date", "2024-12-31")
    assert r.code != 0 and "before the first partition" in r.err
    r = releaf("feed", "update", adding)
    assert r.code != 0 and "nothing to change" in r.err

    # Removed: gone from the list and the nights, its history stays in the reports.
    before = releaf("report", "--month", "2026-10", "--json").json()
    assert releaf("feed", "remove", resetting).code == 0
    assert resetting not in {f["customer_code"] for f in releaf("feed", "list", "--json").json()}
    r = releaf("server", "remove", "east")
    assert r.code != 0 and "still feeds 2 customer(s)" in r.err and r.err.count("\n") == 1
    sim.set_now(night_time(date(2026, 10, 9)))
    assert releaf("nightly", "--date", "2026-10-09").code == 0
    report = releaf("report", "--month", "2026-10", "--json").json()
    acct_a = {a["account"]: a for a in report["accounts"]}["acct-a"]
    assert acct_a == {a["account"]: a for a in before["accounts"]}["acct-a"]

    # A server goes once its feeds have; its removed feeds' history stays with it.
    for code in (adding, plain):
        assert releaf("feed", "remove", code).code == 0
    assert releaf("server", "remove", "east").code == 0
    assert releaf("server", "list", "--json").json() == []
    r = releaf("feed", "resume", plain)
    assert r.code != 0 and "server 'east' was removed" in r.err
    assert releaf("report", "--month", "2026-10", "--json").json()["accounts"]


def test_a_lost_key_file_is_refused_and_a_new_key_with_the_token_again_recovers(
    home, sim, fleet, releaf, monkeypatch
):
    feeds = _feeds(fleet)
    sim.set_today(FIRST)
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST, date(2026, 10, 2))
    (home / "releaf.key").unlink()

    # No new key is made silently: every command that needs the token says what to do.
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    for args in (["collect", "--start", "2026-10-03"], ["server", "update", "east"]):
        r = releaf(*args)
        assert r.code != 0 and r.err.count("\n") == 1, r.err
        assert "releaf.key is missing" in r.err and "releaf server update" in r.err, r.err
    assert not (home / "releaf.key").exists()

    # Lost for good: a new key, and the server's token given again under it.
    monkeypatch.setenv("RELEAF_SECRET_KEY", releaf("secrets", "new-key").out.strip())
    r = releaf("server", "update", "east")
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    live_nights(releaf, sim, date(2026, 10, 3), date(2026, 10, 5))
    _assert_exact(releaf, fleet, feeds, date(2026, 10, 5))
