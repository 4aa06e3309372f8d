"""Email over SMTP: one message, sent once, with the server's answer to it.

`smtps` speaks TLS from the first byte; `smtp` upgrades with STARTTLS whenever the server
offers it, and goes on in plain text only to a relay on this machine (loopback), where
nothing crosses a network. Certificates are verified against the system's trust store,
which the `SSL_CERT_FILE` environment variable can replace.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from ipaddress import ip_address

from releaf_pipeline.lib.alerts.config import SmtpChannel
from releaf_pipeline.lib.alerts.message import DeliveryError, Message, one_line

_TLS_HINT = "smtps:// is for implicit TLS (usually port 465), smtp:// for STARTTLS (587)"


def is_loopback_relay(host: str) -> bool:
    """Whether `host` names this machine (`localhost`, 127.0.0.0/8, ::1), the only place
    mail may be handed over without TLS."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


def send_email(channel: SmtpChannel, message: Message, *, timeout: float = 10.0) -> str:
    """Send `message` once to the channel's recipients; return the server's answer to the
    message's DATA as one line (e.g. "250 Message accepted for delivery").

    Raises DeliveryError, one line naming the channel and what to do, when the server
    cannot be reached or trusted, refuses the login, the sender, every recipient or the
    message. Recipients refused while others were accepted are named in the answer.
    """
    email = compose(channel, message)
    try:
        smtp = _connect(channel, timeout)
    except (OSError, UnicodeError) as exc:
        raise _failure(channel, exc, timeout) from exc
    try:
        _secure(channel, smtp)
        if channel.username is not None:
            _login(channel, smtp)
        answer = _transfer(channel, smtp, email)
    except OSError as exc:
        smtp.close()
        raise _failure(channel, exc, timeout) from exc
    except BaseException:
        smtp.close()
        raise
    # The message is the server's now: a failed goodbye must not make the caller send it again.
    try:
        smtp.quit()
    except OSError:
        smtp.close()
    return answer


