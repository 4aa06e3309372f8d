"""The simulator on the wire: a Starlette app, served by uvicorn over TLS in a thread.

`build_app` turns each HTTP request into a call to `Simulator._answer` and writes the
`Reply` back, including the faults that only exist on the wire: answers held back (with
`asyncio.sleep`, so other requests go on meanwhile) and answers cut half way through the
body by a TCP reset or an orderly close. `BackgroundServer` runs uvicorn on an already
bound socket, in a thread with its own event loop, and stops it promptly.

The server is silent: the fleet carries serial numbers and IP addresses, and the dealer
token arrives in headers, so nothing may reach a log or the console. uvicorn's protocol
objects get a logger that drops everything (no access log, no error log), its process-wide
logging setup is never run (`log_config=None`, no `Server.serve()` with its start and
stop messages), and the event loop ignores what it would otherwise report. Only a thread
other than the main one runs uvicorn, so it never touches signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from releaf_pipeline.lib.mpsmonitor.contract import TOKEN_HEADER
from releaf_pipeline.simulator.contract import MAX_BODY_BYTES, Reply, error

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HTTPProtocol
except ImportError:  # uvicorn without httptools: its pure-Python parser
    from uvicorn.protocols.http.h11_impl import H11Protocol as _HTTPProtocol  # type: ignore[assignment]

if TYPE_CHECKING:
    from releaf_pipeline.simulator.certs import ServerCertificate


class Simulator(Protocol):
    """What the wire needs of the simulator it serves: its latency, a request log, a count
    of the requests in flight, and the answer to a request."""

    latency: float

    def _record(self, method: str, path: str) -> None: ...

    def _in_flight(self, change: int) -> None: ...

    def _answer(self, method: str, path: str, token: str | None, raw: bytes) -> Reply: ...


# The scope extension through which a request reaches its connection's transport.
_TRANSPORT = "releaf.simulator.transport"
# A body over the limit is still read (and dropped) up to this size, so the client gets
# the 413 instead of a connection closed under its upload; beyond it the connection ends.
_MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES
# How long a cut answer's first half gets to reach the client before the cut.
_CUT_AFTER = 0.05
_KEEP_ALIVE_SECONDS = 60
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0

# Not registered with `logging`, so no configuration can route it anywhere.
_SILENT = logging.Logger("releaf.simulator.silent", logging.CRITICAL + 1)
_SILENT.disabled = True


# ---- the app -------------------------------------------------------------------------------


def build_app(sim: Simulator) -> Starlette:
    """The ASGI app serving `sim`: every path and method reaches `_Endpoint`, which routes
    by the contract (so an unknown path or method gets the contract's JSON 404 or 405)."""
    return Starlette(
        routes=[Route("/{path:path}", _Endpoint(sim))],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )


class _Endpoint:
    """One request: log it, read its body, wait out the latency, answer, send."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim = self._sim
        request = Request(scope, receive)
        method, path = request.method, scope["path"]
        sim._record(method, path)
        # In flight from its arrival until its answer goes out: the answer's own sending
        # is left out, so that a client's next request is never counted with the one it
        # has already been answered.
        sim._in_flight(+1)
        try:
            try:
                raw, problem = await _read_body(request)
            except ClientDisconnect:
                return
            if sim.latency > 0:
                await asyncio.sleep(sim.latency)
            reply = problem or sim._answer(method, path, request.headers.get(TOKEN_HEADER), raw)
            if reply.delay > 0:
                await asyncio.sleep(reply.delay)
        finally:
            sim._in_flight(-1)
        await _send(reply, scope, receive, send)


async def _read_body(request: Request) -> tuple[bytes, Reply | None]:
    """The request body, or the 413 answer for one over `MAX_BODY_BYTES`."""
    too_big = error(413, f"The request body is over {MAX_BODY_BYTES} bytes.")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > _MAX_DRAIN_BYTES:
        too_big.close = True
        return b"", too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_DRAIN_BYTES:
            too_big.close = True
            return b"", too_big
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    if size > MAX_BODY_BYTES:
        return b"", too_big
    return b"".join(chunks), None


async def _send(reply: Reply, scope: Scope, receive: Receive, send: Send) -> None:
    body = reply.body()
    headers = {"content-type": "application/json", **reply.headers}
    if reply.close:
        headers["connection"] = "close"
    response = Response(body, status_code=reply.status, headers=headers)
    if reply.cut is None:
        await response(scope, receive, send)
        return
    # Headers promise the whole body; half of it goes out, then the connection is cut,
    # so the client sees a transport error mid-answer, never a short but complete body.
    await send(
        {"type": "http.response.start", "status": reply.status, "headers": response.raw_headers}
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    await asyncio.sleep(_CUT_AFTER)
    transport: asyncio.Transport = scope["extensions"][_TRANSPORT]
    if reply.cut == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Closing with a zero linger sends a TCP RST instead of close_notify and FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    # Lets the connection notice it is gone before the app returns.
    await asyncio.sleep(0)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reply = error(exc.status_code, exc.detail, **(exc.headers or {}))
    return Response(reply.body(), status_code=reply.status, media_type="application/json")


async def _server_error(request: Request, exc: Exception) -> Response:
    reply = error(500, "The simulator failed to answer.")
    return Response(reply.body(), status_code=500, media_type="application/json")


# ---- uvicorn in a thread -------------------------------------------------------------------


class _QuietProtocol(_HTTPProtocol):
    """uvicorn's HTTP protocol without logging, handing each request its transport."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _SILENT
        self.access_logger = _SILENT
        self.access_log = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {**scope.get("extensions", {}), _TRANSPORT: transport}
            await app(scope, receive, send)

        self.app = with_transport


def _ignore(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's exception handler: report nothing (see the module docstring)."""


class BackgroundServer:
    """uvicorn serving `app` over TLS on the bound socket `sock`, in a daemon thread.

    `start()` returns once the server accepts connections, or raises what stopped it;
    `stop()` drops every connection, cancels the requests in flight and joins the thread.
    """

    def __init__(
        self, app: Starlette, sock: socket.socket, certificate: ServerCertificate, name: str
    ) -> None:
        self._config = uvicorn.Config(
            app,
            http=_QuietProtocol,
            ws="none",
            lifespan="off",
            log_config=None,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=_KEEP_ALIVE_SECONDS,
            ssl_certfile=str(certificate.certfile),
            ssl_keyfile=str(certificate.keyfile),
        )
        # Here, not in the thread, so a certificate that cannot be loaded raises to the caller.
        self._config.load()
        self._sock = sock
        self._name = name
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"the simulator did not start within {_START_TIMEOUT:g} s")
        if self._failure is not None:
            self._thread.join(_STOP_TIMEOUT)
            raise self._failure

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            # RuntimeError: the loop has already closed (the server failed on its own).
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stopping.set)
        thread.join(_STOP_TIMEOUT)

    def _run(self) -> None:
        # A selector loop of its own: the stdlib's TLS transports, whatever loop policy
        # the process has installed.
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            runner.get_loop().set_exception_handler(_ignore)
            runner.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = uvicorn.Server(self._config)
        # What `Server.serve()` would set up, without its process-wide side effects.
        server.lifespan = self._config.lifespan_class(self._config)
        try:
            await server.startup(sockets=[self._sock])
        except BaseException as exc:  # uvicorn exits (SystemExit) on some start-up failures
            self._failure = exc
            self._sock.close()
            return
        finally:
            self._ready.set()
        await self._stopping.wait()
        await _shut_down(server)


async def _shut_down(server: uvicorn.Server) -> None:
    """Stop listening, drop every connection, and cancel the requests still running."""
    for listener in server.servers:
        listener.close()
    for connection in list(server.server_state.connections):
        connection.transport.abort()
    # The aborted connections report their loss, so running requests see a disconnect.
    await asyncio.sleep(0)
    tasks = list(server.server_state.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
