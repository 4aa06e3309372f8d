"""Where alerts go: the channels the RELEAF_ALERT_* settings configure, read and validated.

A value the pipeline cannot use is refused with one line naming the variable. Secrets (the
SMTP password, a webhook URL, which often carries its own token) are pydantic's
`SecretStr`: they show as `**********` in any repr or log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import SecretStr

SMTP_PORT = 587
"""`smtp://`'s port when the URL names none: mail submission, with STARTTLS."""
SMTPS_PORT = 465
"""`smtps://`'s port when the URL names none: implicit TLS."""


@dataclass(frozen=True)
class SmtpChannel:
    """Email over SMTP: `smtp` upgrades with STARTTLS (plain only to a loopback relay),
    `smtps` speaks TLS from the start."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: SecretStr | None
    sender: str
    recipients: tuple[str, ...]

    @property
    def name(self) -> str:
        """How the channel is named to a person: never with its password."""
        return f"email to {', '.join(self.recipients)} via {self.host}:{self.port}"


@dataclass(frozen=True)
class WebhookChannel:
    """A chat webhook: an HTTPS URL that is POSTed JSON with a `text` field."""

    url: SecretStr
    ca_bundle: Path | None

    @property
    def host(self) -> str:
        """The URL's host: what is shown of it (its path may carry a token)."""
        return urlsplit(self.url.get_secret_value()).hostname or ""

    @property
    def name(self) -> str:
        """How the channel is named to a person: its host only."""
        return f"webhook at {self.host}"


@dataclass(frozen=True)
class AlertSettings:
    """The configured channels (none, either or both), and the Dagster UI messages link."""

    smtp: SmtpChannel | None = None
    webhook: WebhookChannel | None = None
    ui_url: str | None = None

    @property
    def configured(self) -> bool:
        """Whether any channel is configured: with none, nothing is said."""
        return self.smtp is not None or self.webhook is not None


SMTP_URL, SMTP_PASSWORD = "RELEAF_ALERT_SMTP_URL", "RELEAF_ALERT_SMTP_PASSWORD"
EMAIL_FROM, EMAIL_TO = "RELEAF_ALERT_EMAIL_FROM", "RELEAF_ALERT_EMAIL_TO"
WEBHOOK_URL, WEBHOOK_CA = "RELEAF_ALERT_WEBHOOK_URL", "RELEAF_ALERT_WEBHOOK_CA_BUNDLE"
UI_URL = "RELEAF_UI_URL"
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+")


class AlertSettingsError(ValueError):
    """An alert setting the pipeline cannot use; the message starts with the variable."""


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _address(name: str, raw: str) -> str:
    if not _ADDRESS.fullmatch(raw):
        raise AlertSettingsError(
            f"{name} must be email addresses such as ops@example.com, got {raw!r}"
        )
    return raw


def _port(name: str, parts: SplitResult, default: int) -> int:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise AlertSettingsError(f"{name} has a port that is not a number from 1 to 65535")
    return port or default


def _smtp(env: Mapping[str, str]) -> SmtpChannel | None:
    raw, sender, to = _get(env, SMTP_URL), _get(env, EMAIL_FROM), _get(env, EMAIL_TO)
    if not raw:
        for name in (EMAIL_FROM, EMAIL_TO, SMTP_PASSWORD):
            if _get(env, name):
                raise AlertSettingsError(f"{name} is set but {SMTP_URL} is not: set both")
        return None
    shape = (
        f"{SMTP_URL} must be smtp://[user:password@]host[:port] (STARTTLS) or "
        "smtps://[user:password@]host[:port] (TLS)"
    )
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        # Not repeated: it may hold a password.
        raise AlertSettingsError(shape)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise AlertSettingsError(f"{shape}, with no path or query")
    port = _port(SMTP_URL, parts, SMTPS_PORT if parts.scheme == "smtps" else SMTP_PORT)
    username = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else _get(env, SMTP_PASSWORD)
    if not (username or "").isascii() or not secret.isascii():
        # smtplib logs in with ASCII only: refused now rather than at the first alert.
        raise AlertSettingsError(f"{SMTP_URL}: the SMTP user and password must be ASCII")
    if secret and not username:
        raise AlertSettingsError(f"{SMTP_URL} names no user for the password: smtp://USER@host")
    if not sender or not to:
        raise AlertSettingsError(f"{SMTP_URL} is set: set {EMAIL_FROM} and {EMAIL_TO} too")
    recipients = tuple(_address(EMAIL_TO, r.strip()) for r in to.split(",") if r.strip())
    if not recipients:
        raise AlertSettingsError(f"{EMAIL_TO} must name at least one address")
    return SmtpChannel(
        scheme=parts.scheme, host=parts.hostname, port=port, username=username,
        password=SecretStr(secret) if secret else None, sender=_address(EMAIL_FROM, sender),
        recipients=recipients,
    )  # fmt: skip


def _webhook(env: Mapping[str, str]) -> WebhookChannel | None:
    raw, ca = _get(env, WEBHOOK_URL), _get(env, WEBHOOK_CA)
    if not raw:
        if ca:
            raise AlertSettingsError(f"{WEBHOOK_CA} is set but {WEBHOOK_URL} is not: set both")
        return None
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname:
        # Only the scheme and host are repeated: the path may carry the hook's token.
        shown = f"{parts.scheme}://{parts.hostname}/…" if parts.scheme else "a URL with no scheme"
        raise AlertSettingsError(f"{WEBHOOK_URL} must be an https:// URL, got {shown}")
    _port(WEBHOOK_URL, parts, 443)
    bundle = Path(ca) if ca else None
    if bundle is not None and not bundle.is_file():
        raise AlertSettingsError(f"{WEBHOOK_CA} names no file: {ca}")
    return WebhookChannel(url=SecretStr(raw), ca_bundle=bundle)


def _ui(env: Mapping[str, str]) -> str | None:
    raw = _get(env, UI_URL)
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.password:
        raise AlertSettingsError(
            f"{UI_URL} must be the Dagster UI's http(s):// address, such as "
            f"https://dagster.example.com, got {raw!r}"
        )
    return raw.rstrip("/")


def read_alert_settings(env: Mapping[str, str]) -> AlertSettings:
    """The alert channels `env` configures; AlertSettingsError names a bad variable."""
    return AlertSettings(smtp=_smtp(env), webhook=_webhook(env), ui_url=_ui(env))