def compose(channel: SmtpChannel, message: Message) -> EmailMessage:
    """The email for `message`: plain text, from the channel's sender to its recipients."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = channel.sender
    email["To"] = ", ".join(channel.recipients)
    email["Date"] = formatdate(usegmt=True)
    # The sender's domain, not this machine's name (getfqdn may wait on DNS and name a host
    # nobody should see).
    domain = parseaddr(channel.sender)[1].rpartition("@")[2] or "releaf.invalid"
    email["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: vacation and out-of-office robots do not answer it.
    email["Auto-Submitted"] = "auto-generated"
    text = message.text if message.text.endswith("\n") else message.text + "\n"
    # 7-bit on the wire whatever the text: the relay need not offer 8BITMIME.
    email.set_content(text, cte=None if text.isascii() else "quoted-printable")
    return email


def _connect(channel: SmtpChannel, timeout: float) -> smtplib.SMTP:
    if channel.scheme == "smtps":
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(channel.host, channel.port, timeout=timeout, context=context)
    if channel.scheme == "smtp":
        return smtplib.SMTP(channel.host, channel.port, timeout=timeout)
    raise ValueError(f"an SMTP channel's scheme is smtp or smtps, not {channel.scheme!r}")


def _secure(channel: SmtpChannel, smtp: smtplib.SMTP) -> None:
    """STARTTLS on `smtp://` when offered; without it, only a loopback relay is used."""
    smtp.ehlo_or_helo_if_needed()
    if channel.scheme == "smtps":
        return
    if smtp.has_extn("starttls"):
        smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo()
    elif not is_loopback_relay(channel.host):
        raise DeliveryError(
            f"{channel.name}: the server offers no STARTTLS: use smtps:// or a relay that does"
        )


def _login(channel: SmtpChannel, smtp: smtplib.SMTP) -> None:
    password = channel.password.get_secret_value() if channel.password is not None else ""
    try:
        smtp.login(channel.username or "", password)
    except UnicodeError:
        # The error would quote the user and password it could not encode.
        raise DeliveryError(
            f"{channel.name}: SMTP AUTH sends ASCII only: use an ASCII user and password in "
            "RELEAF_ALERT_SMTP_URL and RELEAF_ALERT_SMTP_PASSWORD"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError(
            f"{channel.name}: the SMTP server offers no login (AUTH): remove the user from "
            "RELEAF_ALERT_SMTP_URL, or use a server that offers it"
        ) from None


def _transfer(channel: SmtpChannel, smtp: smtplib.SMTP, email: EmailMessage) -> str:
    """MAIL, RCPT and DATA one by one: `sendmail()` would throw away DATA's reply."""
    code, reply = smtp.mail(parseaddr(channel.sender)[1] or channel.sender)
    if code == 530:
        raise DeliveryError(
            f"{channel.name}: the SMTP server requires a login ({code} {one_line(reply)}): "
            "put the user in RELEAF_ALERT_SMTP_URL and its password in RELEAF_ALERT_SMTP_PASSWORD"
        )
    if code != 250:
        raise DeliveryError(
            f"{channel.name}: the SMTP server refused the sender ({code} {one_line(reply)}): "
            "check RELEAF_ALERT_EMAIL_FROM"
        )
    refused = []
    for recipient in channel.recipients:
        code, reply = smtp.rcpt(parseaddr(recipient)[1] or recipient)
        if code not in (250, 251):
            refused.append(f"{recipient} ({code} {one_line(reply, 80)})")
    if len(refused) == len(channel.recipients):
        raise DeliveryError(
            f"{channel.name}: the SMTP server refused every recipient: {', '.join(refused)}: "
            "check RELEAF_ALERT_EMAIL_TO"
        )
    # Lines up to SMTP's own limit: a subject folded at 78 characters reads back with a
    # leading space in some clients.
    code, reply = smtp.data(email.as_bytes(policy=SMTP.clone(max_line_length=998)))
    if code != 250:
        raise DeliveryError(
            f"{channel.name}: the SMTP server did not take the message ({code} "
            f"{one_line(reply)}): it is sent again later"
        )
    answer = f"{code} {one_line(reply)}"
    return f"{answer}; refused: {', '.join(refused)}" if refused else answer


def _failure(channel: SmtpChannel, exc: BaseException, timeout: float) -> DeliveryError:
    """The one line a person reads for what smtplib, the socket or TLS raised."""
    name = channel.name
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"{name}: the SMTP server refused the login: check RELEAF_ALERT_SMTP_URL's user "
            "and RELEAF_ALERT_SMTP_PASSWORD"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return DeliveryError(
            f"{name}: the SMTP server answered {exc.smtp_code} {one_line(exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a reply that never came as a disconnection.
        if "timed out" in str(exc):
            return DeliveryError(f"{name}: no answer within {timeout:g} s: {_TLS_HINT}")
        return DeliveryError(f"{name}: the server closed the connection: {_TLS_HINT}")
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(f"{name}: {one_line(str(exc))}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or "verification failed"
        return DeliveryError(
            f"{name}: the server's certificate could not be verified ({detail}): give it a "
            "certificate the system trusts for its host name, or point SSL_CERT_FILE at its CA"
        )
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(
            f"{name}: the TLS handshake failed ({exc.reason or type(exc).__name__}): {_TLS_HINT}"
        )
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"{name}: no answer within {timeout:g} s: {_TLS_HINT}")
    if isinstance(exc, socket.gaierror):
        return DeliveryError(
            f"{name}: the host name cannot be resolved: check RELEAF_ALERT_SMTP_URL's host"
        )
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryError(
            f"{name}: the connection was refused: check the host and port in "
            "RELEAF_ALERT_SMTP_URL and that the server is running"
        )
    if isinstance(exc, UnicodeError):
        return DeliveryError(
            f"{name}: the host name cannot be encoded: check RELEAF_ALERT_SMTP_URL's host"
        )
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return DeliveryError(f"{name}: the connection failed ({one_line(reason)}): check the server")
