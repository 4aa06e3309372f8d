"""The alert channels' settings: what is accepted, and bad values refused in one line that
names the variable and never repeats a password or a webhook's path."""

from __future__ import annotations

import pytest

from releaf_pipeline.lib.alerts.config import AlertSettingsError, read_alert_settings

MAIL = {"RELEAF_ALERT_EMAIL_FROM": "releaf@example.com", "RELEAF_ALERT_EMAIL_TO": "ops@example.com"}


def test_no_setting_configures_no_channel():
    settings = read_alert_settings({})
    assert not settings.configured and settings.smtp is None and settings.webhook is None


def test_smtp_url_forms():
    s = read_alert_settings({"RELEAF_ALERT_SMTP_URL": "smtp://relay.example.com", **MAIL}).smtp
    assert (s.scheme, s.host, s.port, s.username, s.password) == (
        "smtp", "relay.example.com", 587, None, None,
    )  # fmt: skip
    s = read_alert_settings(
        {"RELEAF_ALERT_SMTP_URL": "smtps://alerts%40example.com:p%40ss@mail.example.com", **MAIL}
    ).smtp
    assert (s.scheme, s.port, s.username) == ("smtps", 465, "alerts@example.com")
    assert s.password.get_secret_value() == "p@ss" and "p@ss" not in repr(s)
    s = read_alert_settings(
        {"RELEAF_ALERT_SMTP_URL": "smtp://bot@127.0.0.1:2525",
         "RELEAF_ALERT_SMTP_PASSWORD": "from-env", **MAIL,
         "RELEAF_ALERT_EMAIL_TO": "a@example.com, b@example.org"}
    ).smtp  # fmt: skip
    assert s.port == 2525 and s.password.get_secret_value() == "from-env"
    assert s.recipients == ("a@example.com", "b@example.org")


def test_webhook_settings(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    w = read_alert_settings(
        {"RELEAF_ALERT_WEBHOOK_URL": "https://chat.example.com/hooks/T0K3N",
         "RELEAF_ALERT_WEBHOOK_CA_BUNDLE": str(ca), "RELEAF_UI_URL": "https://dagster.example.com/"}
    )  # fmt: skip
    assert w.webhook.host == "chat.example.com" and w.webhook.ca_bundle == ca
    assert "T0K3N" not in repr(w) and "T0K3N" not in w.webhook.name
    assert w.ui_url == "https://dagster.example.com"


@pytest.mark.parametrize(
    ("env", "names", "hidden"),
    [
        ({"RELEAF_ALERT_WEBHOOK_URL": "http://chat.example.com/hooks/T0K3N"},
         "RELEAF_ALERT_WEBHOOK_URL must be an https:// URL", "T0K3N"),
        ({"RELEAF_ALERT_WEBHOOK_URL": "chat.example.com/hooks/T0K3N"},
         "RELEAF_ALERT_WEBHOOK_URL must be an https:// URL", "T0K3N"),
        ({"RELEAF_ALERT_SMTP_URL": "mailto://u:s3cret@host", **MAIL},
         "RELEAF_ALERT_SMTP_URL must be smtp://", "s3cret"),
        ({"RELEAF_ALERT_SMTP_URL": "smtp://u:s3cret@host:99999", **MAIL},
         "RELEAF_ALERT_SMTP_URL has a port", "s3cret"),
        ({"RELEAF_ALERT_SMTP_URL": "smtp://u:s3cret@/", **MAIL},
         "RELEAF_ALERT_SMTP_URL must be smtp://", "s3cret"),
        ({"RELEAF_ALERT_SMTP_URL": "smtp://h", **MAIL, "RELEAF_ALERT_EMAIL_TO": "ops.example.com"},
         "RELEAF_ALERT_EMAIL_TO must be email addresses", None),
        ({"RELEAF_ALERT_SMTP_URL": "smtp://host", **MAIL, "RELEAF_ALERT_EMAIL_FROM": "releaf"},
         "RELEAF_ALERT_EMAIL_FROM must be email addresses", None),
        ({"RELEAF_ALERT_SMTP_URL": "smtp://host", "RELEAF_ALERT_EMAIL_TO": "ops@example.com"},
         "set RELEAF_ALERT_EMAIL_FROM and RELEAF_ALERT_EMAIL_TO", None),
        (MAIL, "RELEAF_ALERT_EMAIL_FROM is set but RELEAF_ALERT_SMTP_URL is not", None),
        ({"RELEAF_ALERT_SMTP_URL": "smtp://host", "RELEAF_ALERT_SMTP_PASSWORD": "pw", **MAIL},
         "names no user", "pw"),
        ({"RELEAF_ALERT_WEBHOOK_URL": "https://chat.example.com/h",
          "RELEAF_ALERT_WEBHOOK_CA_BUNDLE": "/nowhere/ca.pem"},
         "RELEAF_ALERT_WEBHOOK_CA_BUNDLE names no file", None),
        ({"RELEAF_UI_URL": "dagster.example.com"}, "RELEAF_UI_URL must be", None),
        ({"RELEAF_ALERT_SMTP_URL": "smtp://bot:p%C3%A4ss@host", **MAIL},
         "user and password must be ASCII", "päss"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_in_one_line(env, names, hidden):
    with pytest.raises(AlertSettingsError) as refused:
        read_alert_settings(env)
    message = str(refused.value)
    assert names in message and "\n" not in message
    if hidden:
        assert hidden not in message
