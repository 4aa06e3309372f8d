"""The home's settings file: every process on a DAGSTER_HOME reads `releaf.env` there, so
the webserver, the daemon, `dg dev` and `releaf` agree without being told; the
environment wins over it, and a mistake in it is refused in one line naming the file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from releaf_pipeline.settings import SettingsError, read_settings


def _home(tmp_path: Path, text: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "releaf.env").write_text(text)
    return {"DAGSTER_HOME": str(home)}


def test_the_home_file_sets_what_the_environment_leaves_unset(tmp_path):
    env = _home(
        tmp_path,
        "# written by the demo\nRELEAF_PARTITIONS_START=2026-11-01\n"
        "export RELEAF_CATCHUP_SECONDS='30'\n",
    )
    settings = read_settings(env)
    assert settings.partitions_start == date(2026, 11, 1)
    assert settings.catchup_seconds == 30
    # A variable set in the environment wins; one set empty does not.
    over = read_settings(
        {**env, "RELEAF_PARTITIONS_START": "2026-10-01", "RELEAF_CATCHUP_SECONDS": ""}
    )
    assert over.partitions_start == date(2026, 10, 1)
    assert over.catchup_seconds == 30


def test_a_process_started_with_only_the_home_sees_its_partitions(tmp_path):
    """What the webserver and the daemon load: the partitions from the home's file."""
    env = _home(tmp_path, "RELEAF_PARTITIONS_START=2026-11-01\n")
    script = (
        "from releaf_pipeline.defs.partitions import daily_partitions, monthly_partitions\n"
        "print(daily_partitions.get_first_partition_key(),"
        " monthly_partitions.get_first_partition_key())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env={**_clean_environ(), **env},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["2026-11-01", "2026-11-01"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("RELEAF_PARTITION_START=2026-11-01\n", "line 1: RELEAF_PARTITION_START is not a setting"),
        ("# ok\nRELEAF_PARTITIONS_START 2026-11-01\n", "line 2: write it as RELEAF_NAME=VALUE"),
        ("DAGSTER_HOME=/elsewhere\n", "line 1: DAGSTER_HOME is not a setting"),
        ("RELEAF_PARTITIONS_START=2026-13-01\n", "RELEAF_PARTITIONS_START must be a date"),
    ],
)
def test_a_mistake_in_the_file_is_refused_naming_it(tmp_path, text, said):
    env = _home(tmp_path, text)
    with pytest.raises(SettingsError) as refused:
        read_settings(env)
    message = str(refused.value)
    assert message.startswith(str(tmp_path / "home" / "releaf.env")), message
    assert said in message and "\n" not in message


def test_writing_a_setting_keeps_the_other_lines(tmp_path):
    from releaf_pipeline.settings import write_setting

    env = _home(tmp_path, "# mine\nRELEAF_CATCHUP_SECONDS=30\nRELEAF_PARTITIONS_START=2020-01-01")
    home = Path(env["DAGSTER_HOME"])
    write_setting(home, "RELEAF_PARTITIONS_START", "2026-11-01")
    assert (home / "releaf.env").read_text() == (
        "# mine\nRELEAF_CATCHUP_SECONDS=30\nRELEAF_PARTITIONS_START=2026-11-01\n"
    )
    assert read_settings(env).partitions_start == date(2026, 11, 1)


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("RELEAF_", "DAGSTER_"))}


def test_no_secret_setting_shows_in_the_settings_repr(tmp_path):
    from releaf_pipeline.settings import read_settings

    secrets = {
        "RELEAF_SECRET_KEY": "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk9",
        "RELEAF_DEALER_TOKEN": "dealer-t0ken-XYZ",
        "RELEAF_DATABASE_URL": "postgresql+psycopg2://releaf:db-pa55word@db.example.com/releaf",
        "RELEAF_ALERT_SMTP_URL": "smtp://bot:smtp-pa55@relay.example.com",
        "RELEAF_ALERT_EMAIL_FROM": "releaf@example.com",
        "RELEAF_ALERT_EMAIL_TO": "ops@example.com",
        "RELEAF_ALERT_WEBHOOK_URL": "https://chat.example.com/hooks/H00K-T0KEN",
    }
    settings = read_settings({"DAGSTER_HOME": str(tmp_path), **secrets})
    shown = f"{settings!r} {settings!s} {settings.alerts!r}"
    for value in ("c2VjcmV0LWtleS1", "dealer-t0ken", "db-pa55word", "smtp-pa55", "H00K-T0KEN"):
        assert value not in shown, value
    assert settings.dealer_token.get_secret_value() == "dealer-t0ken-XYZ"  # kept, only not shown
