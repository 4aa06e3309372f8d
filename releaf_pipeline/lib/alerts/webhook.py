"""A chat webhook: one JSON POST, sent once, with the receiver's answer to it.

The webhook's URL often is its own secret (Slack's and Teams' carry the token in the
path), so neither an answer nor an error shows more of it than the host.
"""

from __future__ import annotations

import ssl

import httpx

from releaf_pipeline.lib.alerts.config import WebhookChannel
from releaf_pipeline.lib.alerts.message import DeliveryError, Message, one_line
from releaf_pipeline.lib.ssl_errors import ssl_cause


def send_webhook(channel: WebhookChannel, message: Message, *, timeout: float = 10.0) -> str:
    """POST `message` once as JSON (`text` for people, `event` for machines); return the
    answer as one line (e.g. "HTTP 200 OK").

    Raises DeliveryError, one line naming the webhook's host (never its URL) and what to
    do, when the receiver cannot be reached or trusted, or answers anything but 2xx.
    Redirects are not followed: a POST must not be carried to a place the URL does not name.
    """
    name = channel.name
    verify = _ssl_context(channel)
    try:
        response = httpx.post(
            channel.url.get_secret_value(),
            json={"text": message.text, "event": message.event},
            headers={"User-Agent": "releaf-pipeline"},
            verify=verify,
            follow_redirects=False,
            timeout=timeout,
        )
    except httpx.TimeoutException:
        raise DeliveryError(
            f"{name}: no answer within {timeout:g} s: it is sent again later"
        ) from None
    except httpx.HTTPError as exc:
        # from None: httpx's own text may quote the URL.
        raise _unreachable(name, exc) from None
    status = response.status_code
    answer = f"HTTP {status} {response.reason_phrase or httpx.codes.get_reason_phrase(status)}"
    answer = one_line(answer.strip())
    if 200 <= status < 300:
        return answer
    raise DeliveryError(f"{name} answered {answer}: {_advice(status)}")


def _ssl_context(channel: WebhookChannel) -> ssl.SSLContext:
    """Verification always on: the configured CA bundle, else the system's trust store."""
    if channel.ca_bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(channel.ca_bundle))
    except (OSError, ValueError) as exc:
        raise DeliveryError(
            f"{channel.name}: the CA bundle {str(channel.ca_bundle)!r} cannot be loaded "
            f"({type(exc).__name__}): point RELEAF_ALERT_WEBHOOK_CA_BUNDLE at a readable PEM file"
        ) from None


def _unreachable(name: str, exc: httpx.HTTPError) -> DeliveryError:
    cause = ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message or "verification failed"
        return DeliveryError(
            f"{name}: its certificate could not be verified ({detail}): set "
            "RELEAF_ALERT_WEBHOOK_CA_BUNDLE to the CA that signed it"
        )
    if cause is not None:
        return DeliveryError(
            f"{name}: the TLS handshake failed ({cause.reason or type(cause).__name__}): "
            "check that RELEAF_ALERT_WEBHOOK_URL names the receiver's HTTPS port"
        )
    if isinstance(exc, httpx.ConnectError):
        return DeliveryError(
            f"{name}: could not connect: check RELEAF_ALERT_WEBHOOK_URL's host and port and "
            "that the receiver is up"
        )
    return DeliveryError(
        f"{name}: the request failed ({type(exc).__name__}): it is sent again later"
    )


def _advice(status: int) -> str:
    if 300 <= status < 400:
        return "a redirect, not followed: set RELEAF_ALERT_WEBHOOK_URL to where the webhook now is"
    if status in (401, 403, 404, 410):
        return (
            "check RELEAF_ALERT_WEBHOOK_URL: the webhook may have been removed or its token revoked"
        )
    if status == 429 or status >= 500:
        return "the receiver is busy or failing: it is sent again later"
    return "the receiver refused the message: check RELEAF_ALERT_WEBHOOK_URL and the chat tool"
