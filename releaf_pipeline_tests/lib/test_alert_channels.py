"""The alert channels over real receivers: an SMTP server (plain, STARTTLS, implicit TLS,
with and without a login) and an HTTPS webhook, each on loopback with its own CA."""

from __future__ import annotations

import socket
import threading
import time
from ipaddress import ip_address

import pytest
from pydantic import SecretStr

from releaf_pipeline.lib.alerts.config import SmtpChannel, WebhookChannel
from releaf_pipeline.lib.alerts.message import DeliveryError, Message
from releaf_pipeline.lib.alerts.smtp import is_loopback_relay, send_email
from releaf_pipeline.lib.alerts.webhook import send_webhook
from releaf_pipeline_tests.alert_receivers import SmtpReceiver, WebhookReceiver

PASSWORD = "s3cret-never-shown"
MESSAGE = Message(
    subject="Server dealer-7 is unhealthy",
    text="Server dealer-7 has not answered since 2026-03-02.\nFeeds paused: 3. Café Nord.",
    event={"kind": "server_unhealthy", "server": "dealer-7", "days": ["2026-03-02"]},
)


def channel(
    receiver: SmtpReceiver,
    *,
    scheme: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> SmtpChannel:
    return SmtpChannel(
        scheme=scheme or receiver.scheme,
        host=receiver.host,
        port=receiver.port,
        username=username,
        password=SecretStr(password) if password is not None else None,
        sender="releaf@example.com",
        recipients=("ops@example.com", "night@example.com"),
    )


def one_line_error(excinfo: pytest.ExceptionInfo[DeliveryError]) -> str:
    text = str(excinfo.value)
    assert text and "\n" not in text and "\r" not in text
    return text


@pytest.fixture
def trust(monkeypatch):
    """Trust a receiver's CA the way an operator trusts a private CA for SMTP: SSL_CERT_FILE."""
    return lambda receiver: monkeypatch.setenv("SSL_CERT_FILE", str(receiver.ca_bundle))


# ---- email -------------------------------------------------------------------------------


def test_email_to_a_loopback_relay_goes_in_plain_and_returns_the_data_reply():
    with SmtpReceiver(tls="plain") as smtp:
        answer = send_email(channel(smtp), MESSAGE)
    assert answer == "250 Message accepted for delivery"
    [email] = smtp.messages
    assert email["Subject"] == MESSAGE.subject
    assert email["From"] == "releaf@example.com"
    assert email["To"] == "ops@example.com, night@example.com"
    assert email["Date"] and email["Message-ID"].endswith("@example.com>")
    assert email.get_content_type() == "text/plain"
    assert email.get_content().replace("\r\n", "\n") == MESSAGE.text + "\n"


def test_email_over_starttls_when_the_ca_is_trusted_through_ssl_cert_file(trust):
    # The receiver refuses every command before STARTTLS: delivery proves the upgrade.
    with SmtpReceiver(tls="starttls") as smtp:
        with pytest.raises(DeliveryError) as excinfo:
            send_email(channel(smtp), MESSAGE)
        assert "certificate could not be verified" in one_line_error(excinfo)
        trust(smtp)
        assert send_email(channel(smtp), MESSAGE) == "250 Message accepted for delivery"
    assert [email["Subject"] for email in smtp.messages] == [MESSAGE.subject]


def test_email_over_implicit_tls(trust):
    with SmtpReceiver(tls="implicit") as smtp:
        assert smtp.url.startswith("smtps://")
        with pytest.raises(DeliveryError) as excinfo:
            send_email(channel(smtp), MESSAGE)
        assert "SSL_CERT_FILE" in one_line_error(excinfo)
        trust(smtp)
        assert send_email(channel(smtp), MESSAGE) == "250 Message accepted for delivery"
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("tls", ["plain", "starttls", "implicit"])
def test_email_with_a_login(tls, trust):
    with SmtpReceiver(tls=tls, login=("alerts", PASSWORD)) as smtp:
        trust(smtp)
        with pytest.raises(DeliveryError) as excinfo:
            send_email(channel(smtp), MESSAGE)
        assert "requires a login" in one_line_error(excinfo)
        answer = send_email(channel(smtp, username="alerts", password=PASSWORD), MESSAGE)
    assert answer == "250 Message accepted for delivery"
    assert smtp.login_attempts == ["alerts"] and len(smtp.messages) == 1


def test_a_wrong_password_is_refused_in_one_line_without_the_password(trust):
    with SmtpReceiver(tls="starttls", login=("alerts", PASSWORD)) as smtp:
        trust(smtp)
        with pytest.raises(DeliveryError) as excinfo:
            send_email(channel(smtp, username="alerts", password="wrong-pw-9"), MESSAGE)
    text = one_line_error(excinfo)
    assert "refused the login" in text and "RELEAF_ALERT_SMTP_PASSWORD" in text
    assert "wrong-pw-9" not in text and "wrong-pw-9" not in repr(excinfo.value)
    assert smtp.messages == []


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback, when it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a UDP connect sends nothing: it picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ip_address(address).is_loopback else address


def test_no_starttls_to_a_host_beyond_loopback_is_refused_before_the_login():
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address beyond loopback")
    receiver = SmtpReceiver(tls="plain", host=address, login=("alerts", PASSWORD))
    with receiver as smtp, pytest.raises(DeliveryError) as excinfo:
        send_email(channel(smtp, username="alerts", password=PASSWORD), MESSAGE)
    assert "offers no STARTTLS: use smtps:// or a relay that does" in one_line_error(excinfo)
    assert smtp.login_attempts == [] and smtp.messages == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.4.5.6", True),
        ("::1", True),
        ("[::1]", True),
        ("192.0.2.2", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("mail.example.com", False),
    ],
)
def test_only_loopback_hosts_count_as_a_local_relay(host, loopback):
    assert is_loopback_relay(host) is loopback


