"""Telling: record each alert once in the store, then deliver what waits on each channel.

Sending is retried a few times at once; a message a channel still refuses waits in the
store for the next call (the next sensor tick), for up to a day. A channel that fails is
reported back, never raised: it must not stop a night.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from releaf_pipeline.lib.alerts.config import AlertSettings, SmtpChannel, WebhookChannel
from releaf_pipeline.lib.alerts.message import DeliveryError, Message
from releaf_pipeline.lib.alerts.messages import Alert, scrub
from releaf_pipeline.lib.alerts.smtp import send_email
from releaf_pipeline.lib.alerts.webhook import send_webhook
from releaf_pipeline.lib.store.alerts import claim_pending, finish, record_alert, release, said
from releaf_pipeline.lib.store.engine import Db, reading, writing

EMAIL, WEBHOOK = "email", "webhook"
ATTEMPTS = 3
"""Tries of one message on one channel within one call."""
RETRY_WAIT = 0.25
"""Seconds before the first retry; doubled for each next one."""

Sender = Callable[[Message], str]


def channels(settings: AlertSettings) -> dict[str, SmtpChannel | WebhookChannel]:
    """The configured channels by key (`email`, `webhook`); each names itself to a person
    (`.name`) without a secret."""
    found = {EMAIL: settings.smtp, WEBHOOK: settings.webhook}
    return {key: channel for key, channel in found.items() if channel is not None}


def sender(channel: SmtpChannel | WebhookChannel) -> Sender:
    """What sends one message once on `channel` and returns what the channel answered."""
    if isinstance(channel, SmtpChannel):
        return lambda message: send_email(channel, message)
    return lambda message: send_webhook(channel, message)


@dataclass
class Told:
    """What one call said: the alerts it recorded, what each channel answered, and the
    channels that failed (channel -> one-line error)."""

    recorded: list[Alert] = field(default_factory=list)
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    """(title, channel, answer) of each message a channel took."""
    failing: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line per message sent and per channel failing."""
        out = [
            f"alert sent by {channel}: {title} ({answer})" for title, channel, answer in self.sent
        ]
        out += [
            f"alert channel {channel} failing: {error}" for channel, error in self.failing.items()
        ]
        return out


def scrubbed(alert: Alert, secrets: Iterable[str]) -> Alert:
    """`alert` with every secret taken out of its title, text and event."""
    secrets = list(secrets)
    event = json.loads(scrub(json.dumps(alert.event), [json.dumps(s)[1:-1] for s in secrets]))
    return replace(
        alert, title=scrub(alert.title, secrets), text=scrub(alert.text, secrets), event=event
    )


def send_retried(send: Sender, message: Message, attempts: int = ATTEMPTS) -> tuple[str, int]:
    """Send `message`, retrying on a DeliveryError; the answer and the tries it took. The
    last DeliveryError is raised when every try failed."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=RETRY_WAIT, max=4 * RETRY_WAIT),
        retry=retry_if_exception_type(DeliveryError),
        reraise=True,
    )
    tries = 0

    def once() -> str:
        nonlocal tries
        tries += 1
        return send(message)

    return retrying(once), tries


def tell(
    db: Db,
    settings: AlertSettings,
    alerts: Sequence[Alert],
    now: datetime,
    *,
    secrets: Callable[[], Iterable[str]] = tuple,
    attempts: int = ATTEMPTS,
) -> Told:
    """Record each of `alerts` not said before (with none of `secrets()` in it), then
    deliver every message waiting on each configured channel. The secrets are gathered
    only when an alert is new: most ticks see only changes said before."""
    told = Told()
    keys = list(channels(settings))
    if not keys:
        return told
    with reading(db) as conn:
        new = [a for a in alerts if not said(conn, a.key)]
    if new:
        hidden = list(secrets())
        with writing(db) as conn:
            for alert in new:
                clean = scrubbed(alert, hidden)
                if record_alert(conn, clean, keys, now):
                    told.recorded.append(clean)
    deliver(db, settings, now, told, attempts=attempts)
    return told


def deliver(db: Db, settings: AlertSettings, now: datetime, told: Told, *, attempts: int) -> None:
    """Send what waits on each channel, oldest first; a channel that refuses one message
    after its retries is left for the next call, its other messages untried."""
    for channel, configured in channels(settings).items():
        send = sender(configured)
        with writing(db) as conn:
            claimed = claim_pending(conn, channel, now)
        for i, delivery in enumerate(claimed):
            message = Message(delivery.title, delivery.text, delivery.event)
            try:
                answer, tries = send_retried(send, message, attempts)
            except DeliveryError as exc:
                with writing(db) as conn:
                    finish(conn, delivery, now, error=str(exc), tries=attempts)
                    release(conn, claimed[i + 1 :], now)
                told.failing[channel] = str(exc)
                break
            with writing(db) as conn:
                finish(conn, delivery, now, answer=answer, tries=tries)
            told.sent.append((delivery.title, channel, answer))
