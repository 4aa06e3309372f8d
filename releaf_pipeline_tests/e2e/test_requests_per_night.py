"""What a steady-state night asks of a dealer's server: one Ping, one Device/List shared by
the server's feeds (a page per 500 devices), and one Counter/List per feed."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from releaf_pipeline.replay import night_time
from releaf_pipeline_tests.e2e.nights import register_feeds

pytestmark = pytest.mark.e2e


def test_a_steady_night_costs_one_counter_list_per_feed(home, sim, fleet, releaf, monkeypatch):
    feeds = [
        (code, f"acct-{i}", date(2026, 9, 1), "all") for i, code in enumerate(fleet.customer_codes)
    ]
    sim.set_now(night_time(date(2026, 9, 20)))
    register_feeds(releaf, sim, feeds, monkeypatch)
    monkeypatch.setenv("RELEAF_NOW", night_time(date(2026, 9, 20)).isoformat())
    assert releaf("collect", "--start", "2026-09-01", "--end", "2026-09-20").code == 0

    sim.set_now(night_time(date(2026, 9, 21)))
    monkeypatch.setenv("RELEAF_NOW", night_time(date(2026, 9, 21)).isoformat())
    sim.reset_log()
    assert releaf("collect", "--start", "2026-09-21").code == 0

    asked = Counter(
        path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] for _, path in sim.request_log
    )
    assert asked == {
        "PrintReleaf/Ping": 1,
        "Device/List": 1,
        "Counter/List": len(feeds),
    }
