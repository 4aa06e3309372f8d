"""`releaf server add` and `releaf feed ...`: refusals leave nothing behind."""

from __future__ import annotations

import pytest

from releaf_pipeline.simulator.fleet import Fleet, FleetConfig
from releaf_pipeline.simulator.server import Simulator

pytestmark = pytest.mark.e2e


def _servers(releaf) -> list:
    r = releaf("server", "list", "--json")
    assert r.code == 0
    return r.json()


def test_http_url_is_refused(home, sim, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url.replace("https", "http"))
    assert r.code != 0
    assert "https" in r.err and len(r.err.strip().splitlines()) == 1
    assert _servers(releaf) == []


def test_untrusted_certificate_is_refused(home, sim, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url)  # no CA bundle: system store
    assert r.code != 0
    assert "tls" in r.err.lower() and "CA bundle" in r.err
    assert _servers(releaf) == []


def test_other_servers_ca_is_refused(home, sim, releaf, monkeypatch, tmp_path):
    with Simulator(Fleet(FleetConfig(customers=1)), workdir=tmp_path / "other") as other:
        monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
        r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(other.ca_bundle))
    assert r.code != 0 and "tls" in r.err.lower()
    assert _servers(releaf) == []


def test_rejected_token_is_refused(home, sim, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", "wrong-token")
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code != 0 and "401" in r.err
    assert "wrong-token" not in r.err
    assert _servers(releaf) == []


def test_missing_token_is_refused(home, sim, releaf, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code != 0 and "RELEAF_DEALER_TOKEN" in r.err
    assert _servers(releaf) == []


def test_unreachable_server_is_refused(home, releaf, monkeypatch, tmp_path):
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", "t")
    r = releaf("server", "add", "east", "--url", "https://127.0.0.1:9")
    assert r.code != 0 and "unreachable" in r.err
    assert _servers(releaf) == []


@pytest.fixture
def registered(home, sim, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert r.code == 0, r.err
    assert "registered server east" in r.out and sim.token not in r.out
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    return sim


def test_server_list_shows_no_token(registered, releaf):
    (server,) = _servers(releaf)
    assert server["name"] == "east" and server["dealer_code"] == "D-1042"
    assert registered.token not in releaf("server", "list").out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "west"], "no server named 'west'"),
        (["--activation-date", "2026-13-01"], "YYYY-MM-DD"),
    ],
)
def test_feed_add_bad_input(registered, releaf, args, message):
    base = {
        "--server": "east",
        "--customer-code": registered.fleet.customer_codes[0],
        "--account": "acct-a",
        "--activation-date": "2026-09-01",
        "--scope": "all",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    r = releaf("feed", "add", *[x for kv in base.items() for x in kv])
    assert r.code != 0 and message in r.err and len(r.err.strip().splitlines()) == 1
    assert releaf("feed", "list", "--json").json() == []


def test_duplicate_feed_is_refused(registered, releaf):
    code = registered.fleet.customer_codes[0]
    args = ["feed", "add", "--server", "east", "--customer-code", code, "--account", "a",
            "--activation-date", "2026-09-01", "--scope", "all"]  # fmt: skip
    assert releaf(*args).code == 0
    r = releaf(*args)
    assert r.code != 0 and "already feeds account" in r.err
    assert len(releaf("feed", "list", "--json").json()) == 1


def test_feed_import_is_all_or_none_and_names_the_line(registered, releaf, tmp_path):
    codes = registered.fleet.customer_codes
    path = tmp_path / "feeds.csv"
    path.write_text(
        "server,customer_code,account,activation_date,scope\n"
        f"east,{codes[0]},acct-a,2026-09-01,all\n"
        f"east,{codes[1]},acct-b,2026-09-01,managed\n"
        f"east,{codes[2]},acct-c,2026-09-01,some\n"
    )
    r = releaf("feed", "import", str(path))
    assert r.code != 0 and "feeds.csv:4" in r.err and "scope" in r.err
    assert releaf("feed", "list", "--json").json() == []
    path.write_text(path.read_text().replace(",some", ",all"))
    assert releaf("feed", "import", str(path)).code == 0
    feeds = releaf("feed", "list", "--json").json()
    assert [f["account"] for f in feeds] == sorted(
        ["acct-a", "acct-b", "acct-c"], key=lambda a: codes[ord(a[-1]) - ord("a")]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["collect", "--start", "2026-9-1"], "YYYY-MM-DD"),
        (["collect", "--start", "2026-09-02", "--end", "2026-09-01"], "before --start"),
        (["collect", "--start", "2024-12-31"], "first partition"),
        (["report", "--month", "2026-9"], "YYYY-MM"),
    ],
)
def test_bad_dates_are_refused(home, releaf, monkeypatch, args, message):
    monkeypatch.setenv("RELEAF_NOW", "2026-10-01T03:00:00+00:00")
    r = releaf(*args)
    assert r.code != 0 and message in r.err and len(r.err.strip().splitlines()) == 1


def test_collect_refuses_a_day_not_over(home, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_NOW", "2026-10-01T03:00:00+00:00")
    r = releaf("collect", "--start", "2026-10-01")
    assert r.code != 0 and "2026-09-30" in r.err
