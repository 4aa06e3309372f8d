"""Every fault the simulator can inject, as a client sees it on the wire."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date
from typing import Any

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
)
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.simulator.helpers import (
    TOKEN,
    counters_body,
    devices_body,
    error_code,
)

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
    assert error_code(first) == "TooManyRequests"
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
        client.post(COUNTER_LIST_PATH, json=counters_body(code))
    assert client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["IsValid"]


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
    body = counters_body(code) if path == COUNTER_LIST_PATH else devices_body(code)
    sim.inject("missing_field", path=path, field=field)
    rows = client.post(path, json=body).json()["Result"]
    assert rows and all(field not in r for r in rows)
    rows = client.post(path, json=body).json()["Result"]
    assert all(field in r for r in rows)


def test_fault_wrong_type(sim: Simulator, client: httpx.Client, code: str) -> None:
    sim.inject("wrong_type", path=DEVICE_LIST_PATH, field="CounterMono")
    rows = client.post(DEVICE_LIST_PATH, json=devices_body(code)).json()["Result"]
    assert all(r["CounterMono"] == "not-a-number" for r in rows)
    sim.inject("wrong_type", path=COUNTER_LIST_PATH, field="Color", value=None)
    rows = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    assert all(c["Color"] is None for r in rows for c in r["Counters"])
    sim.inject("wrong_type", path=DEVICE_LIST_PATH, field="TotalRows", value="many")
    assert client.post(DEVICE_LIST_PATH, json=devices_body(code)).json()["TotalRows"] == "many"


def test_fault_counter_value(sim: Simulator, client: httpx.Client, code: str) -> None:
    sim.inject("counter_value", value=-5, date="2026-11-10")
    rows = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    for row in rows:
        for c in row["Counters"]:
            assert (c["Mono"] == -5) == (c["Date"] == "2026-11-10")
    sim.inject("counter_value", value=10**12)
    rows = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    assert all(c["Mono"] == 10**12 for r in rows for c in r["Counters"])


def test_fault_duplicate_device(sim: Simulator, client: httpx.Client, code: str) -> None:
    # Not used up by the Ping in between: it only applies to the two list requests.
    sim.inject("duplicate_device", times=2)
    assert client.get(PING_PATH).status_code == 200
    for path, body, key in (
        (DEVICE_LIST_PATH, devices_body(code), "Id"),
        (COUNTER_LIST_PATH, counters_body(code), "DeviceId"),
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
    assert client.post(COUNTER_LIST_PATH, json=counters_body(a)).status_code == 200
    assert client.post(DEVICE_LIST_PATH, json=devices_body(b)).status_code == 200
    assert client.post(COUNTER_LIST_PATH, json=counters_body(b)).status_code == 502
    assert client.post(COUNTER_LIST_PATH, json=counters_body(b)).status_code == 502
    assert client.post(COUNTER_LIST_PATH, json=counters_body(b)).status_code == 200
    sim.inject("status", customer=a, status=500)
    assert client.post(CUSTOMER_PATH, json={"Code": a}).status_code == 500


def test_inject_rejects_unknown_faults(sim: Simulator) -> None:
    with pytest.raises(ValueError, match=r"^unknown fault 'explode'; expected one of \[.*'status'"):
        sim.inject("explode")
    with pytest.raises(ValueError, match=r"^fault 'status' needs status$"):
        sim.inject("status")
    with pytest.raises(ValueError, match=r"^times must be >= 1$"):
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
        assert error_code(resp) == "ServiceUnavailable"
    sim.set_outage(False)
    assert client.get(PING_PATH).status_code == 200


def test_fault_truncate_mid_body(sim: Simulator, client: httpx.Client, code: str) -> None:
    # Half the promised body, then an orderly close: a short body, never a complete one.
    sim.inject("truncate", path=COUNTER_LIST_PATH)
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        client.post(COUNTER_LIST_PATH, json=counters_body(code))
    assert client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["IsValid"]


@pytest.mark.parametrize("fault", ["truncate", "reset"])
def test_a_cut_answer_is_a_transport_error_the_client_retries(
    sim: Simulator, code: str, fault: str
) -> None:
    """The real client sees the cut answer as a transport error, retries, and gets the
    readings; nothing of the broken answer is kept."""
    sim.inject(fault, path=COUNTER_LIST_PATH, customer=code)
    first, last = date(2026, 11, 1), date(2026, 11, 26)
    settings = ClientSettings(max_attempts=3, backoff_base=0.0, timeout=5.0)

    async def collect() -> tuple[list[Any], int]:
        async with MPSMonitorClient(
            sim.url, TOKEN, ca_bundle=sim.ca_bundle, settings=settings
        ) as mps:
            rows = await mps.counter_list("D-1042", code, first, last)
            return rows, mps.retries

    rows, retries = asyncio.run(collect())

    assert retries == 1
    assert sim.pending_faults == 0
    assert sim.request_log.count(("POST", COUNTER_LIST_PATH)) == 2
    truth = sim.fleet.readings(code, sim.now)
    assert {r.device_id: r.counts for r in rows} == {
        dev: {d: n for d, n in days.items() if first <= d <= last} for dev, days in truth.items()
    }


# ---- devices Device/List does not back -------------------------------------------------------


def test_ghost_device_is_in_counter_list_not_in_device_list(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    ghost = sim.add_ghost_device(code, "GHOST-1", date(2026, 11, 20))
    rows = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    (row,) = [r for r in rows if r["DeviceId"] == "GHOST-1"]
    # Every published date from its first: the clock says 2026-11-27, so through the 26th.
    counts = {c["Date"]: c["Mono"] + c["Color"] for c in row["Counters"]}
    assert counts == {
        d.isoformat(): n
        for d, n in ghost.readings(date(2026, 11, 1), date(2026, 11, 26), lambda c, d: True).items()
    }
    assert list(counts) == [f"2026-11-{day}" for day in range(20, 27)]
    assert counts["2026-11-21"] - counts["2026-11-20"] == 1_000_020
    listed = client.post(DEVICE_LIST_PATH, json=devices_body(code)).json()
    assert "GHOST-1" not in [r["Id"] for r in listed["Result"]]
    # Another customer's answers are untouched.
    other = sim.fleet.customer_codes[1]
    rows = client.post(COUNTER_LIST_PATH, json=counters_body(other)).json()["Result"]
    assert "GHOST-1" not in [r["DeviceId"] for r in rows]


def test_a_listed_ghost_is_listed_on_the_page_its_place_falls(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    sim.add_ghost_device(code, "GHOST-1", date(2026, 11, 20))
    sim.list_ghost_device("GHOST-1")
    whole = client.post(DEVICE_LIST_PATH, json=devices_body(code)).json()
    assert whole["TotalRows"] == len(whole["Result"])
    assert whole["Result"][-1]["Id"] == "GHOST-1"
    # Paged one row at a time, it is the last page's row, and TotalRows counts it.
    pages = [
        client.post(DEVICE_LIST_PATH, json=devices_body(code, PageRows=1, PageNumber=n)).json()
        for n in range(1, whole["TotalRows"] + 2)
    ]
    assert [p["Result"][0]["Id"] for p in pages[:-1]] == [r["Id"] for r in whole["Result"]]
    assert pages[-1]["Result"] == []
    assert {p["TotalRows"] for p in pages} == {whole["TotalRows"]}


def test_rekeyed_device_readings_come_under_the_new_id_only(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    before = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    device = before[0]["DeviceId"]
    sim.rekey_device(code, device, "NEW-ID-9", date(2026, 11, 15))
    after = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    old = {c["Date"] for r in after if r["DeviceId"] == device for c in r["Counters"]}
    new = {c["Date"] for r in after if r["DeviceId"] == "NEW-ID-9" for c in r["Counters"]}
    served = {c["Date"] for c in before[0]["Counters"]}
    assert old == {d for d in served if d < "2026-11-15"}
    assert new == {d for d in served if d >= "2026-11-15"} and new
    # Device/List still lists the old id, never the new one.
    ids = [r["Id"] for r in client.post(DEVICE_LIST_PATH, json=devices_body(code)).json()["Result"]]
    assert device in ids and "NEW-ID-9" not in ids
    # A range wholly after the re-key has no row under the old id at all.
    late = client.post(COUNTER_LIST_PATH, json=counters_body(code, "2026-11-20")).json()["Result"]
    assert device not in [r["DeviceId"] for r in late]
    sim.clear_faults()
    assert client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"] == before


# ---- honest but odd answers: persistent, not used up ---------------------------------------


def test_a_null_counter_keeps_the_life_count_night_after_night(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    device = sim.fleet.device_ids(code)[0]
    truth = sim.fleet.readings(code, as_of=sim.now)[device]
    sim.null_counter(code, device)
    for _ in range(3):
        env = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()
        (row,) = [r for r in env["Result"] if r["DeviceId"] == device]
        assert {c["Color"] for c in row["Counters"]} == {None}
        assert {date.fromisoformat(c["Date"]): c["Mono"] for c in row["Counters"]} == {
            d: n for d, n in truth.items() if date(2026, 11, 1) <= d <= date(2026, 11, 26)
        }
        listed = client.post(DEVICE_LIST_PATH, json=devices_body(code)).json()["Result"]
        (shown,) = [r for r in listed if r["Id"] == device]
        assert shown["CounterColor"] is None and shown["CounterMono"] == truth[max(truth)]
    others = [r for r in env["Result"] if r["DeviceId"] != device]
    assert all(c["Color"] is not None for r in others for c in r["Counters"])


def test_duplicate_readings_come_lower_in_a_row_of_their_own(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    device = sim.fleet.device_ids(code)[1]
    sim.duplicate_readings(code, device, since=date(2026, 11, 20), less_by=40)
    for _ in range(2):
        rows = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
        extra, real = [r for r in rows if r["DeviceId"] == device]
        assert rows.index(extra) < rows.index(real)
        life = {c["Date"]: c["Mono"] + c["Color"] for c in real["Counters"]}
        dates = [c["Date"] for c in extra["Counters"]]
        assert dates == sorted((d for d in life if d >= "2026-11-20"), reverse=True)
        assert all(c["Mono"] + c["Color"] == life[c["Date"]] - 40 for c in extra["Counters"])


def test_a_page_cap_serves_fewer_rows_than_asked_and_pages_by_it(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    sim.page_cap = 2
    everyone = devices_body(code, FilterCustomerCodes=[], PageRows=500)
    first = client.post(DEVICE_LIST_PATH, json=everyone).json()
    total = first["TotalRows"]
    pages = [first["Result"]]
    for number in range(2, -(-total // 2) + 1):
        pages.append(
            client.post(DEVICE_LIST_PATH, json={**everyone, "PageNumber": number}).json()["Result"]
        )
    assert {len(p) for p in pages[:-1]} == {2} and 1 <= len(pages[-1]) <= 2
    assert len({r["Id"] for p in pages for r in p}) == total > 4


def test_device_ids_in_another_case_in_one_list(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    ids = set(sim.fleet.device_ids(code))
    sim.recase_device_ids(code, COUNTER_LIST_PATH)
    rows = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    assert {r["DeviceId"] for r in rows} == {i.upper() for i in ids} != ids
    listed = client.post(DEVICE_LIST_PATH, json=devices_body(code)).json()["Result"]
    assert {r["Id"] for r in listed} == ids
    sim.recase_device_ids(code, COUNTER_LIST_PATH, upper=False)
    rows = client.post(COUNTER_LIST_PATH, json=counters_body(code)).json()["Result"]
    assert {r["DeviceId"] for r in rows} == ids


def test_the_log_names_each_requests_customers(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    other = sim.fleet.customer_codes[1]
    client.post(COUNTER_LIST_PATH, json=counters_body(code))
    client.post(DEVICE_LIST_PATH, json=devices_body(code, FilterCustomerCodes=[code, other]))
    client.post(CUSTOMER_PATH, json={"Code": other})
    client.get(PING_PATH)
    assert sim.requests_for(code) == [COUNTER_LIST_PATH, DEVICE_LIST_PATH]
    assert sim.requests_for(other) == [DEVICE_LIST_PATH, CUSTOMER_PATH]
    sim.reset_log()
    assert sim.requests_for(code) == []
