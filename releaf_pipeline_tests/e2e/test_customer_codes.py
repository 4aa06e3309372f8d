"""Customer codes from a terminal: one customer however its code is cased, a name that fits
two feeds refused with how to name each, and a store that fed a customer twice mended by
`releaf feed remove` before its upgrade."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from releaf_pipeline.lib.store.migrate import current_revision, head_revision, upgrade
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator

pytestmark = pytest.mark.e2e

ACTIVATION = "2026-09-01"


def _add(releaf, server: str, code: str, account: str):
    return releaf(
        "feed", "add", "--server", server, "--customer-code", code, "--account", account,
        "--activation-date", ACTIVATION, "--scope", "all",
    )  # fmt: skip


def _register(releaf, monkeypatch, name: str, sim: Simulator) -> None:
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", name, "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")


def _feeds(releaf) -> list[tuple[str, str, str, str]]:
    return [
        (f["server"], f["customer_code"], f["account"], f["state"])
        for f in releaf("feed", "list", "--json").json()
    ]


def _one_line(r) -> bool:
    return r.code != 0 and len(r.err.strip().splitlines()) == 1


def test_a_code_in_another_case_feeds_no_second_account(home, sim, releaf, monkeypatch, tmp_path):
    _register(releaf, monkeypatch, "east", sim)
    code = sim.fleet.customer_codes[0]
    assert _add(releaf, "east", code.upper(), "acct-a").code == 0

    r = _add(releaf, "east", code.lower(), "acct-z")
    assert _one_line(r) and "already feeds account 'acct-a'" in r.err, r.err
    assert "differ only in case" in r.err
    path = tmp_path / "feeds.csv"
    path.write_text(
        "server,customer_code,account,activation_date,scope\n"
        f"east,{sim.fleet.customer_codes[1]},acct-b,{ACTIVATION},all\n"
        f"east,{code.lower()},acct-z,{ACTIVATION},all\n"
    )
    r = releaf("feed", "import", str(path))
    assert _one_line(r) and "feeds.csv:3" in r.err and "nothing was imported" in r.err
    assert _feeds(releaf) == [("east", code.upper(), "acct-a", "not collected yet")]

    # Every command finds the feed however its code is written.
    r = releaf("feed", "pause", code.lower())
    assert r.code == 0 and f"paused feed {code.upper()} on east" in r.out, r.err
    assert releaf("feed", "resume", f"east/{code.lower()}").code == 0
    r = releaf("backfill", "--start", ACTIVATION, "--end", ACTIVATION, "--feed", "NOPE")
    assert _one_line(r) and "no feed NOPE" in r.err
    r = releaf(
        "backfill", "--start", ACTIVATION, "--end", ACTIVATION,
        "--server", "east", "--feed", code.lower(),
    )  # fmt: skip
    assert r.code == 0 and "backfill run" in r.out and not r.err, r.err
    (fed,) = releaf("feed", "list", "--json").json()
    assert fed["synced_through"] == ACTIVATION


def test_a_name_that_fits_two_feeds_is_refused(home, sim, releaf, monkeypatch, tmp_path):
    other_fleet = Fleet(FleetConfig(customers=1, dealer_code="D-2000"))
    with Simulator(other_fleet, workdir=tmp_path / "other") as other:
        _register(releaf, monkeypatch, "x", sim)
        _register(releaf, monkeypatch, "x/y", other)
    for server, code, account in (
        ("x", "y/EEEE5555EEEE5555", "acct-a"), ("x/y", "EEEE5555EEEE5555", "acct-b"),
        ("x", "FFFF6666FFFF6666", "acct-c"), ("x/y", "ffff6666ffff6666", "acct-d"),
    ):  # fmt: skip
        assert _add(releaf, server, code, account).code == 0

    # SERVER/CODE splitting two ways: refused, nothing paused, and the way to name each.
    r = releaf("feed", "pause", "x/y/EEEE5555EEEE5555")
    assert _one_line(r), r.err
    assert "customer y/EEEE5555EEEE5555 on server x," in r.err
    assert "customer EEEE5555EEEE5555 on server x/y" in r.err
    assert "--server x with y/EEEE5555EEEE5555 or --server x/y with EEEE5555EEEE5555" in r.err
    # A bare code fed on two servers: refused, naming SERVER/CODE for each.
    r = releaf("feed", "remove", "FFFF6666FFFF6666")
    assert _one_line(r) and "as x/FFFF6666FFFF6666 or x/y/ffff6666ffff6666" in r.err, r.err
    r = releaf("backfill", "--start", ACTIVATION, "--end", ACTIVATION, "--feed", "ffff6666ffff6666")
    assert _one_line(r) and "names 2 feeds" in r.err
    assert {state for *_, state in _feeds(releaf)} == {"not collected yet"}

    # Named alone, exactly that feed changes.
    r = releaf("feed", "pause", "--server", "x/y", "EEEE5555EEEE5555")
    assert r.code == 0 and "paused feed EEEE5555EEEE5555 on x/y" in r.out, r.err
    assert releaf("feed", "remove", "x/y/ffff6666ffff6666").code == 0
    assert _feeds(releaf) == [
        ("x", "FFFF6666FFFF6666", "acct-c", "not collected yet"),
        ("x", "y/EEEE5555EEEE5555", "acct-a", "not collected yet"),
        ("x/y", "EEEE5555EEEE5555", "acct-b", "paused by operator"),
    ]
    r = releaf("feed", "update", "--server", "x", "y/EEEE5555EEEE5555", "--account", "acct-e")
    assert r.code == 0, r.err
    assert ("x", "y/EEEE5555EEEE5555", "acct-e", "not collected yet") in _feeds(releaf)


def test_a_store_that_fed_a_customer_twice_is_mended_with_feed_remove(
    home, releaf, monkeypatch, store_url
):
    monkeypatch.setenv("RELEAF_DATABASE_URL", store_url)
    # The store as an earlier releaf left it: one customer fed twice under two spellings.
    old = sa.create_engine(store_url)
    upgrade(old, "0006")
    now = datetime(2026, 9, 1, tzinfo=UTC)
    with old.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO servers (id, name, url, token_sealed, dealer_code, created_at) "
                "VALUES (1, 's1', 'https://s1.example', 'sealed', 'D-7001', :now)"
            ),
            {"now": now},
        )
        for code, account in (("AAAA1111AAAA1111", "acct-a"), ("aaaa1111aaaa1111", "acct-z")):
            conn.execute(
                sa.text(
                    "INSERT INTO feeds (server_id, customer_code, account, activation_date, "
                    "scope, created_at, inputs_version) "
                    "VALUES (1, :code, :account, '2026-09-01', 'all', :now, 0)"
                ),
                {"code": code, "account": account, "now": now},
            )

    # Every command says what is wrong and what mends it, in one line, and changes nothing.
    r = releaf("feed", "list")
    assert _one_line(r), r.err
    assert "s1/AAAA1111AAAA1111 (account acct-a) and s1/aaaa1111aaaa1111 (account acct-z)" in r.err
    assert "releaf feed remove" in r.err
    assert current_revision(old) == "0006"

    r = releaf("feed", "remove", "s1/aaaa1111aaaa1111")
    assert r.code == 0, r.err
    assert "removed feed aaaa1111aaaa1111 on s1" in r.out and "upgraded" in r.out
    assert current_revision(old) == head_revision()
    old.dispose()
    assert [
        (f["customer_code"], f["account"]) for f in releaf("feed", "list", "--json").json()
    ] == [("AAAA1111AAAA1111", "acct-a")]
    # The removed spelling cannot come back beside the other.
    r = releaf("feed", "resume", "--server", "s1", "aaaa1111aaaa1111")
    assert _one_line(r) and "differ only in case" in r.err, r.err


@pytest.mark.parametrize(
    "code",
    ["AB CD1111", "A" * 65, "ÄBCD1111", "AB\tCD"],
    ids=["space", "65 characters", "non-ASCII", "tab"],
)
def test_a_code_no_server_could_send_is_refused(home, sim, releaf, monkeypatch, code):
    _register(releaf, monkeypatch, "east", sim)

    r = _add(releaf, "east", code, "acct-a")

    assert _one_line(r), r.err
    assert "customer code" in r.err
    assert releaf("feed", "list", "--json").json() == []
