"""Text from a server, a user or the store never reaches a terminal, a log or a certificate
raw: escape sequences, line breaks and right-to-left overrides are shown escaped, and a
value of 10,000 characters is cut. `--json` keeps the exact values (JSON escapes them).

A store may hold such values from before they were refused at the door, so they are put
into the store as it is, and every output that shows them is read.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import date

import dagster as dg
import pytest

from releaf_pipeline.defs.collection.assets import meter_readings
from releaf_pipeline.defs.health.freshness import deposits_freshness_checks
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.defs.step_outputs import STEP_OUTPUTS_IO, step_outputs_io_manager
from releaf_pipeline.lib.certificates import (
    Certificate,
    certificate_id,
    certificate_subject,
    certificate_text,
)
from releaf_pipeline_tests.e2e.nights import register_feeds

pytestmark = pytest.mark.e2e

# Clears the screen, sets the window title, rings the bell; then reads backwards.
HOSTILE = "D-7\x1b[2J\x1b]0;pwned\x07\u202e1\u2066x\x9b\x7f"
ESCAPED = "D-7\\x1b[2J\\x1b]0;pwned\\x07\\u202e1\\u2066x\\x9b\\x7f"
RAW = ("\x1b", "\x07", "\u202e", "\u2066", "\x9b", "\x7f")


def _raw(text: str) -> list[str]:
    return [repr(ch) for ch in RAW if ch in text]


def _set(home, sql: str, *values: object) -> None:
    with sqlite3.connect(home / "releaf.db") as conn:
        conn.execute(sql, values)


@pytest.fixture
def registered(home, sim, fleet, releaf, monkeypatch):
    monkeypatch.setenv("RELEAF_NOW", "2026-10-01T09:00:00+00:00")
    code = fleet.customer_codes[0]
    register_feeds(releaf, sim, [(code, "acct-a", date(2026, 9, 1), "all")], monkeypatch)
    return code


def test_server_list_shows_a_stored_dealer_code_escaped_and_cut(home, registered, releaf):
    _set(home, "UPDATE servers SET dealer_code = ?", HOSTILE)
    r = releaf("server", "list")
    assert r.code == 0, r.err
    assert not _raw(r.out), _raw(r.out)
    assert ESCAPED in r.out
    # JSON is for scripts: the exact value, which JSON itself writes escaped.
    r = releaf("server", "list", "--json")
    assert not _raw(r.out)
    assert r.json()[0]["dealer_code"] == HOSTILE

    _set(home, "UPDATE servers SET dealer_code = ?", "D" * 10_000)
    r = releaf("server", "list")
    assert r.code == 0, r.err
    (row,) = [line for line in r.out.splitlines() if line.startswith("east")]
    assert "D" * 200 not in row and "D" * 150 + "…" in row, len(row)


def test_feed_list_shows_a_stored_customer_code_escaped(home, registered, releaf):
    _set(home, "UPDATE feeds SET customer_code = ?, account = ?", HOSTILE, "acct\nforged line")
    r = releaf("feed", "list")
    assert r.code == 0, r.err
    assert not _raw(r.out) and ESCAPED in r.out
    assert "acct\\x0aforged line" in r.out and "\nforged line" not in r.out, r.out


def test_an_error_quoting_user_input_shows_it_escaped(home, releaf):
    r = releaf("feed", "pause", "X\x1b]0;pwned\x07")
    assert r.code == 2
    assert r.err.count("\n") == 1 and not _raw(r.err), r.err
    assert "X\\x1b]0;pwned\\x07" in r.err

    r = releaf("feed", "pause", "Y" * 10_000)
    assert r.code == 2 and r.err.count("\n") == 1
    assert len(r.err) < 1000 and "…" in r.err, len(r.err)


def test_certificate_text_and_pdf_subject_show_names_escaped():
    account, name = "acct\x1b[2J", "Evil\u202e Corp\x1b]0;pwned\x07"
    start, end = date(2026, 9, 1), date(2026, 9, 30)
    cert = Certificate(
        id=certificate_id(account, start, end, 8333, 0), account=account,
        period_start=start, period_end=end, pages=8333, adjustment_pages=0,
        project_name="Project\x1b[31m", project_location="Oregon\u2067",
        issued_on=date(2026, 10, 1), account_name=name,
    )  # fmt: skip
    text = "\n".join(certificate_text(cert))
    assert not _raw(text) and "\x1b" not in certificate_subject(cert)
    assert "Evil\\u202e Corp\\x1b]0;pwned\\x07" in text
    assert "account acct\\x1b[2J" in text and "Project\\x1b[31m" in text

    long = Certificate(**{**cert.__dict__, "account_name": "N" * 10_000})
    (shown,) = [line for line in certificate_text(long) if line.startswith("NNN")]
    assert len(shown) == 100 and shown.endswith("…")


def test_the_runs_log_shows_a_stored_customer_code_escaped(home, registered, caplog):
    _set(home, "UPDATE feeds SET customer_code = ?", HOSTILE)
    instance = dg.DagsterInstance.ephemeral()
    caplog.set_level(logging.INFO)
    result = dg.materialize(
        [meter_readings, *deposits_freshness_checks],
        partition_key="2026-09-29",
        resources={
            "store": StoreResource(home=str(home)),
            "mpsmonitor": MPSMonitorResource(backoff_base_seconds=0.01, max_attempts=2),
            "clock": ClockResource(frozen_at="2026-10-01T09:00:00+00:00"),
            "rules": RulesResource(),
            STEP_OUTPUTS_IO: step_outputs_io_manager,
        },
        instance=instance,
        selection=[meter_readings.key],
    )
    assert result.success
    messages = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]
    ours = [m for m in messages if "D-7" in m]
    assert ours, messages
    assert all(not _raw(m) and ESCAPED in m for m in ours), ours
    # The library's own records (the collector's warning) are escaped as well.
    records = [r.getMessage() for r in caplog.records if r.name.startswith("releaf_pipeline")]
    quoting = [m for m in records if "D-7" in m]
    assert quoting and all(not _raw(m) for m in quoting), quoting
    assert json.dumps(quoting)
