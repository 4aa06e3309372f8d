"""Tests of the transport: retries and back-off, rejections, TLS, HTTPS-only URLs, tokens."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import json
import logging
import random
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.contract import PING_PATH
from releaf_pipeline.lib.mpsmonitor.endpoint import require_https
from releaf_pipeline.lib.mpsmonitor.errors import (
    CustomerNotFoundError,
    InsecureURLError,
    InvalidResponseError,
    InvalidTokenError,
    MPSMonitorError,
    RequestRejectedError,
    RequestTimeoutError,
    ServerError,
    TLSError,
    UnauthorizedError,
    UnreachableError,
)
from releaf_pipeline.lib.mpsmonitor.models import Ping
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.mpsmonitor.transport import AdaptiveLimit
from releaf_pipeline_tests.lib.mpsmonitor.support import (
    BASE,
    CUSTOMER,
    PING_RESULT,
    TOKEN,
    Harness,
    envelope,
    ok,
    ping,
    rejected,
    sequence,
)

# -- retries --------------------------------------------------------------------------------


def test_5xx_burst_then_success_with_bounded_jittered_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(
        sequence(
            httpx.Response(503),
            httpx.Response(500),
            httpx.Response(502),
            ok(PING_RESULT),
        )
    )
    with caplog.at_level(logging.WARNING, logger="releaf_pipeline.lib.mpsmonitor.client"):
        assert h.run(ping).dealer_code == "D-1042"

    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries) == (4, 3)
    assert len(h.delays) == 3
    for attempt, delay in enumerate(h.delays):
        assert 0 <= delay <= min(30.0, 0.5 * 2**attempt)
    assert len(caplog.records) == 3
    first = caplog.records[0].getMessage()
    assert PING_PATH in first and "HTTP 503" in first and "attempt 1" in first
    assert TOKEN not in caplog.text


def test_backoff_is_capped_by_backoff_max() -> None:
    h = Harness(sequence(httpx.Response(500)), max_attempts=8, backoff_base=1.0, backoff_max=2.0)
    h.fails(ping, ServerError)
    assert len(h.delays) == 7
    assert all(0 <= delay <= 2.0 for delay in h.delays)


def test_429_retry_after_is_honoured_and_capped() -> None:
    h = Harness(
        sequence(
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": "1000"}),
            httpx.Response(429),
            ok(PING_RESULT),
        ),
        max_retry_after=120.0,
    )
    h.run(ping)

    assert h.delays[:2] == [7.0, 120.0]
    assert 0 <= h.delays[2] <= 0.5 * 2**2  # no Retry-After: ordinary back-off
    assert len(h.requests) == 4


def test_timeouts_then_success() -> None:
    h = Harness(
        sequence(
            httpx.ReadTimeout("slow"),
            httpx.ConnectTimeout("slow"),
            ok(PING_RESULT),
        )
    )
    assert h.run(ping).dealer_code == "D-1042"
    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries) == (3, 2)


def test_connection_reset_mid_body_is_retried() -> None:
    h = Harness(
        sequence(
            httpx.RemoteProtocolError("peer closed connection"),
            httpx.ReadError("connection reset"),
            ok(PING_RESULT),
        )
    )
    assert h.run(ping).dealer_code == "D-1042"
    assert len(h.requests) == 3


def test_retries_exhausted_on_5xx_raise_server_error() -> None:
    h = Harness(sequence(httpx.Response(500)))
    error = h.fails(ping, ServerError)

    message = str(error)
    assert "https://mps.example.test" in message
    assert PING_PATH in message
    assert "HTTP 500" in message
    assert "try later" in message
    assert error.reason == "server_error"
    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries) == (5, 4)
    assert len(h.delays) == 4


def test_retries_exhausted_on_429_raise_server_error() -> None:
    h = Harness(sequence(httpx.Response(429, headers={"Retry-After": "1"})), max_attempts=3)
    error = h.fails(ping, ServerError)
    assert "HTTP 429" in str(error)
    assert h.delays == [1.0, 1.0]


def test_retries_exhausted_on_timeouts_raise_request_timeout_error() -> None:
    h = Harness(sequence(httpx.ReadTimeout("slow")), max_attempts=3)
    error = h.fails(ping, RequestTimeoutError)
    assert "https://mps.example.test" in str(error)
    assert PING_PATH in str(error)
    assert "try later" in str(error)
    assert len(h.requests) == 3


def test_retries_exhausted_on_connection_errors_raise_unreachable_error() -> None:
    h = Harness(sequence(httpx.ConnectError("refused")), max_attempts=2)
    error = h.fails(ping, UnreachableError)
    assert "https://mps.example.test" in str(error)
    assert len(h.requests) == 2


def test_a_server_that_trickles_its_answer_hits_the_whole_request_time_out() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return ok(PING_RESULT)

    h = Harness(slow, timeout=0.05, max_attempts=2)
    h.fails(ping, RequestTimeoutError)
    assert len(h.requests) == 2


def test_401_is_not_retried() -> None:
    h = Harness(lambda request: rejected(401, "Unauthorized"))
    error = h.fails(ping, UnauthorizedError)

    assert str(error).startswith(
        "the dealer token for https://mps.example.test was rejected (HTTP 401)"
    )
    assert "register a valid token" in str(error)
    assert error.reason == "unauthorized"
    assert len(h.requests) == 1
    assert h.delays == []


def test_is_valid_false_is_not_retried_and_carries_codes() -> None:
    h = Harness(lambda request: rejected(200, "BadFilter", "Other"))
    error = h.fails(lambda c: c.list_devices(CUSTOMER), RequestRejectedError)

    assert type(error) is RequestRejectedError
    assert error.codes == ["BadFilter", "Other"]
    assert "BadFilter" in str(error)
    assert "details about" not in str(error)  # descriptions stay out
    assert len(h.requests) == 1


def test_customer_not_found() -> None:
    h = Harness(lambda request: rejected(200, "CustomerNotFound"))
    error = h.fails(lambda c: c.get_customer("NOPE"), CustomerNotFoundError)

    assert error.codes == ["CustomerNotFound"]
    assert error.reason == "customer_not_found"
    assert "NOPE" in str(error)
    assert len(h.requests) == 1


def test_other_4xx_is_rejected_without_retry() -> None:
    h = Harness(lambda request: httpx.Response(403, text="forbidden"))
    error = h.fails(ping, RequestRejectedError)
    assert "HTTP 403" in str(error)
    assert len(h.requests) == 1


def test_redirects_are_not_followed() -> None:
    h = Harness(lambda request: httpx.Response(302, headers={"Location": "http://evil.test/"}))
    h.fails(ping, InvalidResponseError)
    assert len(h.requests) == 1


def test_tls_failure_in_connect_is_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError("verify failed") from exc

    h = Harness(handler)
    error = h.fails(ping, TLSError)
    assert "CA bundle" in str(error)
    assert len(h.requests) == 1


# -- secrets, concurrency, settings ---------------------------------------------------------


def test_token_is_not_in_repr() -> None:
    client = MPSMonitorClient(BASE, TOKEN)
    try:
        assert TOKEN not in repr(client)
        assert "mps.example.test" in repr(client)
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize("token", [" padded", "line\nbreak", "n\u00f6n-ascii"])
def test_tokens_that_cannot_be_headers_are_refused_without_echo(token: str) -> None:
    with pytest.raises(ValueError, match="dealer token contains characters that cannot") as info:
        MPSMonitorClient(BASE, token)
    assert token.strip() not in str(info.value)


def test_concurrency_bounds_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return ok(PING_RESULT)

    h = Harness(handle, concurrency=2)

    async def ten_pings(client: MPSMonitorClient) -> list[Ping]:
        return await asyncio.gather(*(client.ping() for _ in range(10)))

    assert len(h.run(ten_pings)) == 10
    assert peak == 2
    assert len(h.requests) == 10


@pytest.mark.parametrize(
    "settings",
    [
        {"page_rows": 501},
        {"page_rows": 0},
        {"max_range_days": 0},
        {"max_range_days": 95},
        {"max_attempts": 0},
        {"concurrency": 0},
        {"timeout": 0},
    ],
)
def test_settings_are_validated(settings: dict[str, Any]) -> None:
    # The message names the setting that is wrong.
    with pytest.raises(ValueError, match=rf"\b{next(iter(settings))}\b.* must "):
        ClientSettings(**settings)


# -- HTTPS only -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://mps.example.test/", "https://mps.example.test"),
        ("HTTPS://mps.example.test:8443/api//", "https://mps.example.test:8443/api"),
        (" https://10.0.0.5 ", "https://10.0.0.5"),
    ],
)
def test_require_https_normalises(url: str, expected: str) -> None:
    assert require_https(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mps.example.test",
        "ftp://mps.example.test",
        "mps.example.test",
        "https://",
        "https:///path",
        "https://user:pw@mps.example.test",
        "https://mps.example.test/?token=x",
        "https://mps.example.test:notaport",
        "",
    ],
)
def test_require_https_refuses(url: str) -> None:
    with pytest.raises(InsecureURLError) as info:
        require_https(url)
    assert "pw" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_http_url_is_refused_at_construction() -> None:
    with pytest.raises(InsecureURLError, match="https://"):
        MPSMonitorClient("http://mps.example.test", TOKEN)


def test_http_url_is_refused_at_request_time() -> None:
    h = Harness(lambda request: ok(PING_RESULT))

    async def downgrade(client: MPSMonitorClient) -> Ping:
        client._transport._http.base_url = "http://mps.example.test"
        return await client.ping()

    h.fails(downgrade, InsecureURLError)
    assert h.requests == []


def test_all_errors_share_the_base_class() -> None:
    for error in (InsecureURLError, TLSError, ServerError, CustomerNotFoundError):
        assert issubclass(error, MPSMonitorError)


# -- real HTTPS against an in-test server ---------------------------------------------------


class _PingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != PING_PATH or self.headers.get("X-Dealer-Token") != TOKEN:
            status, body = 401, {"IsValid": False, "Errors": [{"Code": "Unauthorized"}]}
        else:
            status, body = 200, envelope(PING_RESULT)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate from a private CA; yields URL and CA."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PingHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_file
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _ping_over_https(url: str, token: str = TOKEN, **kw: Any) -> tuple[Ping, MPSMonitorClient]:
    async def main() -> tuple[Ping, MPSMonitorClient]:
        async with MPSMonitorClient(
            url, token, settings=ClientSettings(timeout=5.0, max_attempts=2), **kw
        ) as client:
            return await client.ping(), client

    return asyncio.run(main())


def test_https_with_registered_ca_bundle_verifies(https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    result, client = _ping_over_https(url, ca_bundle=ca_file)
    assert result.dealer_code == "D-1042"
    assert client.requests_sent == 1


def test_https_with_untrusted_certificate_raises_tls_error(
    https_server: tuple[str, Path],
) -> None:
    url, _ = https_server
    with pytest.raises(TLSError) as info:
        _ping_over_https(url)
    assert "127.0.0.1" in str(info.value)
    assert "CA bundle" in str(info.value)
    assert TOKEN not in str(info.value)


def test_https_wrong_token_is_unauthorized(https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    with pytest.raises(UnauthorizedError):
        _ping_over_https(url, token="wrong", ca_bundle=ca_file)


def test_unreadable_ca_bundle_is_a_tls_error(tmp_path: Path) -> None:
    with pytest.raises(TLSError, match="CA bundle"):
        MPSMonitorClient(BASE, TOKEN, ca_bundle=tmp_path / "missing.pem")


def test_plain_http_server_url_is_refused(https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    with pytest.raises(InsecureURLError):
        MPSMonitorClient(url.replace("https://", "http://"), TOKEN, ca_bundle=ca_file)


# -- back-off is today's, draw for draw -----------------------------------------------------


def test_backoff_draws_are_full_jitter_from_the_injected_rng() -> None:
    h = Harness(sequence(httpx.Response(503)), max_attempts=5, backoff_base=0.5)
    h.fails(ping, ServerError)

    expected = random.Random(7)  # the Harness's seed
    assert h.delays == [expected.uniform(0, min(30.0, 0.5 * 2**n)) for n in range(4)]


def test_no_random_draw_is_spent_after_the_last_attempt() -> None:
    rng = random.Random(11)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def main() -> None:
        async with MPSMonitorClient(
            BASE,
            TOKEN,
            settings=ClientSettings(max_attempts=3),
            transport=httpx.MockTransport(lambda request: httpx.Response(500)),
            sleep=sleep,
            rng=rng,
        ) as client:
            with pytest.raises(ServerError):
                await client.ping()
            assert (client.requests_sent, client.retries) == (3, 2)

    asyncio.run(main())
    twin = random.Random(11)
    assert delays == [twin.uniform(0, 0.5), twin.uniform(0, 1.0)]
    assert rng.random() == twin.random()  # exactly two draws, none for the last attempt


def test_429_counts_as_throttled_and_each_retry_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(
        sequence(
            httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(502), ok(PING_RESULT)
        )
    )
    with caplog.at_level(logging.WARNING, logger="releaf_pipeline.lib.mpsmonitor.client"):
        h.run(ping)
    assert h.client is not None
    assert (h.client.requests_sent, h.client.retries, h.client.throttled) == (3, 2, 1)
    messages = [record.getMessage() for record in caplog.records]
    assert [m.split(" failed with ")[1].split(" on ")[0] for m in messages] == [
        "HTTP 429",
        "HTTP 502",
    ]
    assert all(record.name == "releaf_pipeline.lib.mpsmonitor.client" for record in caplog.records)
    assert h.delays[0] == 2.0


def test_a_request_error_that_is_not_a_transport_error_is_not_retried() -> None:
    h = Harness(sequence(httpx.DecodingError("bad gzip")))
    error = h.fails(ping, InvalidResponseError)
    assert "the body could not be decoded (DecodingError)" in str(error)
    assert len(h.requests) == 1


# -- the size of an answer ------------------------------------------------------------------


class Endless(httpx.AsyncByteStream):
    """A body that never ends, counting the chunks the client pulled."""

    def __init__(self, chunk: bytes = b" " * 1024) -> None:
        self.chunk = chunk
        self.pulled = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.pulled += 1
            yield self.chunk

    async def aclose(self) -> None:
        self.closed = True


def test_a_content_length_over_the_cap_is_refused_before_reading() -> None:
    body = Endless()
    answer = httpx.Response(200, headers={"Content-Length": str(10 * 1024 * 1024)}, stream=body)
    h = Harness(lambda request: answer, max_response_bytes=1024 * 1024)
    error = h.fails(ping, InvalidResponseError)

    message = str(error)
    assert message.startswith("PrintReleaf/Ping: the answer from https://mps.example.test")
    assert "1,048,576-byte limit (max_response_bytes)" in message
    assert "\n" not in message
    assert body.pulled == 0 and body.closed
    assert len(h.requests) == 1  # not retried


@pytest.mark.parametrize("length", ["9" * 40, "99999999999999999999"])
def test_an_absurd_content_length_is_refused(length: str) -> None:
    answer = httpx.Response(200, headers={"Content-Length": length}, stream=Endless())
    h = Harness(lambda request: answer)
    assert "max_response_bytes" in str(h.fails(ping, InvalidResponseError))


def test_a_body_without_length_is_cut_off_at_the_cap() -> None:
    body = Endless(b"x" * 1000)
    h = Harness(lambda request: httpx.Response(200, stream=body), max_response_bytes=10_000)
    error = h.fails(lambda c: c.list_devices(CUSTOMER), InvalidResponseError)
    assert "Device/List page 1: the answer from" in str(error)
    assert "10,000-byte limit" in str(error)
    assert body.pulled == 11 and body.closed  # stopped at the cap, not read whole


def test_a_body_of_exactly_the_cap_is_accepted() -> None:
    content = json.dumps(envelope(PING_RESULT)).encode()
    h = Harness(
        lambda request: httpx.Response(200, content=content), max_response_bytes=len(content)
    )
    assert h.run(ping).dealer_code == "D-1042"
    h = Harness(
        lambda request: httpx.Response(200, content=content), max_response_bytes=len(content) - 1
    )
    h.fails(ping, InvalidResponseError)


def test_a_compressed_body_is_capped_on_what_it_inflates_to() -> None:
    inflated = json.dumps(envelope({**PING_RESULT, "Pad": " " * 200_000})).encode()
    packed = gzip.compress(inflated)
    assert len(packed) < 10_000
    answer = httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=packed)
    h = Harness(lambda request: answer, max_response_bytes=50_000)
    assert "50,000-byte limit" in str(h.fails(ping, InvalidResponseError))


def test_a_large_5xx_body_is_still_retried_as_a_server_fault() -> None:
    h = Harness(
        sequence(httpx.Response(503, stream=Endless()), ok(PING_RESULT)), max_response_bytes=4096
    )
    assert h.run(ping).dealer_code == "D-1042"
    assert len(h.requests) == 2


# -- nothing unsafe reaches httpx -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://b\u00fccher.example", "in its ASCII (IDNA) form, 'xn--bcher-kva.example'"),
        (
            "https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
            "neither plain ASCII nor a valid",
        ),
        ("https://\u2100.com", "not a valid URL"),
        ("https://xn--zz.example", "invalid internationalised (IDNA xn--) host name"),
        ("https://www.xn--.example", "invalid host name"),
        ("https://exa\nmple.com", "contains '\\n' at position 11"),
        ("https://example.com\r\nX-Evil: 1", "contains '\\r'"),
        ("https://exa\tmple.com", "contains '\\t'"),
        ("https://exa mple.com", "contains ' '"),
        ("https://example.com/a\x00b", "contains '\\x00'"),
        ("https://ex\x7fample.com", "contains '\\x7f'"),
        ("https://host\\@evil.com", "contains '\\\\'"),
        ("https://h/\u202eexe.moc", "contains '\\u202e'"),
        ("https://exa%41mple.com", "invalid host name"),
        ("https://-bad-.com", "invalid host name"),
        ("https://a..b", "invalid host name"),
        ("https://exam;ple.com", "invalid host name"),
        ("https://" + "a" * 64 + ".com", "invalid host name"),
        ("https://1.2.3.4.5", "invalid IPv4 address"),
        ("https://999.1.1.1", "invalid IPv4 address"),
        ("https://host:0", "outside 1-65535"),
        ("https://host:", "not a valid URL"),
        ("https://[zz]", "not a valid URL"),
    ],
)
def test_hosts_that_are_not_plain_ascii_or_valid_are_refused_in_one_line(
    url: str, expected: str
) -> None:
    with pytest.raises(InsecureURLError) as info:
        require_https(url)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and "\r" not in message
    # The client refuses it the same way, before httpx ever sees it.
    with pytest.raises(InsecureURLError):
        MPSMonitorClient(url, TOKEN)


@pytest.mark.parametrize(
    "url",
    [
        "https://xn--bcher-kva.example",
        "https://[::1]:8443",
        "https://10.0.0.5:443",
        "https://mps_internal.example.test",
        "https://mps.example.test./api",
    ],
)
def test_plain_ascii_hosts_and_ip_addresses_are_accepted(url: str) -> None:
    recorder = Harness(lambda request: ok(PING_RESULT)).recorder

    async def main() -> None:
        async with MPSMonitorClient(url, TOKEN, transport=recorder.transport) as client:
            await client.ping()

    asyncio.run(main())
    assert recorder.requests[0].url.path.endswith(PING_PATH)


@pytest.mark.parametrize(
    "token",
    [
        "line\nbreak",
        "carriage\rreturn",
        "nul\x00",
        "tab\there",
        "del\x7f",
        "n\u00f6n",
        "nb\u00a0sp",
    ],
)
def test_tokens_with_control_or_non_ascii_characters_are_refused_in_one_line(token: str) -> None:
    with pytest.raises(InvalidTokenError) as info:
        MPSMonitorClient(BASE, token)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MPSMonitorError)
    assert info.value.reason == "invalid_token"
    assert "\n" not in message
    assert token not in message


def test_a_ca_bundle_path_that_cannot_be_a_path_is_a_tls_error() -> None:
    with pytest.raises(TLSError, match="CA bundle"):
        MPSMonitorClient(BASE, TOKEN, ca_bundle="ca\x00.pem")


@pytest.mark.parametrize(
    "settings",
    [
        {"max_response_bytes": 0},
        {"timeout": float("nan")},
        {"timeout": float("inf")},
        {"backoff_base": float("nan")},
        {"max_retry_after": -1},
    ],
)
def test_more_settings_are_validated(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=rf"\b{next(iter(settings))}\b.* must "):
        ClientSettings(**settings)


def test_the_default_response_cap_is_32_mib() -> None:
    assert ClientSettings().max_response_bytes == 32 * 1024 * 1024


# -- the adaptive limit under cancellation --------------------------------------------------


def test_a_request_cancelled_in_flight_gives_its_slot_back() -> None:
    limit = AdaptiveLimit(1)

    async def hold() -> None:
        async with limit:
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(hold())
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with asyncio.timeout(1):
            async with limit:
                pass

    asyncio.run(main())


# -- an oversized answer over real HTTPS ----------------------------------------------------


class _BigBodyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    written = 0

    def do_GET(self) -> None:
        chunk = b" " * 16384
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path.endswith("/announced"):
            self.send_header("Content-Length", str(64 * 1024 * 1024))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for _ in range(4096):  # 64 MiB if the client read it whole
                if self.path.endswith("/announced"):
                    self.wfile.write(chunk)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                type(self).written += len(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize("variant", ["announced", "chunked"])
def test_an_oversized_answer_over_https_is_cut_off(tmp_path: Path, variant: str) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    _BigBodyHandler.written = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BigBodyHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}/{variant}"

    async def main() -> None:
        settings = ClientSettings(timeout=10.0, max_response_bytes=256 * 1024)
        async with MPSMonitorClient(
            url, TOKEN, ca_data=ca.cert_pem.bytes().decode(), settings=settings
        ) as client:
            with pytest.raises(InvalidResponseError, match="262,144-byte limit"):
                await client.ping()
            assert client.requests_sent == 1

    try:
        asyncio.run(main())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert _BigBodyHandler.written < 64 * 1024 * 1024
