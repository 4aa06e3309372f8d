"""`releaf server add` and `releaf feed ...`: refusals leave nothing behind."""

from __future__ import annotations

from datetime import date

import pytest

from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
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


def _account_names() -> dict[str, str]:
    from releaf_pipeline.app import App
    from releaf_pipeline.lib.store.accounts import account_names

    app = App()
    try:
        return account_names(app.engine)
    finally:
        app.close()


def _feed_add(releaf, code: str, account: str, *extra: str):
    return releaf(
        "feed", "add", "--server", "east", "--customer-code", code, "--account", account,
        "--activation-date", "2026-09-01", "--scope", "all", *extra,
    )  # fmt: skip


def test_feed_add_names_the_account(registered, releaf):
    codes = registered.fleet.customer_codes
    r = _feed_add(releaf, codes[0], "acct-a", "--account-name", "  Café Ødegård ")
    assert r.code == 0, r.err
    assert "acct-a (Café Ødegård)" in r.out
    assert _account_names() == {"acct-a": "Café Ødegård"}
    # Without the option the name stays; with another, it is replaced.
    assert _feed_add(releaf, codes[1], "acct-a").code == 0
    assert _account_names() == {"acct-a": "Café Ødegård"}
    assert _feed_add(releaf, codes[2], "acct-a", "--account-name", "Łódź Print").code == 0
    assert _account_names() == {"acct-a": "Łódź Print"}
    # `feed list --json` is as it was, plus the feed's state as the fleet sees it.
    assert set(releaf("feed", "list", "--json").json()[0]) == {
        "server", "customer_code", "account", "activation_date", "scope", "synced_through",
        "healthy", "health_since", "last_data", "health_reason",
        "state", "state_since", "state_reason", "next",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme\x07Corp", "control characters"),
        ("Acme\nCorp", "control characters"),
        ("Acme\tCorp", "control characters"),
        ("x" * 101, "at most 100 characters, got 101"),
        ("   ", "the account name is empty"),
    ],
)
def test_feed_add_refuses_a_bad_account_name(registered, releaf, name, message):
    code = registered.fleet.customer_codes[0]
    r = _feed_add(releaf, code, "acct-a", "--account-name", name)
    assert r.code != 0 and message in r.err and len(r.err.strip().splitlines()) == 1
    assert releaf("feed", "list", "--json").json() == []
    assert _account_names() == {}


def test_feed_import_takes_an_optional_account_name_column(registered, releaf, tmp_path):
    codes = registered.fleet.customer_codes
    path = tmp_path / "feeds.csv"
    path.write_text(
        "server,customer_code,account,activation_date,scope,account_name\n"
        f'east,{codes[0]},acct-a,2026-09-01,all,"Acme, Inc."\n'
        f"east,{codes[1]},acct-a,2026-09-01,all,\n"
        f"east,{codes[2]},acct-b,2026-09-01,managed, Δάσος Φωτοτυπιών \n",
        # As a spreadsheet saves CSV UTF-8: with a byte-order mark.
        encoding="utf-8-sig",
    )
    r = releaf("feed", "import", str(path))
    assert r.code == 0, r.err
    assert _account_names() == {"acct-a": "Acme, Inc.", "acct-b": "Δάσος Φωτοτυπιών"}
    assert len(releaf("feed", "list", "--json").json()) == 3
    # The five-column file still imports, and leaves the names alone.
    five = tmp_path / "five.csv"
    five.write_text(
        f"server,customer_code,account,activation_date,scope\neast,{codes[3]},acct-a,2026-09-01,all\n"
    )
    assert releaf("feed", "import", str(five)).code == 0
    assert _account_names() == {"acct-a": "Acme, Inc.", "acct-b": "Δάσος Φωτοτυπιών"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ('east,{0},acct-a,2026-09-01,all,Acme\neast,{1},acct-b,2026-09-01,all,"Bad\x1bName"\n',
         "feeds.csv:3: the account name must be printable text, without control characters"),
        ('east,{0},acct-a,2026-09-01,all,"Two\nLines"\n', "feeds.csv:3: the account name"),
        ("east,{0},acct-a,2026-09-01,all," + "x" * 101 + "\n",
         "feeds.csv:2: the account name must be at most 100 characters"),
        ("east,{0},acct-a,2026-09-01,all,Acme\neast,{1},acct-a,2026-09-01,all,Acne\n",
         "feeds.csv:3: account 'acct-a' is given two names, 'Acme' and 'Acne' "
         "(nothing was imported)"),
        ("east,{0},acct-a,2026-09-01,all\n", "feeds.csv:2: expected 6 columns"),
    ],
)  # fmt: skip
def test_feed_import_refuses_bad_account_names(registered, releaf, tmp_path, rows, message):
    codes = registered.fleet.customer_codes
    path = tmp_path / "feeds.csv"
    path.write_text(
        "server,customer_code,account,activation_date,scope,account_name\n" + rows.format(*codes)
    )
    r = releaf("feed", "import", str(path))
    assert r.code != 0 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert releaf("feed", "list", "--json").json() == []
    assert _account_names() == {}


