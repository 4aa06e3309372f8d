"""A real HTTPS MPS Monitor server on loopback, serving a synthetic `Fleet`.

It implements the contract in the project's MPS Monitor API page to the letter, with a
settable clock (`now`, a UTC moment) that decides which readings are served, and with
faults that really happen on the wire (HTTP errors, throttling, delays, connections reset
mid-body, malformed or mistyped bodies), so the client and the pipeline are tested
against the same kind of failures a vendor API produces at night.

Only the standard library and `trustme` (for the test certificate authority) are used.
The server never prints or logs anything: the fleet carries serial numbers and IP
addresses, and those must not end up in any log.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hmac
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import trustme

from releaf_pipeline.simulator.fleet import Fleet, FleetConfig

__all__ = [
    "CA_BUNDLE_NAME",
    "COUNTER_LIST_PATH",
    "CUSTOMER_PATH",
    "DEFAULT_TOKEN",
    "DEVICE_LIST_PATH",
    "FAULT_KINDS",
    "MAX_PAGE_ROWS",
    "MAX_RANGE_DAYS",
    "PING_PATH",
    "Simulator",
    "main",
]

PING_PATH = "/api3/PrintReleaf/Ping"
CUSTOMER_PATH = "/api3/Customer/GetCustomerByCode"
DEVICE_LIST_PATH = "/api3/Device/List"
COUNTER_LIST_PATH = "/api3/Counter/List"
_ROUTES = {
    PING_PATH: "GET",
    CUSTOMER_PATH: "POST",
    DEVICE_LIST_PATH: "POST",
    COUNTER_LIST_PATH: "POST",
}

DEFAULT_TOKEN = "sim-dealer-token-0001"
CA_BUNDLE_NAME = "mpsmonitor-sim-ca.pem"
MAX_PAGE_ROWS = 500
MAX_RANGE_DAYS = 93
# Request bodies are small query filters; anything bigger is refused rather than buffered.
_MAX_BODY = 1 << 20

FAULT_KINDS = frozenset(
    {
        "status",
        "throttle",
        "delay",
        "reset",
        "malformed",
        "missing_field",
        "wrong_type",
        "counter_value",
        "duplicate_device",
    }
)
_REQUIRED_PARAMS = {
    "status": ("status",),
    "delay": ("seconds",),
    "missing_field": ("field",),
    "wrong_type": ("field",),
    "counter_value": ("value",),
}
# Faults that only make sense on some requests are not used up by the others.
_FAULT_PATHS = {
    "counter_value": frozenset({COUNTER_LIST_PATH}),
    "duplicate_device": frozenset({DEVICE_LIST_PATH, COUNTER_LIST_PATH}),
}
_ENVELOPE_FIELDS = frozenset({"IsValid", "Errors", "ReturnValue", "Result", "TotalRows"})
_COUNTER_FIELDS = frozenset({"Date", "Mono", "Color", "MonoPagesInPeriod", "ColorPagesInPeriod"})
_SORT_COLUMNS = frozenset(
    {
        "Id",
        "CustomerCode",
        "IsManaged",
        "CounterMono",
        "CounterColor",
        "LastUpdate",
        "IsOffline",
        "SerialNumber",
        "AssetNumber",
        "SystemName",
    }
)
_STATUSES = frozenset({"All", "Managed", "NotManaged"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "NotFound",
    405: "MethodNotAllowed",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _utc(dt: datetime) -> datetime:
    if not isinstance(dt, datetime) or dt.utcoffset() is None:
        raise ValueError(f"the clock needs an aware datetime, got {dt!r}")
    return dt.astimezone(UTC)


def _at_five(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 5, tzinfo=UTC)


def _envelope(result: Any, total_rows: int | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {"IsValid": True, "Errors": [], "ReturnValue": None, "Result": result}
    if total_rows is not None:
        env["TotalRows"] = total_rows
    return env


def _invalid(code: str, description: str) -> dict[str, Any]:
    return {
        "IsValid": False,
        "Errors": [{"Code": code, "Description": description}],
        "ReturnValue": None,
        "Result": None,
    }


@dataclass
class _Reply:
    """What the handler writes back: a JSON payload (or raw bytes) and how to send it."""

    status: int
    payload: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    close: bool = False

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, separators=(",", ":")).encode()


def _error(status: int, description: str, code: str | None = None, **headers: str) -> _Reply:
    return _Reply(
        status,
        _invalid(code or _STATUS_CODES.get(status, "ServerError"), description),
        headers=headers,
    )


class _BadRequest(Exception):
    """A body that is not the JSON object the request needs; answered with HTTP 400."""


@dataclass
class _Fault:
    kind: str
    path: str | None
    customer: str | None
    remaining: int
    params: dict[str, Any]


def _body_customers(body: Any) -> set[str]:
    """Customer codes a request body names, whatever request it is."""
    if not isinstance(body, dict):
        return set()
    codes = set()
    filt = body.get("FilterCustomerCodes")
    if isinstance(filt, list):
        codes.update(c for c in filt if isinstance(c, str))
    for key in ("CustomerCode", "Code"):
        if isinstance(body.get(key), str):
            codes.add(body[key])
    return codes


def _require(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    # bool is an int in Python but never a valid number in JSON terms here.
    if value is None or isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise _BadRequest(f"Field {name} is missing or has the wrong type.")
    return value


def _require_date(body: dict[str, Any], name: str) -> date:
    value = _require(body, name, str)
    if not _ISO_DATE.fullmatch(value):
        raise _BadRequest(f"Field {name} must be a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _BadRequest(f"Field {name} is not a valid date.") from None


def _sort_key(value: Any) -> tuple[int, Any]:
    # Nulls sort first; numbers and booleans by value; everything else as text.
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


class _Handler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a `Simulator` answer and writes it on the wire."""

    protocol_version = "HTTP/1.1"
    server_version = "MPSMonitorSimulator/1.0"
    sys_version = ""
    # Small JSON answers on kept-alive connections would otherwise wait on delayed ACKs.
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped after this, so threads do not pile up.
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self.connection, False)

    def handle(self) -> None:
        # Handshake here, in this connection's thread, so one slow or hostile client
        # cannot stall the accept loop. Clients that give up (failed verification,
        # time-outs, resets) are routine and must not print tracebacks.
        try:
            self.connection.do_handshake()
            super().handle()
        except (OSError, ssl.SSLError, ValueError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Print nothing: request lines and peers are not for the console."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def __getattr__(self, name: str) -> Any:
        # Every other method (PUT, DELETE, PATCH, HEAD, ...) is logged and answered 405
        # instead of the HTML 501 the base class would send.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed request lines and headers get a JSON envelope too, then the close."""
        self.close_connection = True
        # The base class answers an unparseable request line HTTP/0.9-style, with no status
        # line or headers; every answer here carries a status and a JSON content type.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"
        reply = _error(code, message or "The request could not be read.")
        with contextlib.suppress(OSError):
            self._write(reply, head=self.command == "HEAD")

    def _serve(self) -> None:
        sim = self.server.sim
        method = self.command
        path = urlsplit(self.path).path
        sim._record(method, path)
        raw, problem = self._read_body()
        if sim.latency > 0:
            time.sleep(sim.latency)
        if problem is not None:
            # The rest of the stream cannot be framed, so this connection is finished.
            reply = _error(400, problem)
            reply.close = True
        else:
            reply = sim._answer(method, path, self.headers.get("X-Dealer-Token"), raw)
        self._write(reply, head=method == "HEAD")

    def _read_body(self) -> tuple[bytes, str | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return b"", "Chunked request bodies are not supported; send Content-Length."
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", None
        try:
            n = int(length)
        except ValueError:
            return b"", "Content-Length is not a number."
        if n < 0 or n > _MAX_BODY:
            return b"", "Content-Length is out of range."
        return self.rfile.read(n), None

    def _write(self, reply: _Reply, *, head: bool = False) -> None:
        body = reply.body()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if not reply.reset:
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        # Let the partial body reach the client before the reset, so it sees the headers
        # and a truncated body rather than a refused request.
        time.sleep(0.05)
        self.close_connection = True
        conn = self.connection
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Closing with a zero linger sends a TCP RST instead of a TLS close_notify + FIN.
        with contextlib.suppress(OSError):
            conn.close()


class _Server(ThreadingHTTPServer):
    """The threading HTTP server, with TLS, a deep listen queue and no console output."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator, context: ssl.SSLContext) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sim = sim
        self.ssl_context = context
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        return self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Swallow per-connection errors: the default prints a traceback to stderr."""

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            # Wakes handler threads blocked on an idle keep-alive connection.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Simulator:
    """A real HTTPS MPS Monitor server on loopback over a `Fleet`.

    `now` is the server's clock, an aware UTC datetime: readings are served as the fleet
    publishes them at that moment (see `Fleet`), and `today` is its date. Faults are
    queued with `inject`, `set_outage`, `revoke_token`, `throttle_every` and `latency`;
    each one really happens on the wire. Use as a context manager or call `start()` /
    `stop()`.
    """

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        today: date | None = None,
        now: datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        workdir: Path | None = None,
    ) -> None:
        """Prepare the server and write its CA bundle; nothing listens until `start()`.

        The clock starts at `now` when given, else at `today` (default: the real date)
        05:00 UTC, the time the Ping answer has always shown.
        """
        self.fleet: Fleet = fleet if fleet is not None else Fleet()
        self.token: str = token
        if now is not None:
            self._now = _utc(now)
        else:
            self._now = _at_five(today if today is not None else date.today())
        self.host = host
        self.port = port
        self.latency: float = latency
        # When > 0, every Nth request is answered 429 with Retry-After: 0.
        self.throttle_every: int = 0
        self.request_log: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._down = False
        self._revoked = False
        self._requests = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="mpsmonitor-sim-"))
            weakref.finalize(self, shutil.rmtree, workdir, True)
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir: Path = workdir
        ca = trustme.CA()
        names = ["127.0.0.1", "localhost"]
        if ":" in host:
            names.append("::1")
        if host not in names and host not in ("0.0.0.0", "::", ""):
            names.append(host)
        cert = ca.issue_cert(*names)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self._context)
        self.ca_bundle: Path = workdir / CA_BUNDLE_NAME
        ca.cert_pem.write_to_path(str(self.ca_bundle))

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind, then serve in a daemon thread. Returns self."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = _Server((self.host, self.port), self, self._context)
        self._server = server
        self.port = server.server_port
        # A wildcard bind is reached through loopback, which the certificate names.
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        self._url = (
            f"https://[{host}]:{self.port}" if ":" in host else f"https://{host}:{self.port}"
        )
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"mpsmonitor-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop every open connection. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, ``https://<host>:<port>``; known once started (and after stop)."""
        if self._url is None:
            raise RuntimeError("the simulator has not been started; call start() first")
        return self._url

    # ---- clock ----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The server's clock, an aware UTC datetime; assigning it is `set_now`."""
        return self._now

    @now.setter
    def now(self, dt: datetime) -> None:
        self.set_now(dt)

    @property
    def today(self) -> date:
        """The date of `now` (UTC). Read-only: move the clock with `set_today`."""
        return self._now.date()

    def set_now(self, dt: datetime) -> None:
        """Move the clock to the moment `dt` (aware; converted to UTC). Naive: ValueError."""
        self._now = _utc(dt)

    def set_today(self, d: date) -> None:
        """Move the clock to `d` at 05:00 UTC."""
        self._now = _at_five(d)

    def advance(self, days: int = 1) -> None:
        """Move the clock forward (or back, with a negative count) by whole `days`."""
        self._now = self._now + timedelta(days=days)

    # ---- request log ----------------------------------------------------------------------

    def reset_log(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self.request_log.clear()

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.request_log.append((method, path))

    # ---- faults ---------------------------------------------------------------------------

    def set_outage(self, down: bool) -> None:
        """While down, every request (Ping included) is answered 503."""
        self._down = down

    def revoke_token(self) -> None:
        """Answer 401 to the registered token until `restore_token()`."""
        self._revoked = True

    def restore_token(self) -> None:
        """Accept the registered token again."""
        self._revoked = False

    def inject(
        self,
        fault: str,
        *,
        path: str | None = None,
        customer: str | None = None,
        times: int = 1,
        **params: Any,
    ) -> None:
        """Apply `fault` to the next `times` requests matching `path` and `customer`.

        `path` is a request path such as ``/api3/Counter/List`` (None: any); `customer`
        is matched against the body's FilterCustomerCodes, CustomerCode or Code (None:
        any). Faults queue in order; a request takes the first one that matches.
        """
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        missing = [p for p in _REQUIRED_PARAMS.get(fault, ()) if p not in params]
        if missing:
            raise ValueError(f"fault {fault!r} needs {', '.join(missing)}")
        with self._lock:
            self._faults.append(_Fault(fault, path, customer, times, dict(params)))

    def clear_faults(self) -> None:
        """Drop every queued fault, end any outage, restore the token, stop throttling."""
        with self._lock:
            self._faults.clear()
            self._requests = 0
        self._down = False
        self._revoked = False
        self.throttle_every = 0

    @property
    def pending_faults(self) -> int:
        """How many fault applications are still queued."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _take_fault(self, path: str, body: Any) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            codes = _body_customers(body)
            for fault in self._faults:
                if fault.path is not None and fault.path != path:
                    continue
                if path not in _FAULT_PATHS.get(fault.kind, (path,)):
                    continue
                if fault.customer is not None and fault.customer not in codes:
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
            return None

    # ---- answering ------------------------------------------------------------------------

    def _answer(self, method: str, path: str, token: str | None, raw: bytes) -> _Reply:
        """The reply to one request, faults included (called from handler threads)."""
        if self._down:
            return _error(503, "The server is down for maintenance.")
        if self.throttle_every > 0:
            with self._lock:
                self._requests += 1
                throttled = self._requests % self.throttle_every == 0
            if throttled:
                return _error(429, "Too many requests; slow down.", **{"Retry-After": "0"})
        expected = _ROUTES.get(path)
        if method not in ("GET", "POST"):
            allow = expected or "GET, POST"
            return _error(405, f"Method {method} is not allowed.", Allow=allow)
        if expected is None:
            return _error(404, "No such endpoint.")
        if method != expected:
            return _error(405, f"Method {method} is not allowed here.", Allow=expected)
        if (
            token is None
            or self._revoked
            or not hmac.compare_digest(
                token.encode("utf-8", "surrogateescape"), self.token.encode("utf-8")
            )
        ):
            return _error(401, "The dealer token is missing, wrong or revoked.")

        body: Any = None
        if method == "POST":
            try:
                body = json.loads(raw) if raw else None
            except (ValueError, UnicodeDecodeError):
                body = None

        fault = self._take_fault(path, body)
        if fault is not None:
            reply = self._pre_fault(fault)
            if reply is not None:
                return reply

        # One reading of the clock per request, so a test moving it cannot split an answer.
        now = self._now
        try:
            if path == PING_PATH:
                reply = self._ping(now)
            elif not isinstance(body, dict):
                raise _BadRequest("The body must be a JSON object.")
            elif path == CUSTOMER_PATH:
                reply = self._customer(body)
            elif path == DEVICE_LIST_PATH:
                reply = self._device_list(body, now)
            else:
                reply = self._counter_list(body, now)
        except _BadRequest as exc:
            reply = _error(400, str(exc))

        if fault is not None:
            self._post_fault(fault, reply)
        return reply

    def _pre_fault(self, fault: _Fault) -> _Reply | None:
        """Faults that replace the answer; None when the normal answer should follow."""
        p = fault.params
        if fault.kind == "status":
            status = int(p["status"])
            return _error(status, "Injected server fault.")
        if fault.kind == "throttle":
            retry = p.get("retry_after", 1)
            retry_text = str(int(retry)) if float(retry).is_integer() else str(retry)
            return _error(429, "Too many requests; slow down.", **{"Retry-After": retry_text})
        if fault.kind == "delay":
            time.sleep(float(p["seconds"]))
        elif fault.kind == "malformed":
            return _Reply(200, raw=b'{"IsValid": true, "Errors": [], "Result": [{"Id": ')
        return None

    def _post_fault(self, fault: _Fault, reply: _Reply) -> None:
        """Faults that corrupt a successful answer in place."""
        if fault.kind == "reset":
            reply.reset = True
            return
        env = reply.payload
        if reply.status != 200 or not isinstance(env, dict) or not env.get("IsValid"):
            return
        p = fault.params
        result = env.get("Result")
        rows = result if isinstance(result, list) else [result] if isinstance(result, dict) else []
        name = p.get("field")
        if fault.kind in ("missing_field", "wrong_type"):
            value = p.get("value", "not-a-number")
            if name in _ENVELOPE_FIELDS:
                targets = [env]
            elif name in _COUNTER_FIELDS:
                targets = [c for row in rows for c in row.get("Counters") or []]
            else:
                targets = rows
            for target in targets:
                if fault.kind == "missing_field":
                    target.pop(name, None)
                else:
                    target[name] = copy.deepcopy(value)
        elif fault.kind == "counter_value":
            when = p.get("date")
            for row in rows:
                for counter in row.get("Counters") or []:
                    if when is None or counter.get("Date") == str(when):
                        counter["Mono"] = p["value"]
        elif fault.kind == "duplicate_device" and isinstance(result, list) and result:
            result.insert(1, copy.deepcopy(result[0]))

    def _ping(self, now: datetime) -> _Reply:
        return _Reply(
            200,
            _envelope(
                {
                    "DealerCode": self.fleet.config.dealer_code,
                    "ServerTimeUtc": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ),
        )

    def _customer(self, body: dict[str, Any]) -> _Reply:
        code = _require(body, "Code", str)
        if not self.fleet.has_customer(code):
            return _Reply(200, _invalid("CustomerNotFound", "No customer has this code."))
        return _Reply(200, _envelope(self.fleet.customer(code)))

    def _device_list(self, body: dict[str, Any], now: datetime) -> _Reply:
        codes = _require(body, "FilterCustomerCodes", list)
        if not all(isinstance(c, str) for c in codes):
            raise _BadRequest("FilterCustomerCodes must be a list of customer codes.")
        status = _require(body, "Status", str)
        if status not in _STATUSES:
            raise _BadRequest("Status must be All, Managed or NotManaged.")
        page = _require(body, "PageNumber", int)
        rows_per_page = _require(body, "PageRows", int)
        if page < 1 or rows_per_page < 1:
            raise _BadRequest("PageNumber and PageRows start at 1.")
        # Larger pages are served at the cap, as the vendor does: clients must page by
        # TotalRows, not by the page size they asked for.
        rows_per_page = min(rows_per_page, MAX_PAGE_ROWS)
        sort_column = body.get("SortColumn", "Id")
        sort_order = body.get("SortOrder", "Asc")
        if sort_column not in _SORT_COLUMNS:
            raise _BadRequest("SortColumn is not a sortable device field.")
        if sort_order not in ("Asc", "Desc"):
            raise _BadRequest("SortOrder must be Asc or Desc.")

        # An empty filter means every customer of the dealer.
        wanted = list(dict.fromkeys(codes)) or list(self.fleet.customer_codes)
        unknown = [c for c in wanted if not self.fleet.has_customer(c)]
        if unknown:
            return _Reply(200, _invalid("CustomerNotFound", "No customer has this code."))
        devices = [d for c in wanted for d in self.fleet.devices(c, now)]
        if status != "All":
            devices = [d for d in devices if d["IsManaged"] == (status == "Managed")]
        # Sorting by Id first makes ties keep a stable order, so pages never overlap.
        devices.sort(key=lambda d: d["Id"])
        devices.sort(key=lambda d: _sort_key(d.get(sort_column)), reverse=sort_order == "Desc")
        first = (page - 1) * rows_per_page
        return _Reply(
            200, _envelope(devices[first : first + rows_per_page], total_rows=len(devices))
        )

    def _counter_list(self, body: dict[str, Any], now: datetime) -> _Reply:
        dealer = _require(body, "DealerCode", str)
        code = _require(body, "CustomerCode", str)
        start = _require_date(body, "FromDate")
        end = _require_date(body, "ToDate")
        if dealer != self.fleet.config.dealer_code:
            return _Reply(200, _invalid("InvalidDealerCode", "The dealer code is not valid."))
        if not self.fleet.has_customer(code):
            return _Reply(200, _invalid("CustomerNotFound", "No customer has this code."))
        if end < start:
            return _Reply(200, _invalid("InvalidDateRange", "ToDate is before FromDate."))
        if (end - start).days > MAX_RANGE_DAYS:
            return _Reply(
                200,
                _invalid(
                    "DateRangeTooLarge",
                    f"FromDate and ToDate are at most {MAX_RANGE_DAYS} days apart.",
                ),
            )
        return _Reply(200, _envelope(self.fleet.counter_rows(code, start, end, now)))


def main(argv: list[str] | None = None) -> int:
    """Run a simulator until Ctrl-C (the `releaf simulator` command)."""
    parser = argparse.ArgumentParser(
        prog="releaf simulator",
        description="Serve a synthetic MPS Monitor fleet over HTTPS for testing.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8443, help="port to listen on (0: any)")
    parser.add_argument("--seed", type=int, default=FleetConfig.seed, help="fleet seed")
    parser.add_argument("--customers", type=int, default=FleetConfig.customers)
    parser.add_argument(
        "--devices", type=int, default=FleetConfig.devices_per_customer, help="per customer"
    )
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="the server's clock starts at 05:00 UTC of this date (default: the real date)",
    )
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument(
        "--local-time-publication",
        action="store_true",
        help="publish each day's readings 30 minutes after the day ends in the customer's "
        "time zone (default: at 00:00 UTC)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(".releaf/simulator"),
        metavar="DIR",
        help="where the CA bundle is written",
    )
    args = parser.parse_args(argv)

    env_token = os.environ.get("RELEAF_DEALER_TOKEN")
    fleet = Fleet(
        FleetConfig(
            seed=args.seed,
            customers=args.customers,
            devices_per_customer=args.devices,
            publish_in_local_time=args.local_time_publication,
        )
    )
    sim = Simulator(
        fleet,
        token=env_token or DEFAULT_TOKEN,
        today=args.today,
        host=args.host,
        port=args.port,
        latency=args.latency,
        workdir=args.workdir,
    )
    try:
        sim.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous: Any = None
    with contextlib.suppress(ValueError):
        # Only possible from the main thread; lets `kill` stop the server cleanly too.
        previous = signal.signal(signal.SIGTERM, _terminate)

    print(f"MPS Monitor simulator listening on {sim.url}")
    print(f"CA bundle: {sim.ca_bundle.resolve()}")
    print(
        "dealer token: from RELEAF_DEALER_TOKEN"
        if env_token
        else f"dealer token: {DEFAULT_TOKEN} (default; set RELEAF_DEALER_TOKEN to change)"
    )
    print(f"now: {sim.now.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    print("customer codes:")
    for code in fleet.customer_codes:
        print(f"  {code}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
