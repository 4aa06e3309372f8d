"""The simulator as a server: TLS, keep-alive, the request log, silence, start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
)
from releaf_pipeline.simulator.certs import CA_BUNDLE_NAME
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.contract import MAX_BODY_BYTES
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.simulator.helpers import (
    TODAY,
    TOKEN,
    counters_body,
    devices_body,
    error_code,
    tls,
)

# ---- transport --------------------------------------------------------------------------


def test_ping_over_verified_tls(sim: Simulator, client: httpx.Client) -> None:
    assert sim.url.startswith("https://127.0.0.1:")
    assert sim.ca_bundle.name == CA_BUNDLE_NAME
    assert sim.ca_bundle.read_text().startswith("-----BEGIN CERTIFICATE-----")
    resp = client.get(PING_PATH)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {
        "IsValid": True,
        "Errors": [],
        "ReturnValue": None,
        "Result": {"DealerCode": "D-1042", "ServerTimeUtc": "2026-11-27T05:00:00Z"},
    }


def test_verification_fails_without_the_ca_bundle(sim: Simulator) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(sim.url + PING_PATH, headers={"X-Dealer-Token": TOKEN}, timeout=5)


def test_localhost_name_is_in_the_certificate(sim: Simulator) -> None:
    url = sim.url.replace("127.0.0.1", "localhost")
    resp = httpx.get(url + PING_PATH, verify=tls(sim), headers={"X-Dealer-Token": TOKEN})
    assert resp.status_code == 200


def test_keep_alive(sim: Simulator) -> None:
    host, port = sim.url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=tls(sim), timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", PING_PATH, headers={"X-Dealer-Token": TOKEN})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["IsValid"] is True
            assert not resp.will_close
        first_sock = conn.sock
        conn.request("POST", CUSTOMER_PATH, body=b"{oops", headers={"X-Dealer-Token": TOKEN})
        resp = conn.getresponse()
        assert resp.status == 400
        resp.read()
        assert conn.sock is first_sock
    finally:
        conn.close()


# ---- the log and the console -------------------------------------------------------------------


def test_request_log(sim: Simulator, client: httpx.Client, code: str) -> None:
    client.get(PING_PATH + "?x=1")
    client.post(DEVICE_LIST_PATH, json=devices_body(code))
    client.put("/api3/Nope")
    assert sim.request_log == [
        ("GET", PING_PATH),
        ("POST", DEVICE_LIST_PATH),
        ("PUT", "/api3/Nope"),
    ]
    sim.reset_log()
    assert sim.request_log == []


def test_server_prints_nothing(
    sim: Simulator, client: httpx.Client, code: str, capfd: pytest.CaptureFixture[str]
) -> None:
    client.post(DEVICE_LIST_PATH, json=devices_body(code))
    client.post(COUNTER_LIST_PATH, json=counters_body(code))
    sim.inject("reset")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(PING_PATH)
    sim.inject("delay", seconds=0.3)
    with pytest.raises(httpx.ReadTimeout):
        client.get(PING_PATH, timeout=0.05)
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.url + PING_PATH)
    host, port = sim.url.removeprefix("https://").split(":")
    # Garbage instead of a TLS handshake, and garbage instead of an HTTP request line.
    with socket.create_connection((host, int(port)), timeout=2) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
        raw.recv(100)
    with (
        socket.create_connection((host, int(port)), timeout=2) as raw,
        tls(sim).wrap_socket(raw, server_hostname=host) as conn,
    ):
        conn.sendall(b"GET /x HTTP/1.1 extra words\r\n\r\n")
        assert conn.recv(200).startswith(b"HTTP/1.1 400 ")
    time.sleep(0.4)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_stop_closes_the_port(tmp_path: Path) -> None:
    sim = Simulator(Fleet(FleetConfig(customers=1)), token=TOKEN, today=TODAY, workdir=tmp_path)
    with pytest.raises(RuntimeError, match="has not been started"):
        _ = sim.url
    sim.start()
    url = sim.url
    with httpx.Client(verify=tls(sim), headers={"X-Dealer-Token": TOKEN}) as c:
        assert c.get(url + PING_PATH).status_code == 200
        sim.stop()
        sim.stop()
        with pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
            c.get(url + PING_PATH)


def _simulator_threads(sim: Simulator) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"mpsmonitor-simulator-{sim.port}"]


def _refused(url: str) -> bool:
    host, port = url.removeprefix("https://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_port_zero_is_a_free_port_and_a_restart_keeps_it(tmp_path: Path) -> None:
    sim = Simulator(Fleet(FleetConfig(customers=1)), token=TOKEN, today=TODAY, workdir=tmp_path)
    assert sim.port == 0
    with sim:
        url = sim.url
        assert sim.port != 0 and url == f"https://127.0.0.1:{sim.port}"
        with httpx.Client(verify=tls(sim), headers={"X-Dealer-Token": TOKEN}) as c:
            assert c.get(url + PING_PATH).status_code == 200
        with pytest.raises(RuntimeError, match="already running"):
            sim.start()
    assert _refused(url)
    with sim, httpx.Client(verify=tls(sim), headers={"X-Dealer-Token": TOKEN}) as c:
        assert sim.url == url
        assert c.get(url + PING_PATH).status_code == 200


def test_twenty_simulators_start_and_stop_quickly(tmp_path: Path) -> None:
    fleet = Fleet(FleetConfig(customers=1))
    began = time.perf_counter()
    for _ in range(20):
        with (
            Simulator(fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as sim,
            httpx.Client(verify=tls(sim), headers={"X-Dealer-Token": TOKEN}) as c,
        ):
            assert c.get(sim.url + PING_PATH).status_code == 200
            assert len(_simulator_threads(sim)) == 1
        # Stopped means the port is closed and the thread is gone.
        assert _refused(sim.url)
        assert _simulator_threads(sim) == []
    elapsed = time.perf_counter() - began
    # Some 30 ms each on a laptop; the bound only catches a stop that waits on something.
    assert elapsed < 10, f"20 simulators took {elapsed:.1f} s"


def test_stop_is_prompt_with_answers_in_flight(tmp_path: Path) -> None:
    sim = Simulator(Fleet(FleetConfig(customers=1)), token=TOKEN, today=TODAY, workdir=tmp_path)
    sim.start()
    sim.inject("delay", seconds=30, times=3)
    ctx = tls(sim)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            httpx.get(
                sim.url + PING_PATH, verify=ctx, headers={"X-Dealer-Token": TOKEN}, timeout=60
            )
        except httpx.HTTPError as exc:
            errors.append(exc)

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for t in askers:
        t.start()
    deadline = time.monotonic() + 5
    while len(sim.request_log) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sim.request_log) == 3

    began = time.perf_counter()
    sim.stop()
    assert time.perf_counter() - began < 1
    for t in askers:
        t.join(5)
    # The held-back answers never come: each client sees its connection dropped.
    assert len(errors) == 3
    assert all(isinstance(e, httpx.RemoteProtocolError | httpx.ReadError) for e in errors)
    assert _simulator_threads(sim) == []


def test_latency_does_not_hold_up_other_requests(sim: Simulator) -> None:
    sim.latency = 0.3

    async def ping_all() -> list[int]:
        async with httpx.AsyncClient(
            base_url=sim.url, verify=tls(sim), headers={"X-Dealer-Token": TOKEN}
        ) as c:
            answers = await asyncio.gather(*(c.get(PING_PATH) for _ in range(8)))
        return [r.status_code for r in answers]

    began = time.perf_counter()
    assert asyncio.run(ping_all()) == [200] * 8
    elapsed = time.perf_counter() - began
    # Eight requests at once, each held 0.3 s: together, not one after another (2.4 s).
    assert 0.3 <= elapsed < 1.2


def test_the_most_requests_in_flight_at_once_is_counted(sim: Simulator, client) -> None:
    sim.latency = 0.3

    async def ping(at_once: int) -> None:
        async with httpx.AsyncClient(
            base_url=sim.url, verify=tls(sim), headers={"X-Dealer-Token": TOKEN}
        ) as c:
            await asyncio.gather(*(c.get(PING_PATH) for _ in range(at_once)))

    assert sim.peak_in_flight == 0
    asyncio.run(ping(5))
    for _ in range(3):  # one after another: never more than one in flight
        assert client.get(PING_PATH).status_code == 200
    assert sim.peak_in_flight == 5
    sim.reset_log()
    assert sim.peak_in_flight == 0
    asyncio.run(ping(2))
    assert sim.peak_in_flight == 2


def test_request_body_limit(sim: Simulator, client: httpx.Client, code: str) -> None:
    body = json.dumps({"Code": code}).encode()
    at_limit = body + b" " * (MAX_BODY_BYTES - len(body))
    resp = client.post(
        CUSTOMER_PATH, content=at_limit, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 200 and resp.json()["Result"]["Code"] == code

    resp = client.post(CUSTOMER_PATH, content=at_limit + b" ")
    assert resp.status_code == 413
    assert error_code(resp) == "PayloadTooLarge"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for _ in range(3):
            yield b" " * MAX_BODY_BYTES

    resp = client.post(CUSTOMER_PATH, content=chunks())
    assert resp.status_code == 413
    assert error_code(resp) == "PayloadTooLarge"
    # The connection is still good for the next request.
    assert client.get(PING_PATH).status_code == 200


@pytest.mark.parametrize("method", ["HEAD", "PROPFIND"])
def test_any_other_method_is_405(client: httpx.Client, method: str) -> None:
    resp = client.request(method, PING_PATH)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET"
    if method != "HEAD":
        assert error_code(resp) == "MethodNotAllowed"


def _ask_and_give_up(sim: Simulator) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(sim.url + PING_PATH, verify=tls(sim), headers={"X-Dealer-Token": TOKEN})


def test_the_server_is_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Nothing on stdout, stderr or any logger while it serves answers, faults and misuse."""
    caplog.set_level(logging.DEBUG)
    fleet = Fleet(FleetConfig(customers=2))
    code = fleet.customer_codes[0]
    sim = Simulator(fleet, token=TOKEN, today=TODAY, workdir=tmp_path)
    with (
        sim,
        httpx.Client(
            base_url=sim.url, verify=tls(sim), headers={"X-Dealer-Token": TOKEN}, timeout=5
        ) as c,
    ):
        host, port = sim.url.removeprefix("https://").split(":")
        c.post(DEVICE_LIST_PATH, json=devices_body(code))
        c.post(COUNTER_LIST_PATH, json=counters_body(code))
        c.get(PING_PATH, headers={"X-Dealer-Token": "wrong"})
        c.put(PING_PATH)
        c.get("/api3/Nope")
        c.post(CUSTOMER_PATH, content=b"{not json")
        c.post(CUSTOMER_PATH, content=b" " * (MAX_BODY_BYTES + 1))
        for fault, params in [
            ("status", {"status": 500}),
            ("throttle", {}),
            ("malformed", {}),
            ("missing_field", {"field": "Result"}),
        ]:
            sim.inject(fault, **params)
            c.get(PING_PATH)
        for fault in ("reset", "truncate"):
            sim.inject(fault)
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                c.get(PING_PATH)
        sim.inject("delay", seconds=0.3)
        with pytest.raises(httpx.ReadTimeout):
            c.get(PING_PATH, timeout=0.05)
        with pytest.raises(httpx.ConnectError):
            httpx.get(sim.url + PING_PATH)
        # Plain HTTP on the TLS port, a bad request line, a client gone mid-body.
        with socket.create_connection((host, int(port)), timeout=2) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
            raw.recv(100)
        for request in (
            b"GET /x HTTP/1.1 extra words\r\n\r\n",
            b"POST " + CUSTOMER_PATH.encode() + b" HTTP/1.1\r\nContent-Length: 99\r\n\r\n{",
        ):
            with (
                socket.create_connection((host, int(port)), timeout=2) as raw,
                tls(sim).wrap_socket(raw, server_hostname=host) as conn,
            ):
                conn.sendall(request)
        # And a request still being held back when the server stops.
        sim.inject("delay", seconds=30)
        asker = threading.Thread(target=_ask_and_give_up, args=(sim,))
        asker.start()
        while sim.pending_faults:
            time.sleep(0.01)
    asker.join(5)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    # The clients log (httpx, httpcore); so does asyncio when any event loop is made, the
    # server's included ("Using selector: EpollSelector", at DEBUG). Nothing else may.
    logged = [
        r
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
        and not (r.name == "asyncio" and r.getMessage().startswith("Using selector:"))
    ]
    assert logged == []
