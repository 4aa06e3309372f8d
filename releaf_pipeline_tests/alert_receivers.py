"""Local receivers the alert tests send to: an SMTP server (aiosmtpd) and an HTTPS webhook
(starlette on uvicorn, as the simulator serves), each on loopback and a free port, each
keeping what it received. TLS certificates come from a throwaway CA, as the simulator's."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import tempfile
import threading
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from releaf_pipeline.simulator.certs import ServerCertificate, ensure_certificates
from releaf_pipeline.simulator.wire import BackgroundServer

HOST = "127.0.0.1"
HOOK_PATH = "/hooks/T0K3N-0f-the-h00k"
"""The webhook's path: like a chat tool's, it is the hook's secret."""


def _certificate(workdir: Path) -> ServerCertificate:
    return ensure_certificates(workdir, [HOST])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, messages: list[EmailMessage]) -> None:
        self.messages = messages

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """An SMTP server on loopback: `mode` "plain" (no TLS), "starttls" (STARTTLS required)
    or "tls" (implicit TLS); with `login`, (user, password) it requires. Received messages
    are in `.messages`; `.url` is what RELEAF_ALERT_SMTP_URL would hold (without the
    password) and `.ca_bundle` the CA its certificate is from."""

    def __init__(self, mode: str = "plain", login: tuple[str, str] | None = None) -> None:
        self.mode, self.login = mode, login
        self.messages: list[EmailMessage] = []
        self._dir = tempfile.TemporaryDirectory(prefix="smtp-receiver-")
        self.ca_bundle = _certificate(Path(self._dir.name)).ca_bundle
        self.port = _free_port()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self.mode == "tls" else "smtp"
        user = f"{self.login[0]}@" if self.login else ""
        return f"{scheme}://{user}{HOST}:{self.port}"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.login is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SmtpReceiver:
        cert = _certificate(Path(self._dir.name))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert.certfile, cert.keyfile)
        kwargs: dict = {"hostname": HOST, "port": self.port, "ready_timeout": 5.0}
        if self.mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif self.mode == "tls":
            # aiosmtpd's own check of its server runs without TLS: skip it.
            kwargs.update(ssl_context=context, server_hostname=HOST)
        if self.login is not None:
            # Implicit TLS is not STARTTLS to aiosmtpd: its own TLS check would refuse AUTH.
            kwargs.update(
                authenticator=self._authenticate, auth_require_tls=self.mode == "starttls"
            )
        else:
            kwargs.update(auth_require_tls=False)
        self._controller = Controller(_Handler(self.messages), **kwargs)
        self._controller.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._controller is not None:
            self._controller.stop()
        self._dir.cleanup()


class WebhookReceiver:
    """An HTTPS webhook on loopback. Every JSON body it took (answered 2xx) is in
    `.received`; it answers `.answer_status`, and first fails `.fail_next` requests with
    500. `.url` is the hook's address, `.ca_bundle` the CA of its certificate."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.refused = 0
        self.answer_status = 200
        self.fail_next = 0
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="webhook-receiver-")
        self._cert = _certificate(Path(self._dir.name))
        self.ca_bundle = self._cert.ca_bundle
        self._sock = socket.socket()
        self._sock.bind((HOST, 0))
        self._sock.listen(16)
        self.url = f"https://{HOST}:{self._sock.getsockname()[1]}{HOOK_PATH}"
        app = Starlette(routes=[Route(HOOK_PATH, self._hook, methods=["POST"])])
        self._server = BackgroundServer(app, self._sock, self._cert, "webhook-receiver")

    async def _hook(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            status = self.answer_status
            if self.fail_next > 0:
                self.fail_next -= 1
                status = 500
            if 200 <= status < 300:
                self.received.append(body)
            else:
                self.refused += 1
        return JSONResponse({"ok": status < 300}, status_code=status)

    def __enter__(self) -> WebhookReceiver:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()
        self._sock.close()
        self._dir.cleanup()
