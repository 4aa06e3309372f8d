"""What a person reads in a terminal: aligned tables with words, not `True`/`None`, times to
the second in UTC, thousands separators, the CA bundle by its fingerprint; feeds of an
unhealthy server shown paused, and a night that leaves feeds paused exits 1 saying so.
`--json` keeps its keys and values."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from releaf_pipeline_tests.e2e.nights import live_nights, register_feeds

pytestmark = pytest.mark.e2e

FIRST_NIGHT = date(2026, 9, 29)
MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
PYTHON_WORDS = re.compile(r"\b(True|False|None)\b")
OLD_FEED_KEYS = [
    "server", "customer_code", "account", "activation_date", "scope", "synced_through",
    "healthy", "health_since", "last_data", "health_reason",
]  # fmt: skip
OLD_SERVER_KEYS = [
    "name", "url", "dealer_code", "ca_bundle", "healthy", "health_since", "health_reason",
]  # fmt: skip


def _feeds(fleet) -> list[tuple[str, str, date, str]]:
    _, resetting, adding, _ = fleet.customer_codes
    return [
        (resetting, "acct-a", date(2026, 9, 1), "all"),
        (adding, "acct-b", date(2026, 9, 1), "managed"),
    ]


def _moment(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else ""


def _table(out: str, headers: list[str]) -> list[str]:
    """The lines of the table under `headers` in `out`: header, rule, rows."""
    lines = out.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.split()[:1] == headers[0].split()[:1]]
    table = [lines[at], lines[at + 1]]
    assert set(table[1]) <= set("─-"), table[1]
    for line in lines[at + 2 :]:
        if not line.strip():
            break
        table.append(line)
    return table


def assert_table(
    out: str, headers: list[str], rows: list[list[str]], right: frozenset[str] = frozenset()
) -> None:
    """`out` holds a plain table of `headers` and exactly `rows`, every cell aligned under
    its header: left-aligned cells start where the header starts, numbers (`right`) end
    where it ends."""
    assert "\x1b[" not in out, "colour codes in piped output"
    header, _, *lines = _table(out, headers)
    assert len(lines) == len(rows), lines
    starts, pos = [], 0
    for head in headers:
        pos = header.index(head, pos)
        starts.append(pos)
        pos += len(head)
    assert header.rstrip() == header
    for line, cells in zip(lines, rows, strict=True):
        assert line.rstrip() == line, f"trailing spaces: {line!r}"
        for head, start, cell in zip(headers, starts, cells, strict=True):
            if not cell:
                continue
            if head in right:
                end = start + len(head)
                assert line[end - len(cell) : end] == cell, (head, cell, line)
            else:
                assert line[start : start + len(cell)] == cell, (head, cell, line)
                assert start == 0 or line[start - 1] == " ", (head, line)


def test_lists_report_and_certificates_read_as_words(
    home, sim, fleet, releaf, monkeypatch, tmp_path
):
    monkeypatch.setenv("RELEAF_CERTIFICATES_DIR", str(tmp_path / "certs"))
    sim.set_today(FIRST_NIGHT)
    register_feeds(releaf, sim, _feeds(fleet), monkeypatch)

    # Registered, not yet checked by the health sensor: words, not None.
    r = releaf("server", "list")
    assert r.code == 0 and not PYTHON_WORDS.search(r.out), r.out

    live_nights(releaf, sim, FIRST_NIGHT, date(2026, 9, 30))
    monkeypatch.setenv("RELEAF_NOW", "2026-10-01T09:00:00+00:00")

    # server list: the CA bundle by the SHA-256 of its certificate, health as a word,
    # since when to the second.
    servers = releaf("server", "list", "--json").json()
    (server,) = servers
    assert list(server)[: len(OLD_SERVER_KEYS)] == OLD_SERVER_KEYS
    assert server["ca_bundle"] is True and server["healthy"] is True
    assert server["state"] == "healthy"
    cert = x509.load_pem_x509_certificate(sim.ca_bundle.read_bytes())
    digest = cert.fingerprint(hashes.SHA256()).hex()
    assert server["ca_bundle_sha256"] == digest
    r = releaf("server", "list")
    assert r.code == 0 and not PYTHON_WORDS.search(r.out), r.out
    headers = ["server", "url", "dealer", "CA bundle", "health", "since", "why", "next"]
    assert_table(r.out, headers, [[
        "east", server["url"], server["dealer_code"], f"sha256:{digest[:16]}…", "healthy",
        _moment(server["health_since"]), "", server["next"],
    ]])  # fmt: skip
    assert MOMENT.search(r.out) and not re.search(r"\d\d:\d\d:\d\d\.\d", r.out)

    # feed list: collected through the night's day, state and what happens next.
    feeds = releaf("feed", "list", "--json").json()
    assert [list(f)[: len(OLD_FEED_KEYS)] for f in feeds] == [OLD_FEED_KEYS] * 2
    assert {f["state"] for f in feeds} == {"collecting"}
    r = releaf("feed", "list")
    assert r.code == 0 and not PYTHON_WORDS.search(r.out), r.out
    headers = ["server", "customer", "account", "scope", "active from", "collected through",
               "last data", "state", "since", "why", "next"]  # fmt: skip
    assert_table(r.out, headers, [
        [f["server"], f["customer_code"], f["account"], f["scope"], f["activation_date"],
         f["synced_through"], f["last_data"], f["state"], f["state_since"], "", f["next"]]
        for f in feeds
    ])  # fmt: skip

    # report: pages with thousands separators, trees to 2 decimals, the certificate.
    month = releaf("report", "--month", "2026-09", "--json").json()
    assert all(a["pages"] >= 1000 for a in month["accounts"])
    r = releaf("report", "--month", "2026-09")
    assert r.code == 0 and not PYTHON_WORDS.search(r.out), r.out
    assert_table(
        r.out,
        ["account", "pages", "trees", "days", "certificate"],
        [[a["account"], f"{a['pages']:,}", f"{a['trees']:.2f}", str(len(a["days"])),
          a["certificate"] or "not issued"] for a in month["accounts"]],
        right=frozenset({"pages", "trees", "days"}),
    )  # fmt: skip

    # certificates list: September closed on the night of the 30th.
    certs = releaf("certificates", "list", "--json").json()
    assert {c["month"] for c in certs} == {"2026-09"} and len(certs) == 2
    r = releaf("certificates", "list")
    assert r.code == 0 and not PYTHON_WORDS.search(r.out), r.out
    headers = ["id", "account", "month", "pages", "adjustment", "trees", "issued", "pdf"]
    assert_table(
        r.out,
        headers,
        [[c["id"], c["account"], c["month"], f"{c['pages']:,}", "", f"{c['trees']:.2f}",
          c["issued_on"], c["pdf"]] for c in certs],
        right=frozenset({"pages", "adjustment", "trees"}),
    )  # fmt: skip


def test_a_night_with_the_server_down_exits_1_and_feeds_show_paused(
    home, sim, fleet, releaf, monkeypatch
):
    feeds = _feeds(fleet)
    sim.set_today(FIRST_NIGHT)
    register_feeds(releaf, sim, feeds, monkeypatch)
    live_nights(releaf, sim, FIRST_NIGHT, FIRST_NIGHT)

    # The night of Sep 30 with the server down: exit 1, one line per feed, with the day,
    # the status, why, and what happens next.
    down = date(2026, 9, 30)
    sim.set_outage(True)
    r = releaf("nightly", "--date", down.isoformat())
    assert r.code == 1, (r.out, r.err)
    assert "as of 2026-10-01 02:00:00 UTC" in r.out
    problems = [line for line in r.err.splitlines() if line.startswith("feed ")]
    assert sorted(problems) == problems and len(problems) == 2, r.err
    for (code, *_), line in zip(sorted(feeds), problems, strict=True):
        assert line.startswith(f"feed {code} on east: 2026-09-30 paused: "), line
        assert line.endswith(
            "; next: re-collected by the catch-up sensor once east passes its health check"
        ), line

    monkeypatch.setenv("RELEAF_NOW", "2026-10-01T09:00:00+00:00")
    (server,) = releaf("server", "list", "--json").json()
    assert (server["healthy"], server["state"]) == (False, "unhealthy")
    r = releaf("server", "list")
    assert "unhealthy" in r.out and "its feeds are paused" in r.out
    listed = releaf("feed", "list", "--json").json()
    assert {f["state"] for f in listed} == {"paused"}
    assert all(f["state_reason"].startswith("server east is unhealthy: ") for f in listed)
    assert all(f["next"] == "re-collect 2026-09-30 once east answers its health check"
               for f in listed)  # fmt: skip
    r = releaf("feed", "list")
    assert r.code == 0 and r.out.count(" paused ") == 2, r.out
    assert "re-collect 2026-09-30 once east answers its health check" in r.out

    # The server is back: the next night re-collects the paused day and exits 0.
    monkeypatch.delenv("RELEAF_NOW")
    live_nights(releaf, sim, date(2026, 10, 1), date(2026, 10, 1))
    monkeypatch.setenv("RELEAF_NOW", "2026-10-02T09:00:00+00:00")
    assert {f["state"] for f in releaf("feed", "list", "--json").json()} == {"collecting"}
