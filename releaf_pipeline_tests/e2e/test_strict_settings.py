"""Settings and input checked for range and meaning, not only their characters, as a user
meets them (the installed script, in its own process): a cron that never fires, a `now`
outside any sane year, a look-back of a trillion days, a `dagster.yaml` Dagster cannot read,
digits of another script, a CA bundle with megabytes appended. Each is refused at start-up
in one line naming what is wrong and what is accepted, and the store stays as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from releaf_pipeline_tests.e2e import test_cli_bad_input
from releaf_pipeline_tests.e2e.test_cli_bad_input import NOISE, World

pytestmark = pytest.mark.e2e

# The bad-input tests' home: a server, two feeds and two collected days.
world = test_cli_bad_input.world
# Digits of other scripts: full-width and Arabic-Indic.
WIDE_2026 = "\uff12\uff10\uff12\uff16"
WIDE_120 = "\uff11\uff12\uff10"
WIDE_3000 = "\uff13\uff10\uff10\uff10"
ARABIC_09 = "\u0660\u0669"

NIGHT = ("nightly", "--date", "2026-10-11")
COLLECT = ("collect", "--start", "2026-10-11")

SETTINGS = [
    ("RELEAF_NIGHTLY_CRON", "61 2 * * *", "fires at least once a year"),
    ("RELEAF_NIGHTLY_CRON", "0 2 31 2 *", "fires at least once a year"),
    ("RELEAF_NIGHTLY_CRON", "0 2 31 4 *", "fires at least once a year"),
    ("RELEAF_FRESHNESS_DEADLINE_CRON", "0 8 30 2 *", "fires at least once a year"),
    ("RELEAF_NOW", "0001-01-01T00:00", "from 2000-01-01 to 2100-12-31"),
    ("RELEAF_NOW", "9999-12-31T23:00", "from 2000-01-01 to 2100-12-31"),
    ("RELEAF_CATCHUP_LOOKBACK_DAYS", "1000000000000", "from 1 to 366"),
    ("RELEAF_CERTIFICATE_GRACE_DAYS", "1000000000000", "from 0 to 90"),
    ("RELEAF_CATCHUP_SECONDS", WIDE_120, "from 1 to 86,400"),
    ("RELEAF_HEALTH_CHECK_SECONDS", "99999999999999999999", "from 1 to 86,400"),
    ("RELEAF_ALERT_WEBHOOK_URL", "http://chat.example.com/hooks/T0K3N", "must be an https://"),
    ("RELEAF_ALERT_SMTP_URL", "smtp//relay.example.com", "must be smtp://[user:password@]"),
]


def _refused(world: World, args: tuple[str, ...], env: dict[str, str] | None = None):
    before = world.state()
    done = world.run(args, env)
    shown = f"stdout={done.stdout!r} stderr={done.stderr!r}"
    assert done.returncode == 2, shown
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("releaf: error: "), shown
    assert "a bug in releaf" not in done.stderr and not NOISE.search(done.stderr), shown
    assert world.state() == before, shown
    return lines[0]


@pytest.mark.parametrize(("name", "value", "accepted"), SETTINGS, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("args", [NIGHT, COLLECT], ids=["nightly", "collect"])
def test_a_setting_out_of_range_is_refused_before_anything_is_written(
    world: World, args, name, value, accepted
):
    line = _refused(world, args, {name: value})
    assert name in line and accepted in line, line


def test_an_email_address_without_at_is_refused_naming_its_variable(world: World):
    env = {
        "RELEAF_ALERT_SMTP_URL": "smtp://bot:s3cret@relay.example.com",
        "RELEAF_ALERT_EMAIL_FROM": "releaf@example.com",
        "RELEAF_ALERT_EMAIL_TO": "ops@example.com,oncall.example.com",
    }
    line = _refused(world, NIGHT, env)
    assert "RELEAF_ALERT_EMAIL_TO must be email addresses" in line and "s3cret" not in line


@contextmanager
def _instance_file(world: World, text: str) -> Iterator[None]:
    path = world.home / "dagster.yaml"
    saved = path.read_text()
    path.write_text(text)
    try:
        yield
    finally:
        path.write_text(saved)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("telemetry: [enabled\n  : x:\n", "is not YAML at line 2"),
        ("telemetry:\n  enabled: false\nno_such_key: 1\n", 'unexpected config entry "no_such_key"'),
    ],
    ids=["unparsable", "unknown key"],
)
@pytest.mark.parametrize("args", [NIGHT, COLLECT], ids=["nightly", "collect"])
def test_an_instance_file_dagster_cannot_read_is_one_line(world: World, args, text, said):
    with _instance_file(world, text):
        line = _refused(world, args)
    assert str(world.home / "dagster.yaml") in line and said in line, line


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--month", f"{WIDE_2026}-09"),
        ("certificates", "list", "--month", f"{WIDE_2026}-10"),
        ("report", "--month", f"2026-{ARABIC_09}"),
    ],
    ids=["report", "certificates list", "arabic-indic month"],
)
def test_digits_of_another_script_are_refused(world: World, args):
    line = _refused(world, args)
    assert "YYYY-MM" in line, line


def test_a_port_in_digits_of_another_script_is_refused(home, releaf, monkeypatch):
    def started(*args, **kwargs):
        raise AssertionError("the demo started")

    monkeypatch.setattr("releaf_pipeline.demo.run_demo", started)
    r = releaf("demo", "--no-ui", "--port", WIDE_3000)
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert "digits 0-9" in r.err


def _stored_bundle(world: World, name: str) -> str | None:
    with sqlite3.connect(world.home / "releaf.db") as conn:
        row = conn.execute("SELECT ca_bundle_pem FROM servers WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def test_a_ca_bundle_over_1_mib_is_refused(world: World, tmp_path):
    big = tmp_path / "big.pem"
    with big.open("w") as fh:
        fh.write(world.sim.ca_bundle.read_text())
        fh.write("junk " * 400_000)  # 2 MB after the certificate
    line = _refused(
        world,
        ("server", "update", "east", "--ca-bundle", str(big)),
        {"RELEAF_DEALER_TOKEN": "{token}"},
    )
    assert "over 1 MiB" in line and str(big) in line, line


def test_a_ca_bundle_is_stored_as_its_certificates_alone(world: World, tmp_path):
    pem = world.sim.ca_bundle.read_text()
    noisy = tmp_path / "noisy.pem"
    noisy.write_text(f"# the simulator's CA\nsubject=CN = sim\n{pem}\n" + "junk\n" * 20_000)
    done = world.run(
        ("server", "update", "east", "--ca-bundle", str(noisy)),
        {"RELEAF_DEALER_TOKEN": "{token}"},
    )
    assert done.returncode == 0, done.stderr
    assert _stored_bundle(world, "east") == pem.strip() + "\n"