def test_feed_import_refuses_a_file_not_in_utf8(registered, releaf, tmp_path):
    path = tmp_path / "feeds.csv"
    code = registered.fleet.customer_codes[0]
    path.write_bytes(
        "server,customer_code,account,activation_date,scope,account_name\n"
        f"east,{code},acct-a,2026-09-01,all,Café\n".encode("latin-1")
    )
    r = releaf("feed", "import", str(path))
    assert r.code != 0 and "UTF-8" in r.err and len(r.err.strip().splitlines()) == 1
    assert releaf("feed", "list", "--json").json() == []


def test_feed_import_refuses_another_header(registered, releaf, tmp_path):
    path = tmp_path / "feeds.csv"
    code = registered.fleet.customer_codes[0]
    path.write_text(
        f"server,customer_code,account,activation_date,scope,name\neast,{code},a,2026-09-01,all,A\n"
    )
    r = releaf("feed", "import", str(path))
    assert r.code != 0 and len(r.err.strip().splitlines()) == 1
    assert "server,customer_code,account,activation_date,scope[,account_name]" in r.err
    assert releaf("feed", "list", "--json").json() == []


def test_the_certificate_shows_the_name_it_was_issued_with(
    registered, releaf, monkeypatch, tmp_path
):
    from releaf_pipeline.app import App
    from releaf_pipeline.lib.certificates import ForestryProject
    from releaf_pipeline.lib.monthly_close import issue_certificates

    code = registered.fleet.customer_codes[0]
    assert _feed_add(releaf, code, "acct-a", "--account-name", "Acme Corp").code == 0
    app = App()
    try:
        # Nothing was collected: September closes by grace, with what is known.
        (issued,), _ = issue_certificates(
            app.engine, "2026-09", today=date(2026, 10, 11), now=app.now,
            project=ForestryProject("P", "L"), directory=tmp_path / "certs",
        )  # fmt: skip
    finally:
        app.close()
    cert_id = issued.certificate.id
    # Renamed after the certificate was issued.
    assert _feed_add(releaf, registered.fleet.customer_codes[1], "acct-a", "--account-name",
                     "Acme Corporation").code == 0  # fmt: skip
    shown = releaf("certificates", "show", cert_id)
    assert shown.code == 0, shown.err
    assert shown.out.splitlines()[1:3] == ["Acme Corp", "account acct-a"]
    assert "Acme Corporation" not in shown.out
    (listed,) = releaf("certificates", "list", "--json").json()
    assert listed["account"] == "acct-a"
    assert set(listed) == {
        "id", "account", "month", "period_start", "period_end", "pages", "adjustment_pages",
        "credited_pages", "trees", "project", "project_location", "issued_on", "closed_by",
        "pdf",
    }  # fmt: skip
    report = releaf("report", "--month", "2026-09", "--json").json()
    assert set(report) == {"month", "accounts"}
