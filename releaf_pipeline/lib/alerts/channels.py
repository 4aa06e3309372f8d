"""Delivering an alert on a channel: once, returning the receiver's answer as one line, or
raising `DeliveryError` (one line, naming the channel, with no secret). Retrying is the
caller's job, as is remembering what was sent.

- `send_email`: SMTP, with STARTTLS or implicit TLS (plain only to a loopback relay).
- `send_webhook`: an HTTPS POST of `{"text": ..., "event": ...}`.
- `send`: either, by the channel's type.
"""

from __future__ import annotations

from releaf_pipeline.lib.alerts.config import SmtpChannel, WebhookChannel
from releaf_pipeline.lib.alerts.message import DeliveryError, Message
from releaf_pipeline.lib.alerts.smtp import is_loopback_relay, send_email
from releaf_pipeline.lib.alerts.webhook import send_webhook

__all__ = [
    "DeliveryError",
    "Message",
    "is_loopback_relay",
    "send",
    "send_email",
    "send_webhook",
]


def send(channel: SmtpChannel | WebhookChannel, message: Message, *, timeout: float = 10.0) -> str:
    """Send `message` once on `channel`, email or webhook; see `send_email`, `send_webhook`."""
    if isinstance(channel, SmtpChannel):
        return send_email(channel, message, timeout=timeout)
    return send_webhook(channel, message, timeout=timeout)
