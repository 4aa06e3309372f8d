"""Local receivers the alert tests send to: an SMTP server and an HTTPS webhook.

Both listen on a free port (127.0.0.1 unless told), serve in a thread of their own, keep
what they receive for the test to read, and start and stop in a few milliseconds. Their
certificates come from a CA made for each receiver (trustme, as the simulator's), whose PEM
is `.ca_bundle`: a client trusts the receiver only when told to.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import tempfile
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from releaf_pipeline.simulator.certs import ServerCertificate, ensure_certificates, server_names
from releaf_pipeline.simulator.wire import BackgroundServer

TlsMode = Literal["plain", "starttls", "implicit"]


def _listen(host: str) -> socket.socket:
    """A socket on a free port of `host`, bound first so nothing can take the port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock


class _Receiver:
    """What both receivers share: a temporary directory with their certificate, a host and
    a port, and the context-manager protocol."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._dir = tempfile.TemporaryDirectory(prefix="releaf-receiver-")
        self.certificate: ServerCertificate = ensure_certificates(
            Path(self._dir.name), server_names(host)
        )
        self.ca_bundle: Path = self.certificate.ca_bundle
        self.port = 0

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._dir.cleanup()

    def _authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# ---- SMTP --------------------------------------------------------------------------------


class _BoundController(Controller):
    """aiosmtpd's threaded controller, serving an already bound socket (its own would need
    a fixed port, which parallel tests could collide on)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpReceiver(_Receiver):
    """An SMTP server keeping every message it accepts, parsed, in `.messages`, and the
    user of every login tried in `.login_attempts`.

    `tls`: "plain" (no TLS), "starttls" (offered and required before anything else) or
    "implicit" (TLS from the first byte, for `smtps://`). With `login=(user, password)`,
    AUTH is offered (over TLS, or in plain text in "plain" mode) and required.
    """

    def __init__(
        self,
        *,
        tls: TlsMode = "plain",
        login: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.tls = tls
        self.login = login
        self.messages: list[EmailMessage] = []
        self.login_attempts: list[str] = []
        self._controller: _BoundController | None = None

    @property
    def scheme(self) -> str:
        return "smtps" if self.tls == "implicit" else "smtp"

    @property
    def url(self) -> str:
        """The URL to configure as RELEAF_ALERT_SMTP_URL, with the login when there is one."""
        userinfo = ""
        if self.login is not None:
            user, password = (quote(part, safe="") for part in self.login)
            userinfo = f"{user}:{password}@"
        return f"{self.scheme}://{userinfo}{self._authority()}"

    def start(self) -> Self:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate.certfile, self.certificate.keyfile)
        kwargs: dict[str, Any] = {"server_hostname": "receiver.test", "ready_timeout": 5.0}
        if self.tls == "implicit":
            kwargs["ssl_context"] = context
        elif self.tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        if self.login is not None:
            # aiosmtpd counts only STARTTLS as TLS: on implicit TLS, or in plain mode, it
            # must be told that AUTH may go ahead. `_Keeper` requires the login (aiosmtpd's
            # own `auth_required` warns whenever TLS is not required with it).
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.tls == "starttls")
        sock = _listen(self.host)
        self.port = sock.getsockname()[1]
        keeper = _Keeper(self.messages, login_required=self.login is not None)
        controller = _BoundController(keeper, sock, **kwargs)
        try:
            controller.start()
        except BaseException:
            controller.stop(no_assert=True)
            sock.close()
            raise
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        user, password = self.login or ("", "")
        if isinstance(auth_data, LoginPassword):
            self.login_attempts.append(auth_data.login.decode("utf-8", "replace"))
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd answers the failure (535) itself.
        return AuthResult(success=ok, handled=False)


class _Keeper:
    """aiosmtpd's handler: each message DATA brings, parsed, appended to `messages`; no
    MAIL before a login when one is required."""

    def __init__(self, messages: list[EmailMessage], *, login_required: bool) -> None:
        self.messages = messages
        self.login_required = login_required

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=default).parsebytes(envelope.original_content)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


# ---- webhook -----------------------------------------------------------------------------


class WebhookReceiver(_Receiver):
    """An HTTPS webhook on `.url` (a path with a token in it, like a chat tool's).

    Every JSON body POSTed there is kept in `.received`; those it answered with 2xx, that
    is those delivered, in `.delivered`. It answers `.answer_status` (200; set 500 to make
    it fail, and back to make it recover), but answers 500 to the next `.fail_next`
    requests first.
    """

    def __init__(self, *, host: str = "127.0.0.1", answer_status: int = 200) -> None:
        super().__init__(host)
        self.answer_status = answer_status
        self.fail_next = 0
        self.path = f"/hooks/{secrets.token_urlsafe(24)}"
        self.received: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self._server: BackgroundServer | None = None

    @property
    def url(self) -> str:
        """The URL to configure as RELEAF_ALERT_WEBHOOK_URL."""
        return f"https://{self._authority()}{self.path}"

    def start(self) -> Self:
        app = Starlette(routes=[Route(self.path, self._receive, methods=["POST"])])
        sock = _listen(self.host)
        self.port = sock.getsockname()[1]
        server = BackgroundServer(app, sock, self.certificate, name=f"webhook-receiver-{self.port}")
        try:
            server.start()
        except BaseException:
            sock.close()
            raise
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    async def _receive(self, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_json"}, status_code=400)
        # One thread serves every request: the lists need no lock.
        status = self.answer_status
        if self.fail_next > 0:
            self.fail_next -= 1
            status = 500
        self.received.append(body)
        if 200 <= status < 300:
            self.delivered.append(body)
        return JSONResponse({"ok": 200 <= status < 300}, status_code=status)
