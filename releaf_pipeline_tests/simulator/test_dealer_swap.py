"""A dealer swap: another dealer answers at the simulator's URL, then the real one again."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from releaf_pipeline.lib.mpsmonitor.contract import CUSTOMER_PATH, PING_PATH
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.simulator.helpers import (
    counters_body,
    error_code,
    listed_rows,
    served_dates,
)

FIRST, LAST = date(2026, 11, 1), date(2026, 11, 26)


def counters(client: httpx.Client, code: str, dealer: str) -> dict[str, dict[str, int]]:
    """device_id -> date -> life count served by Counter/List when asked as `dealer`."""
    body = counters_body(code, str(FIRST), str(LAST)) | {"DealerCode": dealer}
    env = client.post("/api3/Counter/List", json=body).json()
    assert env["IsValid"] is True, env
    return {
        row["DeviceId"]: {c["Date"]: c["Mono"] + (c["Color"] or 0) for c in row["Counters"]}
        for row in env["Result"]
    }


def test_a_swapped_dealer_answers_for_the_same_customers_with_other_counters(
    sim: Simulator, client: httpx.Client, code: str
) -> None:
    real_devices = set(listed_rows(client, code))
    real_counters = counters(client, code, "D-1042")

    impostor = sim.swap_dealer("D-9999")
    assert client.get(PING_PATH).json()["Result"]["DealerCode"] == "D-9999"
    # The same customer codes are served...
    assert impostor.customer_codes == sim.fleet.customer_codes
    customer = client.post(CUSTOMER_PATH, json={"Code": code}).json()
    assert customer["IsValid"] is True and customer["Result"]["Code"] == code
    # ...with other devices and other counters.
    swapped_devices = set(listed_rows(client, code))
    assert swapped_devices and swapped_devices.isdisjoint(real_devices)
    swapped_counters = counters(client, code, "D-9999")
    assert swapped_counters and swapped_counters != real_counters
    assert swapped_counters == {
        device: {d.isoformat(): n for d, n in days.items() if FIRST <= d <= LAST}
        for device, days in impostor.readings(code, as_of=sim.now).items()
    }
    # Asked as the registered dealer, the impostor refuses.
    refused = client.post("/api3/Counter/List", json=counters_body(code))
    assert error_code(refused) == "InvalidDealerCode"

    sim.restore_dealer()
    assert client.get(PING_PATH).json()["Result"]["DealerCode"] == "D-1042"
    assert set(listed_rows(client, code)) == real_devices
    assert counters(client, code, "D-1042") == real_counters
    assert set(served_dates(client, code, FIRST, LAST)) == set(real_counters)


def test_clear_faults_ends_a_dealer_swap(sim: Simulator, client: httpx.Client) -> None:
    sim.swap_dealer("D-9999")
    sim.clear_faults()
    assert client.get(PING_PATH).json()["Result"]["DealerCode"] == "D-1042"


def test_a_fleet_cannot_swap_to_its_own_dealer() -> None:
    fleet = Fleet()
    with pytest.raises(ValueError, match="D-1042"):
        fleet.as_dealer("D-1042")
    assert fleet.as_dealer("D-9999").config.dealer_code == "D-9999"
