"""HTTPS to one MPS Monitor server: TLS, politeness, time-outs, size caps and retries.

`ServerTransport.call` sends one of the contract's requests and returns its valid envelope.
It always goes over HTTPS with certificate verification, keeps at most an adaptive number of
requests in flight, bounds every request in time and every answer in size, and retries what
a flaky vendor server makes worth retrying (time-outs, dropped connections, 429, 5xx) with
jittered back-off that honours Retry-After. 401 and ``IsValid: false`` are never retried.
Every failure is an `MPSMonitorError` with a one-line message naming the server (host only);
the dealer token never appears in an exception or a log message. The URL, CA and token
checks it relies on are `endpoint.py`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

import httpx
import tenacity

from releaf_pipeline.lib.mpsmonitor import decoding
from releaf_pipeline.lib.mpsmonitor.contract import TOKEN_HEADER
from releaf_pipeline.lib.mpsmonitor.endpoint import (
    build_ssl_context,
    check_token,
    require_https,
    server_label,
    tls_error,
)
from releaf_pipeline.lib.mpsmonitor.errors import (
    CustomerNotFoundError,
    InvalidResponseError,
    RequestRejectedError,
    RequestTimeoutError,
    ServerError,
    UnauthorizedError,
    UnreachableError,
)
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.safe_text import safe_logger

# The retry warnings keep the logger they have always been logged on, the client's, which is
# the one operators filter on.
logger = safe_logger("releaf_pipeline.lib.mpsmonitor.client")


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        # RFC 9110 also allows an HTTP-date; the contract uses seconds, but a proxy in
        # front of the server may not.
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# -- politeness -----------------------------------------------------------------------------


class AdaptiveLimit:
    """At most `limit` requests in flight to one server, where `limit` halves each time
    the server throttles (HTTP 429) and grows back by one after `limit` answers in a row,
    up to the configured maximum: speed never comes from hammering a dealer's server."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.lowest = maximum
        self._in_flight = 0
        self._streak = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1

    async def __aexit__(self, *_exc: object) -> None:
        # Released before any await, so a request cancelled here still frees its slot.
        self._in_flight -= 1
        async with self._changed:
            self._changed.notify_all()

    def throttled(self) -> None:
        """The server said slow down."""
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self._streak = 0

    def succeeded(self) -> None:
        """An answer that was not throttled."""
        self._streak += 1
        if self._streak >= self.limit and self.limit < self.maximum:
            self.limit += 1
            self._streak = 0


# -- requests -------------------------------------------------------------------------------

_Kind = Literal["timeout", "unreachable", "server"]


class _Retry(Exception):
    """One attempt failed in a way that another attempt may cure."""

    def __init__(self, kind: _Kind, last: str, retry_after: float | None = None) -> None:
        super().__init__(last)
        self.kind = kind
        self.last = last
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Answer:
    status: int
    content: bytes
    retry_after: float | None = None


