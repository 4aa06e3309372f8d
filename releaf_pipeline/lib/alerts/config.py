"""Where alerts go: the channels the RELEAF_ALERT_* settings configure, read and validated.

A value the pipeline cannot use is refused with one line naming the variable. Secrets (the
SMTP password, a webhook URL, which often carries its own token) are `SecretStr`: they
show as `**********` in any repr or log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
        from urllib.parse import urlsplit

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