def test_smtps_to_a_plain_server_is_one_line_naming_the_schemes():
    with SmtpReceiver(tls="plain") as smtp, pytest.raises(DeliveryError) as excinfo:
        send_email(channel(smtp, scheme="smtps"), MESSAGE, timeout=2)
    assert "smtps:// is for implicit TLS" in one_line_error(excinfo)


# ---- webhook -----------------------------------------------------------------------------


def test_webhook_posts_text_and_event_and_returns_the_answer():
    with WebhookReceiver() as hook:
        answer = send_webhook(WebhookChannel(SecretStr(hook.url), hook.ca_bundle), MESSAGE)
    assert answer == "HTTP 200 OK"
    assert hook.delivered == [{"text": MESSAGE.text, "event": MESSAGE.event}]


def test_webhook_failing_then_back_raises_without_the_url_then_delivers_once():
    with WebhookReceiver(answer_status=500) as hook:
        webhook = WebhookChannel(SecretStr(hook.url), hook.ca_bundle)
        with pytest.raises(DeliveryError) as excinfo:
            send_webhook(webhook, MESSAGE)
        hook.answer_status = 200
        assert send_webhook(webhook, MESSAGE) == "HTTP 200 OK"
    text = one_line_error(excinfo)
    assert text.startswith("webhook at 127.0.0.1 answered HTTP 500")
    assert hook.path not in text and "/hooks/" not in text
    assert len(hook.received) == 2 and len(hook.delivered) == 1


@pytest.mark.parametrize("bundle", ["none", "another CA"])
def test_webhook_with_an_untrusted_certificate_is_one_line(bundle):
    with WebhookReceiver() as hook, WebhookReceiver() as other:
        ca_bundle = other.ca_bundle if bundle == "another CA" else None
        with pytest.raises(DeliveryError) as excinfo:
            send_webhook(WebhookChannel(SecretStr(hook.url), ca_bundle), MESSAGE)
    text = one_line_error(excinfo)
    assert "certificate could not be verified" in text and "RELEAF_ALERT_WEBHOOK_CA_BUNDLE" in text
    assert "/hooks/" not in text
    assert hook.received == []


# ---- messages and receivers --------------------------------------------------------------


def test_a_message_is_refused_where_it_is_made_when_no_channel_could_send_it():
    with pytest.raises(ValueError, match="one non-empty line"):
        Message(subject="two\nlines", text="", event={})
    with pytest.raises(ValueError, match="JSON-able"):
        Message(subject="ok", text="", event={"at": object()})


@pytest.mark.parametrize("make", [lambda: SmtpReceiver(tls="implicit"), WebhookReceiver])
def test_receivers_start_quickly_and_leave_no_thread_or_port(make):
    threads = threading.active_count()
    started = time.monotonic()
    with make() as receiver:
        assert time.monotonic() - started < 1.0
        port = receiver.port
    assert threading.active_count() == threads
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