class ServerTransport:
    """The connection pool, limit, retry policy and counters of one server's client.

    `requests_sent` counts HTTP attempts (retries included), `retries` the retried ones and
    `throttled` the 429 answers; `limit` is the adaptive concurrency limit.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_bundle: str | os.PathLike[str] | None,
        ca_data: str | None,
        settings: ClientSettings,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random | None,
    ) -> None:
        self._base_url = require_https(base_url)
        self.server = server_label(self._base_url)
        check_token(token)
        self._settings = settings
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self.limit = AdaptiveLimit(settings.concurrency)
        self.requests_sent = 0
        self.retries = 0
        self.throttled = 0
        self._http = httpx.AsyncClient(
            # Request paths are joined to it by httpx, a path prefix kept.
            base_url=self._base_url,
            headers={
                TOKEN_HEADER: token,
                "Accept": "application/json",
                "User-Agent": "releaf-pipeline",
            },
            verify=build_ssl_context(ca_bundle, ca_data, self.server),
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
            http2=False,
            follow_redirects=False,
            # Environment settings could route requests through a proxy or attach .netrc
            # credentials; the server's registration alone decides where requests go.
            trust_env=False,
            transport=transport,
            # Checked again as each request leaves: a client whose base URL was changed
            # afterwards still never sends the token in clear text.
            event_hooks={"request": [_refuse_plain_http]},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        label: str,
        *,
        customer: str | Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Send one request, retrying what is worth retrying, and return its valid envelope.

        `label` names the request in messages; `customer` the customer code(s) it is for.
        """
        attempts = self._settings.max_attempts
        # The adaptive limit needs no loop of its own: each attempt takes a slot in
        # `_send` and gives it back before tenacity sleeps, so a back-off never holds one.
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(attempts),
            retry=tenacity.retry_if_exception_type(_Retry),
            wait=self._backoff,
            before_sleep=lambda state: self._before_retry(state, path, attempts),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            answer = await retrying(self._attempt, method, path, body, label)
        except _Retry as failure:
            raise self._exhausted(failure, path, attempts) from None
        return self._envelope(answer, path, label, customer)

    def invalid(self, detail: str) -> InvalidResponseError:
        """The error for an answer that does not follow the contract; `detail` names where."""
        return InvalidResponseError(
            f"{detail} (from {self.server}; the answer does not follow the MPS Monitor "
            "contract: report it to the server's operator)"
        )

    def _backoff(self, state: tenacity.RetryCallState) -> float:
        # tenacity asks for the wait before it checks whether to stop; after the last
        # attempt nothing is slept, and no random draw is spent on it.
        if state.attempt_number >= self._settings.max_attempts:
            return 0.0
        failure = _failure(state)
        if failure.retry_after is not None:
            return min(failure.retry_after, self._settings.max_retry_after)
        cap = self._settings.backoff_base * 2 ** min(state.attempt_number - 1, 62)
        return self._rng.uniform(0, min(self._settings.backoff_max, cap))

    def _before_retry(self, state: tenacity.RetryCallState, path: str, attempts: int) -> None:
        self.retries += 1
        logger.warning(
            "MPS Monitor %s failed with %s on attempt %d of %d; retrying",
            path,
            _failure(state).last,
            state.attempt_number,
            attempts,
        )

    async def _attempt(
        self, method: str, url: str, body: dict[str, Any] | None, label: str
    ) -> _Answer:
        try:
            answer = await self._send(method, url, body, label)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise _Retry("timeout", type(exc).__name__) from exc
        except httpx.TransportError as exc:
            tls_failure = tls_error(exc, self.server)
            if tls_failure is not None:
                raise tls_failure from exc
            raise _Retry("unreachable", type(exc).__name__) from exc
        except httpx.RequestError as exc:
            raise self.invalid(
                f"{label}: the body could not be decoded ({type(exc).__name__})"
            ) from exc
        status = answer.status
        if status == 429:
            self.limit.throttled()
            self.throttled += 1
        elif status < 500:
            self.limit.succeeded()
        if status == 429 or status >= 500:
            raise _Retry("server", f"HTTP {status}", answer.retry_after)
        return answer

    async def _send(
        self, method: str, url: str, body: dict[str, Any] | None, label: str
    ) -> _Answer:
        request = self._http.build_request(method, url, json=body)
        async with self.limit:
            self.requests_sent += 1
            # httpx's time-out applies per network operation; a server that trickles its
            # answer a byte at a time would never trip it, so bound the whole request too.
            async with asyncio.timeout(self._settings.timeout):
                response = await self._http.send(request, stream=True)
                try:
                    status = response.status_code
                    if status == 429 or status >= 500:
                        # Nothing in a failure's body is needed, but reading it lets the
                        # connection be reused; one over the cap just closes it.
                        with contextlib.suppress(InvalidResponseError):
                            await self._read_capped(response, label)
                        return _Answer(status, b"", retry_after_seconds(response.headers))
                    return _Answer(status, await self._read_capped(response, label))
                finally:
                    await response.aclose()

    async def _read_capped(self, response: httpx.Response, label: str) -> bytes:
        cap = self._settings.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        # Refused before reading when the server announces more than the cap (a length too
        # long to parse is more than any cap); otherwise counted while it streams in.
        announced = declared.isascii() and declared.isdigit()
        if announced and (len(declared) > 18 or int(declared) > cap):
            raise self._too_large(label, cap)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            if len(body) + len(chunk) > cap:
                raise self._too_large(label, cap)
            body += chunk
        return bytes(body)

    def _too_large(self, label: str, cap: int) -> InvalidResponseError:
        return InvalidResponseError(
            f"{label}: the answer from {self.server} is larger than the {cap:,}-byte limit "
            "(max_response_bytes) and was refused without being read whole: report it to "
            "the server's operator, or raise the limit if answers this large are expected"
        )

    def _envelope(
        self, answer: _Answer, path: str, label: str, customer: str | Sequence[str] | None
    ) -> dict[str, Any]:
        status = answer.status
        if status == 401:
            raise UnauthorizedError(
                f"the dealer token for {self.server} was rejected (HTTP 401): "
                "register a valid token",
                server=self.server,
                http_status=401,
            )
        if 400 <= status < 500:
            codes = decoding.error_codes(answer.content)
            self._reject(codes, path, label, customer, f"HTTP {status}", status)
        if not 200 <= status < 300:
            raise self.invalid(
                f"{label}: unexpected HTTP {status} (redirects are not followed); "
                "check the registered URL"
            )
        try:
            envelope = decoding.parse_envelope(answer.content, label)
        except decoding.Malformed as exc:
            raise self.invalid(str(exc)) from None
        if not envelope["IsValid"]:
            codes = decoding.error_codes(envelope)
            self._reject(codes, path, label, customer, "IsValid false", status)
        return envelope

    def _reject(
        self,
        codes: list[str],
        path: str,
        label: str,
        customer: str | Sequence[str] | None,
        how: str,
        status: int,
    ) -> NoReturn:
        shown = ", ".join(codes) if codes else "no error code"
        if "CustomerNotFound" in codes:
            if customer is None or isinstance(customer, str):
                who, advice = f"customer code {customer!r} is", "check the feed's customer code"
            else:
                who = f"one of the {len(customer)} customer codes asked for is"
                advice = "ask for each customer alone to find which"
            raise CustomerNotFoundError(
                f"{who} not known on {self.server} ({label}: {how}, {shown}): {advice}", codes,
                http_status=status,
            )  # fmt: skip
        if "Unauthorized" in codes:
            raise UnauthorizedError(
                f"the dealer token for {self.server} was rejected ({how}, {shown}): "
                "register a valid token",
                server=self.server, http_status=status,
            )  # fmt: skip
        raise RequestRejectedError(
            f"{self.server} rejected {path} ({label}: {how}, {shown}): "
            "check the request's parameters and the dealer's access on the server",
            codes,
            http_status=status,
        )

    def _exhausted(
        self, failure: _Retry, path: str, attempts: int
    ) -> RequestTimeoutError | UnreachableError | ServerError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        last = failure.last
        if failure.kind == "timeout":
            return RequestTimeoutError(
                f"{self.server} did not answer {path} within {self._settings.timeout:g}s "
                f"after {tries} (last: {last}): check the server or try later"
            )
        if failure.kind == "unreachable":
            return UnreachableError(
                f"{self.server} could not be reached for {path} after {tries} "
                f"(last: {last}): check the server's address and network, or try later"
            )
        return ServerError(
            f"{self.server} kept failing {path} after {tries} (last: {last}): "
            "check the server or try later"
        )


async def _refuse_plain_http(request: httpx.Request) -> None:
    require_https(str(request.url))


def _failure(state: tenacity.RetryCallState) -> _Retry:
    failure = state.outcome.exception() if state.outcome is not None else None
    assert isinstance(failure, _Retry), "tenacity only retries _Retry"
    return failure
