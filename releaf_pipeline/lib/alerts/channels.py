"""Sending one message on one channel, once: email over SMTP, or a POST to a webhook.

Each returns what the receiver answered, in one line, or raises DeliveryError with one line
that names the channel as a person knows it (recipients and relay, or the webhook's host)
and never a password or the webhook's path. Retrying is the caller's.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from ipaddress import ip_address

from releaf_pipeline.lib.alerts.config import SmtpChannel, WebhookChannel

TIMEOUT = 10.0


@dataclass(frozen=True)
class Message:
    """One alert as sent: the email's subject, the text a person reads, and the webhook's
    `event` object for machines."""

    subject: str
    text: str
    event: dict


class DeliveryError(Exception):
    """A channel did not take a message; the text is one line, with no secret."""


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine: the only place plain SMTP may go."""
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _email(channel: SmtpChannel, message: Message) -> EmailMessage:
    # Lines up to SMTP's limit: a subject folded at 78 characters reads back with a
    # leading space in some clients.
    mail = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    mail["Subject"] = " ".join(message.subject.split())
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.recipients)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=channel.sender.rsplit("@", 1)[-1])
    mail.set_content(message.text)
    return mail


def _one_line(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())


def _connect(channel: SmtpChannel, timeout: float) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if channel.scheme == "smtps":
        return smtplib.SMTP_SSL(channel.host, channel.port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(channel.host, channel.port, timeout=timeout)
    smtp.ehlo()
    if smtp.has_extn("starttls"):
        smtp.starttls(context=context)
        smtp.ehlo()
    elif not is_loopback(channel.host):
        smtp.close()
        raise DeliveryError(
            f"{channel.name}: the server offers no STARTTLS: use smtps:// or a relay that does"
        )
    return smtp


def send_email(channel: SmtpChannel, message: Message, *, timeout: float = TIMEOUT) -> str:
    """Send `message` by email; the server's answer to the message's data."""
    mail = _email(channel, message)
    try:
        smtp = _connect(channel, timeout)
        try:
            if channel.username:
                secret = channel.password.get_secret_value() if channel.password else ""
                smtp.login(channel.username, secret)
            code, said = smtp.mail(channel.sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, said, channel.sender)
            for rcpt in channel.recipients:
                code, said = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, said)})
            code, said = smtp.data(mail.as_bytes())
            if code != 250:
                raise smtplib.SMTPDataError(code, said)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError(
            f"{channel.name}: the SMTP server refused the login: check RELEAF_ALERT_SMTP_URL's "
            "user and RELEAF_ALERT_SMTP_PASSWORD"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        who = ", ".join(exc.recipients)
        raise DeliveryError(f"{channel.name}: the server refused {who}") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"{channel.name}: the server answered {exc.smtp_code} {_one_line(exc.smtp_error)}"
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"{channel.name}: TLS failed ({_one_line(exc.reason or exc)})"
        ) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{channel.name}: {_one_line(exc) or type(exc).__name__}") from None
    return f"{code} {_one_line(said)}"


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def send_webhook(channel: WebhookChannel, message: Message, *, timeout: float = TIMEOUT) -> str:
    """POST `message` to the webhook as JSON (`text`, `event`); its HTTP status."""
    import httpx

    verify: ssl.SSLContext | bool = True
    if channel.ca_bundle is not None:
        try:
            verify = ssl.create_default_context(cafile=str(channel.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(
                f"{channel.name}: RELEAF_ALERT_WEBHOOK_CA_BUNDLE {channel.ca_bundle} holds no "
                f"usable certificate ({_one_line(getattr(exc, 'strerror', None) or exc)})"
            ) from None
    body = {"text": message.text, "event": message.event}
    try:
        response = httpx.post(
            channel.url.get_secret_value(), json=body, timeout=timeout, verify=verify,
            follow_redirects=False,
        )  # fmt: skip
    except httpx.TimeoutException:
        raise DeliveryError(f"{channel.name}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        # The error's text may quote the URL: only its kind and the host are said.
        tls = _tls_error(exc)
        what = f"TLS failed ({_one_line(tls.reason or tls)})" if tls else "could not connect"
        raise DeliveryError(
            f"{channel.name}: {what}; check the URL and RELEAF_ALERT_WEBHOOK_CA_BUNDLE"
        ) from None
    answer = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if not response.is_success:
        raise DeliveryError(f"{channel.name} answered {answer}")
    return answer
