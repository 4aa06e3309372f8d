"""`Simulator`: a real HTTPS MPS Monitor server on loopback, serving a synthetic `Fleet`.

It implements the contract in the project's MPS Monitor API page to the letter, with a
settable clock (`now`, a UTC moment) that decides which readings are served, and with
faults that really happen on the wire (HTTP errors, throttling, delays, connections reset
or cut mid-body, malformed or mistyped bodies), so the client and the pipeline are tested
against the same kind of failures a vendor API produces at night.

The answers are decided here and in `contract` and `faults`; `wire` serves them (a
Starlette app on uvicorn, in a background thread); `certs` keeps the TLS certificates.
The server never prints or logs anything.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import weakref
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    DEVICE_LIST_PATH,
    MAX_PAGE_ROWS,
)
from releaf_pipeline.simulator.certs import ensure_certificates, server_names
from releaf_pipeline.simulator.contract import (
    DEFAULT_TOKEN,
    Reply,
    answer,
    authorized,
    error,
    parse_body,
    route,
)
from releaf_pipeline.simulator.faults import (
    FaultQueue,
    apply_after,
    apply_before,
    body_customers,
)
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.membership import GhostDevice, RekeyedDevice, apply_membership
from releaf_pipeline.simulator.odd_answers import (
    DuplicateReadings,
    NullCounter,
    RecasedIds,
    apply_odd_answers,
)
from releaf_pipeline.simulator.request_log import RequestLog
from releaf_pipeline.simulator.wire import BackgroundServer, build_app

_LISTEN_BACKLOG = 1024


def _utc(dt: datetime) -> datetime:
    if not isinstance(dt, datetime) or dt.utcoffset() is None:
        raise ValueError(f"the clock needs an aware datetime, got {dt!r}")
    return dt.astimezone(UTC)


def _at_five(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 5, tzinfo=UTC)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one. OSError when taken.

    Made with IPPROTO_TCP, not `socket.create_server`'s protocol 0: asyncio turns Nagle's
    algorithm off only on connections of a socket that says it is TCP, and with it on,
    every small answer waits some 40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":
            # Rebinding the port of a stopped simulator must not wait out TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


class Simulator(RequestLog):
    """A real HTTPS MPS Monitor server on loopback over a `Fleet`.

    `now` is the server's clock, an aware UTC datetime: readings are served as the fleet
    publishes them at that moment (see `Fleet`), and `today` is its date. Faults are
    queued with `inject`, `set_outage`, `revoke_token`, `swap_dealer`, `throttle_every`,
    `latency`, and `add_ghost_device` and `rekey_device` (Counter/List rows Device/List does
    not back); each one really happens on the wire. Honest but odd answers the contract
    allows are set with `null_counter`, `duplicate_readings`, `recase_device_ids` and
    `page_cap`, and last until `clear_faults`. Use as a context manager or call
    `start()` / `stop()`; a stopped simulator can be started again, on the same port.
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
        """Prepare the server and its certificates; nothing listens until `start()`.

        The clock starts at `now` when given, else at `today` (default: the real date)
        05:00 UTC, the time the Ping answer has always shown. The CA bundle and the
        server certificate are kept in `workdir` (default: a temporary directory removed
        with the simulator), reused from an earlier simulator there if it left them.
        Raises `MissingExtraError` when they must be made and trustme is not installed.
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
        # Device/List pages hold at most this many rows, whatever PageRows asks for.
        self.page_cap: int = MAX_PAGE_ROWS
        self.request_log: list[tuple[str, str]] = []
        # (path, customer codes the body names) of every request answered.
        self._customer_log: list[tuple[str, frozenset[str]]] = []
        self._in_flight_now = 0
        self._in_flight_peak = 0
        self._lock = threading.Lock()
        self._faults = FaultQueue()
        self._down = False
        self._revoked = False
        self._impostor: Fleet | None = None
        self._requests = 0
        self._ghosts: dict[str, GhostDevice] = {}
        self._rekeyed: list[RekeyedDevice] = []
        self._nulls: list[NullCounter] = []
        self._duplicates: list[DuplicateReadings] = []
        self._recased: list[RecasedIds] = []
        self._server: BackgroundServer | None = None
        self._url: str | None = None

        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="mpsmonitor-sim-"))
            weakref.finalize(self, shutil.rmtree, workdir, True)
        self.workdir: Path = workdir
        self._certificate = ensure_certificates(workdir, server_names(host))
        self.ca_bundle: Path = self._certificate.ca_bundle

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> Simulator:
        """Listen, then serve in a background thread. Returns self.

        Raises OSError when the address cannot be bound (a port in use, an unknown host).
        """
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        sock = _listen(self.host, self.port)
        try:
            self.port = sock.getsockname()[1]
            server = BackgroundServer(
                build_app(self), sock, self._certificate, name=f"mpsmonitor-simulator-{self.port}"
            )
            server.start()
        except BaseException:
            sock.close()
            raise
        self._server = server
        # A wildcard bind is reached through loopback, which the certificate names.
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        self._url = (
            f"https://[{host}]:{self.port}" if ":" in host else f"https://{host}:{self.port}"
        )
        return self

    def stop(self) -> None:
        """Stop serving, drop every open connection and end the thread. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

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
        """The server's clock, an aware UTC datetime (moved with `set_now`)."""
        return self._now

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

    def swap_dealer(self, dealer_code: str = "D-9999") -> Fleet:
        """Answer as another dealer at the same URL, with the same token, until
        `restore_dealer()`: Ping names `dealer_code`, and every request is answered from
        `self.fleet.as_dealer(dealer_code)`, whose customers carry the same codes with
        other devices and counters. Returns that fleet. ValueError for the own code."""
        self._impostor = self.fleet.as_dealer(dealer_code)
        return self._impostor

    def restore_dealer(self) -> None:
        """Answer as the simulator's own dealer, from its own fleet, again."""
        self._impostor = None

    def inject(
        self,
        fault: str,
        *,
        path: str | None = None,
        customer: str | None = None,
        times: int = 1,
        **params: Any,
    ) -> None:
        """Apply `fault` (one of `FAULT_KINDS`) to the next `times` requests matching `path`
        and `customer`.

        `path` is a request path such as ``/api3/Counter/List`` (None: any); `customer`
        is matched against the body's FilterCustomerCodes, CustomerCode or Code (None:
        any). Faults queue in order; a request takes the first one that matches. Raises
        ValueError for an unknown fault or a missing parameter.
        """
        self._faults.add(fault, path, customer, times, params)

    def add_ghost_device(
        self, customer: str, device_id: str, first: date, **counts: int
    ) -> GhostDevice:
        """From now on `customer`'s Counter/List reports `device_id`, which its Device/List
        does not list: a reading on every published date from `first`, with huge counts
        (`start`, `per_day`: see `GhostDevice`). Returns the ghost, whose `readings` tell
        what is served."""
        ghost = GhostDevice(customer, device_id, first, **counts)
        with self._lock:
            self._ghosts[device_id] = ghost
        return ghost

    def list_ghost_device(self, device_id: str) -> None:
        """From now on Device/List lists the ghost `device_id` as well."""
        with self._lock:
            self._ghosts[device_id] = replace(self._ghosts[device_id], listed=True)

    def rekey_device(self, customer: str, device_id: str, new_id: str, since: date) -> None:
        """From now on the readings of `customer`'s device `device_id` dated `since` or later
        come under `new_id` in Counter/List, while Device/List keeps listing `device_id`."""
        with self._lock:
            self._rekeyed.append(RekeyedDevice(customer, device_id, new_id, since))

    def null_counter(self, customer: str, device_id: str, counter: str = "Color") -> None:
        """From now on `customer`'s device `device_id` has no `counter` (``Color``: a mono
        printer; or ``Mono``): Counter/List and Device/List send it as null, its pages on
        the other counter, so its life count is unchanged."""
        if counter not in ("Mono", "Color"):
            raise ValueError(f"counter must be Mono or Color, got {counter!r}")
        with self._lock:
            self._nulls.append(NullCounter(customer, device_id, counter))

    def duplicate_readings(
        self, customer: str, device_id: str, since: date, less_by: int = 37
    ) -> None:
        """From now on Counter/List sends, beside each reading of `customer`'s device
        `device_id` dated `since` or later, a second one `less_by` pages lower, in a row of
        its own placed before the real row (see `DuplicateReadings`)."""
        if less_by < 1:
            raise ValueError("less_by must be >= 1")
        with self._lock:
            self._duplicates.append(DuplicateReadings(customer, device_id, since, less_by))

    def recase_device_ids(self, customer: str, path: str, *, upper: bool = True) -> None:
        """From now on `path` (Counter/List or Device/List) spells every device id of
        `customer` in upper case (or lower case), replacing an earlier spelling for it."""
        if path not in (COUNTER_LIST_PATH, DEVICE_LIST_PATH):
            raise ValueError(f"path must be {COUNTER_LIST_PATH} or {DEVICE_LIST_PATH}")
        with self._lock:
            self._recased = [r for r in self._recased if (r.customer, r.path) != (customer, path)]
            self._recased.append(RecasedIds(customer, path, upper))

    def clear_faults(self) -> None:
        """Drop every queued fault, end any outage, restore the token and the dealer, stop
        throttling, forget ghost and re-keyed devices, and end every odd answer (page
        cap, null counters, duplicate readings, ids in another case)."""
        self._faults.clear()
        self._impostor = None
        self.page_cap = MAX_PAGE_ROWS
        with self._lock:
            self._requests = 0
            self._ghosts.clear()
            self._rekeyed.clear()
            self._nulls.clear()
            self._duplicates.clear()
            self._recased.clear()
        self._down = False
        self._revoked = False
        self.throttle_every = 0

    @property
    def pending_faults(self) -> int:
        """How many fault applications are still queued."""
        return self._faults.pending

    # ---- answering ------------------------------------------------------------------------

    def _answer(self, method: str, path: str, token: str | None, raw: bytes) -> Reply:
        """The reply to one request, faults included (called by the server for each)."""
        body = parse_body(raw) if method == "POST" else None
        with self._lock:
            self._customer_log.append((path, frozenset(body_customers(body))))
        if self._down:
            return error(503, "The server is down for maintenance.")
        if self.throttle_every > 0:
            with self._lock:
                self._requests += 1
                throttled = self._requests % self.throttle_every == 0
            if throttled:
                return error(429, "Too many requests; slow down.", **{"Retry-After": "0"})
        refused = route(method, path)
        if refused is not None:
            return refused
        if self._revoked or not authorized(token, self.token):
            return error(401, "The dealer token is missing, wrong or revoked.")

        fault = self._faults.take(path, body)
        if fault is not None:
            replaced = apply_before(fault)
            if replaced is not None:
                return replaced
        # One reading of the clock per request, so a test moving it cannot split an answer.
        now = self._now
        fleet = self._impostor or self.fleet
        page_cap = max(1, self.page_cap)
        reply = answer(fleet, path, body, now, page_cap=page_cap)
        with self._lock:
            ghosts, rekeyed = list(self._ghosts.values()), list(self._rekeyed)
            odd = list(self._nulls), list(self._duplicates), list(self._recased)
        if ghosts or rekeyed:
            apply_membership(
                path, body, reply, ghosts, rekeyed,
                lambda code, day: fleet.publication_time(code, day) <= now, page_cap,
            )  # fmt: skip
        if any(odd):
            apply_odd_answers(path, body, reply, *odd)
        if fault is not None:
            apply_after(fault, reply)
        return reply
