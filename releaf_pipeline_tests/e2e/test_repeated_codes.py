"""One customer code on two servers (two dealers who both call a customer so): every command
that takes a feed refuses the bare code in one line, and `SERVER/CODE` moves exactly that
feed. Nights with `releaf nightly` over HTTPS on both servers; every day's deposits of every
account are compared with the ground truth of each server's fleet."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.ground_truth import expected_account_days, month_view

pytestmark = pytest.mark.e2e

ACTIVATION = date(2026, 10, 1)
MOVED_ON = date(2026, 10, 4)  # the night after which s2's feed is moved to acct-moved
LAST = date(2026, 10, 8)


def _fleet(dealer: str, seed: int, codes: tuple[str, ...] = ()) -> Fleet:
    return Fleet(
        FleetConfig(
            seed=seed, customers=2, devices_per_customer=4, scenarios=False,
            history_start=date(2026, 8, 1), history_end=date(2026, 12, 31),
            dealer_code=dealer, customer_codes=codes,
        )
    )  # fmt: skip


def _nights(releaf, sims: list[Simulator], first: date, last: date) -> None:
    day = first
    while day <= last:
        for sim in sims:
            sim.set_now(night_time(day))
        r = releaf("nightly", "--date", day.isoformat())
        assert r.code == 0, (day, r.out, r.err)
        day += timedelta(days=1)


def _deposits(releaf) -> dict[str, dict[str, int]]:
    got = releaf("report", "--month", "2026-10", "--json").json()
    return {a["account"]: a["days"] for a in got["accounts"]}


def test_a_code_on_two_servers_is_never_guessed(home, releaf, monkeypatch, tmp_path):
    first = _fleet("D-7001", seed=3)
    code = first.customer_codes[0]
    second = _fleet("D-7002", seed=4, codes=(code, "5A4E0000000000FF"))
    assert first.readings(code, as_of=None) != second.readings(code, as_of=None)
    with (
        Simulator(first, today=ACTIVATION, workdir=tmp_path / "s1") as s1,
        Simulator(second, today=ACTIVATION, workdir=tmp_path / "s2") as s2,
    ):
        for name, sim, account in (("s1", s1, "acct-s1"), ("s2", s2, "acct-s2")):
            monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
            r = releaf("server", "add", name, "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
            assert r.code == 0, r.err
            r = releaf(
                "feed", "add", "--server", name, "--customer-code", code, "--account", account,
                "--activation-date", ACTIVATION.isoformat(), "--scope", "all",
            )  # fmt: skip
            assert r.code == 0, r.err
        monkeypatch.delenv("RELEAF_DEALER_TOKEN")
        _nights(releaf, [s1, s2], ACTIVATION, MOVED_ON)

        # Every command that takes a feed refuses the bare code, naming both ways to write it.
        before = releaf("feed", "list", "--json").json()
        for args in (
            ("feed", "update", code, "--account", "acct-moved"),
            ("feed", "pause", code),
            ("feed", "remove", code),
            ("backfill", "--start", "2026-10-01", "--end", "2026-10-02", "--feed", code),
        ):
            r = releaf(*args)
            assert r.code != 0 and len(r.err.strip().splitlines()) == 1, (args, r.err)
            assert f"s1/{code}" in r.err and f"s2/{code}" in r.err, (args, r.err)
        assert releaf("feed", "list", "--json").json() == before

        # Named with its server, exactly that feed moves, its deposits with it.
        r = releaf("feed", "update", f"s2/{code.lower()}", "--account", "acct-moved")
        assert r.code == 0, r.err
        _nights(releaf, [s1, s2], MOVED_ON + timedelta(days=1), LAST)

    feeds_s1 = [(code, "acct-s1", ACTIVATION, "all")]
    feeds_s2 = [(code, "acct-moved", ACTIVATION, "all")]
    want = month_view(
        expected_account_days(first, feeds_s1, LAST, None)
        | expected_account_days(second, feeds_s2, LAST, None),
        "2026-10",
    )
    got = _deposits(releaf)
    assert got == {a["account"]: a["days"] for a in want["accounts"]}
    assert "acct-s2" not in got
    assert got["acct-s1"] != got["acct-moved"]
