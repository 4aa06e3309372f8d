"""The simulator's answers to the contract's four requests, over real HTTPS."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
)
from releaf_pipeline.simulator.config import FleetConfig
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

# ---- auth, routing, bad requests ----------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-Dealer-Token": "wrong"}])
def test_missing_or_wrong_token_is_401(sim: Simulator, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=sim.url, verify=tls(sim), headers=headers) as c:
        for resp in (c.get(PING_PATH), c.post(DEVICE_LIST_PATH, json=devices_body("X"))):
            assert resp.status_code == 401
            assert resp.headers["content-type"] == "application/json"
            assert error_code(resp) == "Unauthorized"


def test_revoked_token(sim: Simulator, client: httpx.Client) -> None:
    sim.revoke_token()
    resp = client.get(PING_PATH)
    assert resp.status_code == 401
    assert error_code(resp) == "Unauthorized"
    sim.restore_token()
    assert client.get(PING_PATH).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_405(client: httpx.Client, method: str) -> None:
    resp = client.request(method, DEVICE_LIST_PATH, json={})
    assert resp.status_code == 405
    assert error_code(resp) == "MethodNotAllowed"
    assert resp.headers["allow"] == "POST"


def test_wrong_method_for_the_path_is_405(client: httpx.Client) -> None:
    assert client.post(PING_PATH, json={}).status_code == 405
    resp = client.get(COUNTER_LIST_PATH)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"


def test_unknown_path_is_404(client: httpx.Client) -> None:
    for resp in (client.get("/api3/Nope"), client.post("/api3/Device/Delete", json={})):
        assert resp.status_code == 404
        assert error_code(resp) == "NotFound"


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
    assert error_code(resp) == "BadRequest"


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
        client.post(DEVICE_LIST_PATH, json=devices_body(unknown)),
        client.post(COUNTER_LIST_PATH, json=counters_body(unknown)),
    ):
        assert resp.status_code == 200
        assert error_code(resp) == "CustomerNotFound"


# ---- Device/List ---------------------------------------------------------------------------


def test_device_list(sim: Simulator, client: httpx.Client, code: str) -> None:
    resp = client.post(DEVICE_LIST_PATH, json=devices_body(code))
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
        env = client.post(DEVICE_LIST_PATH, json=devices_body(code, PageNumber=page, PageRows=2))
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
            env = client.post(DEVICE_LIST_PATH, json=devices_body(code, Status=status)).json()
            ids = {r["Id"] for r in env["Result"]}
            assert all(r["IsManaged"] is want for r in env["Result"])
            assert ids == {d for d, m in managed.items() if m is want}
            assert env["TotalRows"] == len(ids)
    code = sim.fleet.customer_codes[0]
    desc = client.post(DEVICE_LIST_PATH, json=devices_body(code, SortOrder="Desc")).json()
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
    resp = client.post(DEVICE_LIST_PATH, json=devices_body(code, **over))
    assert resp.status_code == 400
    assert error_code(resp) == "BadRequest"


def test_page_rows_are_capped_at_500(tmp_path: Path) -> None:
    fleet = Fleet(FleetConfig(customers=1, devices_per_customer=600, scenarios=False))
    code = fleet.customer_codes[0]
    total = len(fleet.managed(code))
    with (
        Simulator(fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as sim,
        httpx.Client(base_url=sim.url, verify=tls(sim), headers={"X-Dealer-Token": TOKEN}) as c,
    ):
        first = c.post(DEVICE_LIST_PATH, json=devices_body(code, PageRows=1000)).json()
        assert first["TotalRows"] == total > 500
        assert len(first["Result"]) == 500
        second = c.post(
            DEVICE_LIST_PATH, json=devices_body(code, PageRows=500, PageNumber=2)
        ).json()
        assert len(second["Result"]) == total - 500
        ids = {r["Id"] for r in first["Result"] + second["Result"]}
        assert ids == set(fleet.managed(code))


# ---- Counter/List --------------------------------------------------------------------------


def test_counter_list(sim: Simulator, client: httpx.Client, code: str) -> None:
    env = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()
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
    ok = client.post(COUNTER_LIST_PATH, json=counters_body(code, "2026-08-01", "2026-11-02"))
    assert ok.json()["IsValid"] is True  # 93 days apart
    too_big = client.post(COUNTER_LIST_PATH, json=counters_body(code, "2026-08-01", "2026-11-03"))
    assert too_big.status_code == 200
    assert error_code(too_big) == "DateRangeTooLarge"
    backwards = client.post(COUNTER_LIST_PATH, json=counters_body(code, "2026-11-03", "2026-11-01"))
    assert error_code(backwards) == "InvalidDateRange"
    bad = client.post(COUNTER_LIST_PATH, json=counters_body(code, "2026-11-31", "2026-12-01"))
    assert bad.status_code == 400


def test_counter_list_wrong_dealer(client: httpx.Client, code: str) -> None:
    body = counters_body(code) | {"DealerCode": "D-9999"}
    resp = client.post(COUNTER_LIST_PATH, json=body)
    assert resp.status_code == 200
    assert error_code(resp) == "InvalidDealerCode"
