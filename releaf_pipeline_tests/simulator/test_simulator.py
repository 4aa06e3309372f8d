"""The MPS Monitor simulator over real HTTPS: the contract, the clock and every fault."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from releaf_pipeline.simulator.fleet import (
    CustomerOutage,
    DeviceOutage,
    Fleet,
    FleetConfig,
    ManagedChange,
    ManagedFlip,
)
from releaf_pipeline.simulator.server import (
    CA_BUNDLE_NAME,
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
    Simulator,
)

TODAY = date(2026, 11, 27)
TOKEN = "test-token-123"


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    workdir = tmp_path_factory.mktemp("sim")
    with Simulator(Fleet(), token=TOKEN, today=TODAY, workdir=workdir) as sim:
        yield sim


@pytest.fixture
def sim(shared_sim: Simulator) -> Iterator[Simulator]:
    # One server for the module; every test starts from a clean clock, queue and log.
    shared_sim.clear_faults()
    shared_sim.latency = 0.0
    shared_sim.set_today(TODAY)
    shared_sim.reset_log()
    yield shared_sim
    shared_sim.clear_faults()
    shared_sim.latency = 0.0


def _tls(sim: Simulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sim.ca_bundle))


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.url, verify=_tls(sim), headers={"X-Dealer-Token": TOKEN}, timeout=5.0
    ) as c:
        yield c


@pytest.fixture
def code(sim: Simulator) -> str:
    return sim.fleet.customer_codes[0]


def _devices_body(code: str, **over: Any) -> dict[str, Any]:
    body = {
        "FilterCustomerCodes": [code],
        "Status": "All",
        "PageNumber": 1,
        "PageRows": 100,
        "SortColumn": "Id",
        "SortOrder": "Asc",
    }
    body.update(over)
    return body


def _counters_body(code: str, start: str = "2026-11-01", end: str = "2026-11-26") -> dict:
    return {"DealerCode": "D-1042", "CustomerCode": code, "FromDate": start, "ToDate": end}


def _error_code(resp: httpx.Response) -> str:
    env = resp.json()
    assert env["IsValid"] is False
    assert env["Result"] is None
    return env["Errors"][0]["Code"]


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
    resp = httpx.get(url + PING_PATH, verify=_tls(sim), headers={"X-Dealer-Token": TOKEN})
    assert resp.status_code == 200


def test_keep_alive(sim: Simulator) -> None:
    host, port = sim.url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=_tls(sim), timeout=5)
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


# ---- auth, routing, bad requests ----------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-Dealer-Token": "wrong"}])
def test_missing_or_wrong_token_is_401(sim: Simulator, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=sim.url, verify=_tls(sim), headers=headers) as c:
        for resp in (c.get(PING_PATH), c.post(DEVICE_LIST_PATH, json=_devices_body("X"))):
            assert resp.status_code == 401
            assert resp.headers["content-type"] == "application/json"
            assert _error_code(resp) == "Unauthorized"


def test_revoked_token(sim: Simulator, client: httpx.Client) -> None:
    sim.revoke_token()
    resp = client.get(PING_PATH)
    assert resp.status_code == 401
    assert _error_code(resp) == "Unauthorized"
    sim.restore_token()
    assert client.get(PING_PATH).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_405(client: httpx.Client, method: str) -> None:
    resp = client.request(method, DEVICE_LIST_PATH, json={})
    assert resp.status_code == 405
    assert _error_code(resp) == "MethodNotAllowed"
    assert resp.headers["allow"] == "POST"


def test_wrong_method_for_the_path_is_405(client: httpx.Client) -> None:
    assert client.post(PING_PATH, json={}).status_code == 405
    resp = client.get(COUNTER_LIST_PATH)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"


def test_unknown_path_is_404(client: httpx.Client) -> None:
    for resp in (client.get("/api3/Nope"), client.post("/api3/Device/Delete", json={})):
        assert resp.status_code == 404
        assert _error_code(resp) == "NotFound"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CUSTOMER_PATH, b"{not json"),
        (CUSTOMER_PATH, b""),
        (CUSTOMER_PATH, b"[1, 2]"),
        (CUSTOMER_PATH, b'{"Cod": "X"}'),
        (DEVICE_LIST_PATH, json.dumps({"FilterCustomerCodes": ["X"], "Status": "All"}).encode()),
        (DEVICE_LIST_PATH, json.dumps({"FilterCustomerCodes": "X"}).encode()),
        (COUNTER_LIST_PATH, json.dumps({"DealerCode": "D-1042", "CustomerCode": "X"}).encode()),
    ],
)
def test_bad_bodies_are_400(client: httpx.Client, path: str, body: bytes) -> None:
    resp = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert _error_code(resp) == "BadRequest"


# ---- GetCustomerByCode --------------------------------------------------------------------


def test_get_customer_by_code(sim: Simulator, client: httpx.Client, code: str) -> None:
    resp = client.post(CUSTOMER_PATH, json={"Code": code})
    env = resp.json()
    assert resp.status_code == 200
    assert env["IsValid"] is True and env["Errors"] == [] and env["ReturnValue"] is None
    assert "TotalRows" not in env
    assert env["Result"] == sim.fleet.customer(code)


def test_unknown_customer(client: httpx.Client) -> None:
    unknown = "0123456789ABCDEF"
    for resp in (
        client.post(CUSTOMER_PATH, json={"Code": unknown}),
        client.post(DEVICE_LIST_PATH, json=_devices_body(unknown)),
        client.post(COUNTER_LIST_PATH, json=_counters_body(unknown)),
    ):
        assert resp.status_code == 200
        assert _error_code(resp) == "CustomerNotFound"


# ---- Device/List ---------------------------------------------------------------------------


def test_device_list(sim: Simulator, client: httpx.Client, code: str) -> None:
    resp = client.post(DEVICE_LIST_PATH, json=_devices_body(code))
    env = resp.json()
    assert env["IsValid"] is True
    expected = sorted(sim.fleet.devices(code, TODAY), key=lambda d: d["Id"])
    assert env["TotalRows"] == len(expected)
    assert env["Result"] == expected
    for row in env["Result"]:
        assert {"Id", "CustomerCode", "IsManaged", "CounterMono", "CounterColor"} <= set(row)
        assert {"LastUpdate", "IsOffline", "SerialNumber", "IpAddress", "Product"} <= set(row)


def test_device_list_paging(sim: Simulator, client: httpx.Client, code: str) -> None:
    total = len(sim.fleet.devices(code, TODAY))
    seen = []
    for page in range(1, total + 2):
        env = client.post(DEVICE_LIST_PATH, json=_devices_body(code, PageNumber=page, PageRows=2))
        env = env.json()
        assert env["TotalRows"] == total
        assert len(env["Result"]) <= 2
        seen += [r["Id"] for r in env["Result"]]
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen)


def test_device_list_status_filter_and_sort(sim: Simulator, client: httpx.Client) -> None:
    for code in sim.fleet.customer_codes:
        listed = {d["Id"] for d in sim.fleet.devices(code, TODAY)}
        managed = {d: m for d, m in sim.fleet.managed(code).items() if d in listed}
        for status, want in (("Managed", True), ("NotManaged", False)):
            env = client.post(DEVICE_LIST_PATH, json=_devices_body(code, Status=status)).json()
            ids = {r["Id"] for r in env["Result"]}
            assert all(r["IsManaged"] is want for r in env["Result"])
            assert ids == {d for d, m in managed.items() if m is want}
            assert env["TotalRows"] == len(ids)
    code = sim.fleet.customer_codes[0]
    desc = client.post(DEVICE_LIST_PATH, json=_devices_body(code, SortOrder="Desc")).json()
    ids = [r["Id"] for r in desc["Result"]]
    assert ids == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "over",
    [
        {"PageNumber": 0},
        {"PageRows": 0},
        {"Status": "Some"},
        {"PageNumber": "1"},
        {"SortColumn": "X"},
    ],
)
def test_device_list_rejects_bad_filters(client: httpx.Client, code: str, over: dict) -> None:
    resp = client.post(DEVICE_LIST_PATH, json=_devices_body(code, **over))
    assert resp.status_code == 400
    assert _error_code(resp) == "BadRequest"


def test_page_rows_are_capped_at_500(tmp_path: Path) -> None:
    fleet = Fleet(FleetConfig(customers=1, devices_per_customer=600, scenarios=False))
    code = fleet.customer_codes[0]
    total = len(fleet.managed(code))
    with (
        Simulator(fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as sim,
        httpx.Client(base_url=sim.url, verify=_tls(sim), headers={"X-Dealer-Token": TOKEN}) as c,
    ):
        first = c.post(DEVICE_LIST_PATH, json=_devices_body(code, PageRows=1000)).json()
        assert first["TotalRows"] == total > 500
        assert len(first["Result"]) == 500
        second = c.post(
            DEVICE_LIST_PATH, json=_devices_body(code, PageRows=500, PageNumber=2)
        ).json()
        assert len(second["Result"]) == total - 500
        ids = {r["Id"] for r in first["Result"] + second["Result"]}
        assert ids == set(fleet.managed(code))


# ---- Counter/List --------------------------------------------------------------------------


def test_counter_list(sim: Simulator, client: httpx.Client, code: str) -> None:
    env = client.post(COUNTER_LIST_PATH, json=_counters_body(code)).json()
    assert env["IsValid"] is True and "TotalRows" not in env
    lo, hi = date(2026, 11, 1), date(2026, 11, 26)
    assert env["Result"] == sim.fleet.counter_rows(code, lo, hi, TODAY)
    truth = sim.fleet.readings(code, TODAY)
    for row in env["Result"]:
        assert set(row) >= {"DeviceId", "CustomerCode", "LastUpdate", "Counters"}
        got = {date.fromisoformat(c["Date"]): c["Mono"] + c["Color"] for c in row["Counters"]}
        want = {d: n for d, n in truth[row["DeviceId"]].items() if lo <= d <= hi}
        assert got == want


def test_counter_list_range_limit(client: httpx.Client, code: str) -> None:
    ok = client.post(COUNTER_LIST_PATH, json=_counters_body(code, "2026-08-01", "2026-11-02"))
    assert ok.json()["IsValid"] is True  # 93 days apart
    too_big = client.post(COUNTER_LIST_PATH, json=_counters_body(code, "2026-08-01", "2026-11-03"))
    assert too_big.status_code == 200
    assert _error_code(too_big) == "DateRangeTooLarge"
    backwards = client.post(
        COUNTER_LIST_PATH, json=_counters_body(code, "2026-11-03", "2026-11-01")
    )
    assert _error_code(backwards) == "InvalidDateRange"
    bad = client.post(COUNTER_LIST_PATH, json=_counters_body(code, "2026-11-31", "2026-12-01"))
    assert bad.status_code == 400


def test_counter_list_wrong_dealer(client: httpx.Client, code: str) -> None:
    body = _counters_body(code) | {"DealerCode": "D-9999"}
    resp = client.post(COUNTER_LIST_PATH, json=body)
    assert resp.status_code == 200
    assert _error_code(resp) == "InvalidDealerCode"


# ---- the clock -------------------------------------------------------------------------------


def test_clock_advance_and_todays_reading(sim: Simulator, client: httpx.Client, code: str) -> None:
    def dates() -> set[str]:
        env = client.post(COUNTER_LIST_PATH, json=_counters_body(code, "2026-11-20", "2026-11-30"))
        return {c["Date"] for row in env.json()["Result"] for c in row["Counters"]}

    assert max(dates()) == "2026-11-26"
    sim.advance()
    assert sim.today == TODAY + timedelta(days=1)
    assert max(dates()) == "2026-11-27"
    ping = client.get(PING_PATH).json()["Result"]
    assert ping["ServerTimeUtc"] == "2026-11-28T05:00:00Z"
    sim.advance(2)
    assert max(dates()) == "2026-11-29"


def test_late_upload_appears_on_upload_date(sim: Simulator, client: httpx.Client) -> None:
    span = next(s for s in sim.fleet.stale_spans if s.start.month != s.end.month)
    body = _counters_body(span.customer_code, span.start.isoformat(), span.end.isoformat())
    sim.set_today(span.upload_date - timedelta(days=1))
    assert client.post(COUNTER_LIST_PATH, json=body).json()["Result"] == []
    devices = client.post(DEVICE_LIST_PATH, json=_devices_body(span.customer_code)).json()
    assert all(
        d["LastUpdate"].startswith(str(span.start - timedelta(days=1))) for d in devices["Result"]
    )
    assert all(d["IsOffline"] for d in devices["Result"])
    sim.set_today(span.upload_date)
    rows = client.post(COUNTER_LIST_PATH, json=body).json()["Result"]
    assert span.device_id in {r["DeviceId"] for r in rows}
    assert all(len(r["Counters"]) == (span.end - span.start).days + 1 for r in rows)


def test_reset_is_served(sim: Simulator, client: httpx.Client) -> None:
    reset = sim.fleet.resets[0]
    day_before = reset.date - timedelta(days=1)
    body = _counters_body(reset.customer_code, day_before.isoformat(), reset.date.isoformat())
    rows = client.post(COUNTER_LIST_PATH, json=body).json()["Result"]
    (row,) = [r for r in rows if r["DeviceId"] == reset.device_id]
    before, on = (c["Mono"] + c["Color"] for c in row["Counters"])
    assert on < before


# ---- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fault_status(sim: Simulator, client: httpx.Client, status: int) -> None:
    sim.inject("status", status=status)
    resp = client.get(PING_PATH)
    assert resp.status_code == status
    assert resp.json()["IsValid"] is False
    assert client.get(PING_PATH).status_code == 200


def test_fault_throttle(sim: Simulator, client: httpx.Client) -> None:
    sim.inject("throttle", retry_after=3)
    sim.inject("throttle")
    first, second = client.get(PING_PATH), client.get(PING_PATH)
    assert (first.status_code, first.headers["retry-after"]) == (429, "3")
    assert (second.status_code, second.headers["retry-after"]) == (429, "1")
    assert _error_code(first) == "TooManyRequests"
    assert client.get(PING_PATH).status_code == 200


def test_fault_delay_causes_timeout(sim: Simulator, client: httpx.Client) -> None:
    sim.inject("delay", seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get(PING_PATH, timeout=0.15)
    t0 = time.perf_counter()
    sim.inject("delay", seconds=0.2)
    assert client.get(PING_PATH).status_code == 200
    assert time.perf_counter() - t0 >= 0.2


def test_fault_reset_mid_body(sim: Simulator, client: httpx.Client, code: str) -> None:
    sim.inject("reset", path=COUNTER_LIST_PATH)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(COUNTER_LIST_PATH, json=_counters_body(code))
    assert client.post(COUNTER_LIST_PATH, json=_counters_body(code)).json()["IsValid"]


def test_fault_malformed(sim: Simulator, client: httpx.Client) -> None:
    sim.inject("malformed")
    resp = client.get(PING_PATH)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        resp.json()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (COUNTER_LIST_PATH, "Counters"),
        (DEVICE_LIST_PATH, "IsManaged"),
        (COUNTER_LIST_PATH, "DeviceId"),
    ],
)
def test_fault_missing_field(
    sim: Simulator, client: httpx.Client, code: str, path: str, field: str
) -> None:
    body = _counters_body(code) if path == COUNTER_LIST_PATH else _devices_body(code)
    sim.inject("missing_field", path=path, field=field)
    rows = client.post(path, json=body).json()["Result"]
    assert rows and all(field not in r for r in rows)
    rows = client.post(path, json=body).json()["Result"]
    assert all(field in r for r in rows)


def test_fault_wrong_type(sim: Simulator, client: httpx.Client, code: str) -> None:
    sim.inject("wrong_type", path=DEVICE_LIST_PATH, field="CounterMono")
    rows = client.post(DEVICE_LIST_PATH, json=_devices_body(code)).json()["Result"]
    assert all(r["CounterMono"] == "not-a-number" for r in rows)
    sim.inject("wrong_type", path=COUNTER_LIST_PATH, field="Color", value=None)
    rows = client.post(COUNTER_LIST_PATH, json=_counters_body(code)).json()["Result"]
    assert all(c["Color"] is None for r in rows for c in r["Counters"])
    sim.inject("wrong_type", path=DEVICE_LIST_PATH, field="TotalRows", value="many")
    assert client.post(DEVICE_LIST_PATH, json=_devices_body(code)).json()["TotalRows"] == "many"


def test_fault_counter_value(sim: Simulator, client: httpx.Client, code: str) -> None:
    sim.inject("counter_value", value=-5, date="2026-11-10")
    rows = client.post(COUNTER_LIST_PATH, json=_counters_body(code)).json()["Result"]
    for row in rows:
        for c in row["Counters"]:
            assert (c["Mono"] == -5) == (c["Date"] == "2026-11-10")
    sim.inject("counter_value", value=10**12)
    rows = client.post(COUNTER_LIST_PATH, json=_counters_body(code)).json()["Result"]
    assert all(c["Mono"] == 10**12 for r in rows for c in r["Counters"])


def test_fault_duplicate_device(sim: Simulator, client: httpx.Client, code: str) -> None:
    # Not used up by the Ping in between: it only applies to the two list requests.
    sim.inject("duplicate_device", times=2)
    assert client.get(PING_PATH).status_code == 200
    for path, body, key in (
        (DEVICE_LIST_PATH, _devices_body(code), "Id"),
        (COUNTER_LIST_PATH, _counters_body(code), "DeviceId"),
    ):
        rows = client.post(path, json=body).json()["Result"]
        ids = [r[key] for r in rows]
        assert ids[0] == ids[1]
        assert len(ids) == len(set(ids)) + 1
    assert sim.pending_faults == 0


def test_fault_matching_by_path_customer_and_times(sim: Simulator, client: httpx.Client) -> None:
    a, b = sim.fleet.customer_codes[:2]
    sim.inject("status", path=COUNTER_LIST_PATH, customer=b, times=2, status=502)
    assert client.get(PING_PATH).status_code == 200
    assert client.post(COUNTER_LIST_PATH, json=_counters_body(a)).status_code == 200
    assert client.post(DEVICE_LIST_PATH, json=_devices_body(b)).status_code == 200
    assert client.post(COUNTER_LIST_PATH, json=_counters_body(b)).status_code == 502
    assert client.post(COUNTER_LIST_PATH, json=_counters_body(b)).status_code == 502
    assert client.post(COUNTER_LIST_PATH, json=_counters_body(b)).status_code == 200
    sim.inject("status", customer=a, status=500)
    assert client.post(CUSTOMER_PATH, json={"Code": a}).status_code == 500


def test_inject_rejects_unknown_faults(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.inject("explode")
    with pytest.raises(ValueError):
        sim.inject("status")
    with pytest.raises(ValueError):
        sim.inject("malformed", times=0)


def test_throttle_every(sim: Simulator, client: httpx.Client) -> None:
    sim.throttle_every = 3
    codes = [client.get(PING_PATH) for _ in range(6)]
    assert [r.status_code for r in codes] == [200, 200, 429, 200, 200, 429]
    assert codes[2].headers["retry-after"] == "0"


def test_latency(sim: Simulator, client: httpx.Client) -> None:
    sim.latency = 0.15
    t0 = time.perf_counter()
    assert client.get(PING_PATH).status_code == 200
    assert time.perf_counter() - t0 >= 0.15


def test_outage(sim: Simulator, client: httpx.Client, code: str) -> None:
    sim.set_outage(True)
    for resp in (client.get(PING_PATH), client.post(CUSTOMER_PATH, json={"Code": code})):
        assert resp.status_code == 503
        assert _error_code(resp) == "ServiceUnavailable"
    sim.set_outage(False)
    assert client.get(PING_PATH).status_code == 200


# ---- the log and the console -------------------------------------------------------------------


def test_request_log(sim: Simulator, client: httpx.Client, code: str) -> None:
    client.get(PING_PATH + "?x=1")
    client.post(DEVICE_LIST_PATH, json=_devices_body(code))
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
    client.post(DEVICE_LIST_PATH, json=_devices_body(code))
    client.post(COUNTER_LIST_PATH, json=_counters_body(code))
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
        _tls(sim).wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"GET /x HTTP/1.1 extra words\r\n\r\n")
        assert tls.recv(200).startswith(b"HTTP/1.1 400 ")
    time.sleep(0.4)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_stop_closes_the_port(tmp_path: Path) -> None:
    sim = Simulator(Fleet(FleetConfig(customers=1)), token=TOKEN, today=TODAY, workdir=tmp_path)
    with pytest.raises(RuntimeError):
        _ = sim.url
    sim.start()
    url = sim.url
    with httpx.Client(verify=_tls(sim), headers={"X-Dealer-Token": TOKEN}) as c:
        assert c.get(url + PING_PATH).status_code == 200
        sim.stop()
        sim.stop()
        with pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
            c.get(url + PING_PATH)


def test_main_serves_until_interrupted(tmp_path: Path) -> None:
    env = dict(os.environ, RELEAF_DEALER_TOKEN="env-token-xyz")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from releaf_pipeline.simulator.server import main\n"
            "sys.exit(main(sys.argv[1:]))",
            "--port",
            "0",
            "--today",
            "2026-12-01",
            "--customers",
            "2",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            line = proc.stdout.readline()
            assert line, "simulator exited early"
            lines.append(line.strip())
        text = "\n".join(lines)
        assert "env-token-xyz" not in text
        url = next(w for w in text.split() if w.startswith("https://"))
        ca = tmp_path / CA_BUNDLE_NAME
        assert str(ca.resolve()) in text
        codes = Fleet(FleetConfig(customers=2)).customer_codes
        assert all(c in text for c in codes)
        ctx = ssl.create_default_context(cafile=str(ca))
        resp = httpx.get(url + PING_PATH, verify=ctx, headers={"X-Dealer-Token": "env-token-xyz"})
        assert resp.json()["Result"]["ServerTimeUtc"] == "2026-12-01T05:00:00Z"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- late data: the clock's time of day, delays, outages, IsManaged changes ------------------

LATE_FIRST, LATE_UPLOAD = date(2026, 10, 5), date(2026, 10, 12)
FLIP_AT = datetime(2026, 10, 8, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def late_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    # One server for every late-data case, each on its own customer: 1 publishes 7.5 hours
    # late, 2 has one device offline, 3 a whole DCA offline, 4 a device whose flag flips.
    base = FleetConfig(customers=6, scenarios=False)
    probe = Fleet(base)
    code = probe.customer_codes[4]
    flipped = not probe.managed(code)[probe.device_ids(code)[0]]
    config = dataclasses.replace(
        base,
        publication_delays=((1, 7.5),),
        device_outages=(DeviceOutage(2, 1, LATE_FIRST, LATE_UPLOAD),),
        customer_outages=(CustomerOutage(3, LATE_FIRST, LATE_UPLOAD),),
        managed_changes=(ManagedChange(4, 0, FLIP_AT, flipped),),
    )
    workdir = tmp_path_factory.mktemp("late-sim")
    with Simulator(Fleet(config), token=TOKEN, today=TODAY, workdir=workdir) as sim:
        yield sim


@pytest.fixture
def late_client(late_sim: Simulator) -> Iterator[httpx.Client]:
    late_sim.set_today(TODAY)
    with httpx.Client(
        base_url=late_sim.url,
        verify=_tls(late_sim),
        headers={"X-Dealer-Token": TOKEN},
        timeout=5.0,
    ) as c:
        yield c


def _served(client: httpx.Client, code: str, start: date, end: date) -> dict[str, list[date]]:
    """device_id -> the dates Counter/List serves for start..end, over the wire."""
    env = client.post(COUNTER_LIST_PATH, json=_counters_body(code, str(start), str(end))).json()
    assert env["IsValid"] is True
    return {
        row["DeviceId"]: [date.fromisoformat(c["Date"]) for c in row["Counters"]]
        for row in env["Result"]
    }


def _listed(client: httpx.Client, code: str, status: str = "All") -> dict[str, dict]:
    env = client.post(DEVICE_LIST_PATH, json=_devices_body(code, Status=status)).json()
    assert env["IsValid"] is True
    return {row["Id"]: row for row in env["Result"]}


def test_clock_has_a_time_of_day(sim: Simulator, client: httpx.Client) -> None:
    def server_time() -> str:
        return client.get(PING_PATH).json()["Result"]["ServerTimeUtc"]

    assert sim.now == datetime(2026, 11, 27, 5, tzinfo=UTC)
    sim.set_now(datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC))
    assert (sim.today, server_time()) == (TODAY, "2026-11-27T02:15:30Z")
    sim.advance()
    assert (sim.today, server_time()) == (TODAY + timedelta(days=1), "2026-11-28T02:15:30Z")
    # Any aware datetime is taken, and kept in UTC.
    sim.set_now(datetime(2026, 11, 28, 1, 0, tzinfo=timezone(timedelta(hours=2))))
    assert sim.now.tzinfo is UTC
    assert (sim.today, server_time()) == (date(2026, 11, 27), "2026-11-27T23:00:00Z")
    sim.set_today(date(2026, 12, 3))
    assert server_time() == "2026-12-03T05:00:00Z"
    with pytest.raises(ValueError, match="aware"):
        sim.set_now(datetime(2026, 11, 27, 2))
    with pytest.raises(AttributeError):
        sim.today = TODAY  # type: ignore[misc]
    assert sim.now == datetime(2026, 12, 3, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        Simulator(Fleet(FleetConfig(customers=1)), now=datetime(2026, 11, 27, 2))
    early = Simulator(Fleet(FleetConfig(customers=1)), now=datetime(2026, 11, 27, 2, tzinfo=UTC))
    assert (early.now, early.today) == (datetime(2026, 11, 27, 2, tzinfo=UTC), TODAY)


def test_publication_delay_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    on_time, late = late_sim.fleet.customer_codes[:2]
    day = date(2026, 11, 10)
    start = day - timedelta(days=5)
    late_sim.set_now(datetime(2026, 11, 11, 2, tzinfo=UTC))
    assert all(max(dates) == day for dates in _served(late_client, on_time, start, day).values())
    served = _served(late_client, late, start, day)
    assert served and all(max(dates) == day - timedelta(days=1) for dates in served.values())
    late_sim.set_now(datetime(2026, 11, 11, 8, tzinfo=UTC))
    served = _served(late_client, late, start, day)
    assert served and all(max(dates) == day for dates in served.values())


def test_local_time_publication_over_https(tmp_path: Path) -> None:
    fleet = Fleet(FleetConfig(customers=8, scenarios=False, publish_in_local_time=True))
    by_zone = {fleet.customer(c)["TimeZoneIana"]: c for c in fleet.customer_codes}
    west, east = by_zone["America/Los_Angeles"], by_zone["Europe/London"]
    day = date(2026, 11, 10)  # PST (UTC-8) and GMT (UTC+0)

    with (
        Simulator(fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as sim,
        httpx.Client(base_url=sim.url, verify=_tls(sim), headers={"X-Dealer-Token": TOKEN}) as c,
    ):

        def has_day(code: str, when: datetime) -> bool:
            sim.set_now(when)
            served = _served(c, code, day - timedelta(days=3), day)
            assert served
            return all(day in dates for dates in served.values())

        assert not has_day(east, datetime(2026, 11, 11, 0, 29, tzinfo=UTC))
        assert has_day(east, datetime(2026, 11, 11, 0, 30, tzinfo=UTC))
        # The pipeline's 02:00 UTC night: London's day is there, Los Angeles' is not.
        assert has_day(east, datetime(2026, 11, 11, 2, tzinfo=UTC))
        assert not has_day(west, datetime(2026, 11, 11, 2, tzinfo=UTC))
        assert not has_day(west, datetime(2026, 11, 11, 8, 29, tzinfo=UTC))
        assert has_day(west, datetime(2026, 11, 11, 8, 30, tzinfo=UTC))
        # In summer time London's day is published before it has ended in UTC.
        sim.set_now(datetime(2026, 10, 5, 23, 30, tzinfo=UTC))
        served = _served(c, east, date(2026, 10, 1), date(2026, 10, 5))
        assert all(max(dates) == date(2026, 10, 5) for dates in served.values())


def test_one_device_offline_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    fleet = late_sim.fleet
    code = fleet.customer_codes[2]
    offline = fleet.device_ids(code)[1]
    (span,) = [s for s in fleet.stale_spans if s.customer_code == code]
    assert (span.device_id, span.start, span.upload_date) == (offline, LATE_FIRST, LATE_UPLOAD)

    late_sim.set_today(LATE_UPLOAD - timedelta(days=1))
    served = _served(late_client, code, LATE_FIRST, LATE_UPLOAD)
    assert offline not in served
    assert set(served) == set(fleet.device_ids(code)) - {offline}
    assert all(max(dates) == date(2026, 10, 10) for dates in served.values())
    listed = _listed(late_client, code)
    assert set(listed) == set(fleet.device_ids(code))
    assert listed[offline]["IsOffline"] is True
    assert listed[offline]["LastUpdate"].startswith("2026-10-04")
    assert not any(row["IsOffline"] for dev, row in listed.items() if dev != offline)

    late_sim.set_today(LATE_UPLOAD)
    served = _served(late_client, code, LATE_FIRST, LATE_UPLOAD)
    withheld = [LATE_FIRST + timedelta(days=k) for k in range(7)]
    assert served[offline] == withheld
    truth = fleet.readings(code, late_sim.now)
    assert served == {
        dev: sorted(d for d in days if d >= LATE_FIRST) for dev, days in truth.items()
    }
    assert _listed(late_client, code)[offline]["IsOffline"] is False


def test_customer_outage_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    fleet = late_sim.fleet
    code, other = fleet.customer_codes[3], fleet.customer_codes[0]
    spans = [s for s in fleet.stale_spans if s.customer_code == code]
    assert {s.device_id for s in spans} == set(fleet.device_ids(code))

    late_sim.set_today(LATE_UPLOAD - timedelta(days=1))
    assert _served(late_client, code, LATE_FIRST, LATE_UPLOAD) == {}
    assert _served(late_client, other, LATE_FIRST, LATE_UPLOAD)
    listed = _listed(late_client, code)
    assert set(listed) == set(fleet.device_ids(code))
    assert all(row["IsOffline"] for row in listed.values())

    late_sim.set_today(LATE_UPLOAD)
    served = _served(late_client, code, LATE_FIRST, LATE_UPLOAD)
    assert set(served) == set(fleet.device_ids(code))
    assert all(len(dates) == 7 for dates in served.values())


def test_managed_flip_over_https(late_sim: Simulator, late_client: httpx.Client) -> None:
    fleet = late_sim.fleet
    code = fleet.customer_codes[4]
    dev = fleet.device_ids(code)[0]
    (flip,) = fleet.managed_changes
    assert flip == ManagedFlip(code, dev, FLIP_AT, not fleet.managed(code)[dev])
    for when, shown in (
        (FLIP_AT - timedelta(minutes=1), not flip.managed),
        (FLIP_AT, flip.managed),
    ):
        late_sim.set_now(when)
        assert fleet.managed_at(code, when)[dev] is shown
        listed = _listed(late_client, code)
        assert listed[dev]["IsManaged"] is shown
        assert {d: row["IsManaged"] for d, row in listed.items()} == fleet.managed_at(code, when)
        assert (dev in _listed(late_client, code, "Managed")) is shown
        assert (dev in _listed(late_client, code, "NotManaged")) is not shown


def test_main_local_time_publication(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from releaf_pipeline.simulator.server import main\n"
            "sys.exit(main(sys.argv[1:]))",
            "--port",
            "0",
            "--today",
            "2026-12-01",
            "--customers",
            "3",
            "--local-time-publication",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, RELEAF_DEALER_TOKEN=TOKEN),
    )
    try:
        assert proc.stdout is not None
        url = ""
        while not url:
            line = proc.stdout.readline()
            assert line, "simulator exited early"
            url = next((w for w in line.split() if w.startswith("https://")), "")
        fleet = Fleet(FleetConfig(customers=3, publish_in_local_time=True))
        west = fleet.customer_codes[2]
        assert fleet.customer(west)["TimeZoneIana"] == "America/Los_Angeles"
        ctx = ssl.create_default_context(cafile=str(tmp_path / CA_BUNDLE_NAME))
        with httpx.Client(base_url=url, verify=ctx, headers={"X-Dealer-Token": TOKEN}) as c:
            ping = c.get(PING_PATH).json()["Result"]
            assert ping["ServerTimeUtc"] == "2026-12-01T05:00:00Z"
            served = _served(c, west, date(2026, 11, 25), date(2026, 11, 30))
        # At 05:00 UTC Los Angeles' November 30 has not ended yet.
        assert served and all(max(dates) == date(2026, 11, 29) for dates in served.values())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
