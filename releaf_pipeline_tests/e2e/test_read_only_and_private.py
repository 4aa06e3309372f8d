"""The pipeline only reads from MPS Monitor and keeps nothing private.

Over real HTTPS through the `releaf` command: the server sees only the contract's four
read requests, and neither DAGSTER_HOME, nor any log line, nor the command's output, nor a
`repr` holds the dealer token, a device's serial number, addresses or names, or a
customer's description, on the error paths as much as on the happy one.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from releaf_pipeline.defs.resources import ClockResource, MPSMonitorResource, StoreResource
from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
from releaf_pipeline.lib.mpsmonitor.contract import (
    COUNTER_LIST_PATH,
    CUSTOMER_PATH,
    DEVICE_LIST_PATH,
    PING_PATH,
)
from releaf_pipeline.lib.mpsmonitor.errors import TLSError, UnauthorizedError
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.store.registry import add_server, server_token
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.conftest import capture_compute_logs
from releaf_pipeline_tests.e2e.test_collect_month import (
    UNKNOWN_CODE,
    _at,
    _collect,
    _feeds,
    _register,
)

pytestmark = pytest.mark.e2e

CONTRACT_REQUESTS = {
    ("GET", PING_PATH),
    ("POST", CUSTOMER_PATH),
    ("POST", DEVICE_LIST_PATH),
    ("POST", COUNTER_LIST_PATH),
}
TODAY = date(2026, 10, 12)


def test_only_the_contracts_four_read_requests_are_sent(
    home, sim, fleet, releaf, tmp_path, monkeypatch
):
    _at(monkeypatch, sim, TODAY)
    _register(releaf, sim, tmp_path, monkeypatch, _feeds(fleet))
    _collect(releaf, "2026-09-20", "2026-10-11")
    for args in (
        ("server", "list", "--json"),
        ("feed", "list", "--json"),
        ("report", "--month", "2026-09", "--json"),
    ):
        r = releaf(*args)
        assert r.code == 0, r.err
    # The nightly replay adds the health sensor's pings and the catch-up runs; it exits 1
    # as the unknown customer code failed again.
    r = releaf("nightly", "--date", "2026-10-11")
    assert r.code == 1 and f"feed {UNKNOWN_CODE} on east:" in r.err, r.err

    assert len(sim.request_log) > 20
    assert set(sim.request_log) == CONTRACT_REQUESTS


def _private_values(sim: Simulator) -> set[str]:
    fleet = sim.fleet
    values = {sim.token}
    for code in fleet.customer_codes:
        values.add(fleet.customer(code)["Description"])
        for dev in fleet.devices(code, sim.today):
            values |= {
                dev["SerialNumber"],
                dev["IpAddress"],
                dev["MacAddress"],
                dev["SystemName"],
                dev["AssetNumber"],
                dev["Product"]["Model"],
            }
    return values


# Short values (asset numbers like A-40, system names like PRN-2B) only count as whole
# words: as bare substrings they turn up by chance in base64 text (sealed tokens, keys)
# and binary pages, which would be noise, not leaks.
_SHORT = 8


def _is_word(data: bytes, start: int, end: int) -> bool:
    before = data[start - 1 : start] if start else b""
    after = data[end : end + 1]
    return not (before.isalnum() or after.isalnum())


def _leaks(values: set[str], data: bytes) -> list[str]:
    found = []
    for value in values:
        needle = value.encode()
        at = data.find(needle)
        while at != -1:
            if len(value) >= _SHORT or _is_word(data, at, at + len(needle)):
                found.append(value)
                break
            at = data.find(needle, at + 1)
    return sorted(found)


def test_nothing_private_in_dagster_home_logs_or_output(
    home, sim, fleet, releaf, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    capture_compute_logs(home)
    feeds = _feeds(fleet)
    codes = fleet.customer_codes
    _at(monkeypatch, sim, TODAY)
    _register(releaf, sim, tmp_path, monkeypatch, feeds)
    outputs = []

    # Error paths: an unreadable body, a missing field, an impossible counter, a retried
    # 5xx and a retried reset (the unknown customer code fails on every run; the fourth
    # feed is not active yet).
    sim.inject("malformed", path=COUNTER_LIST_PATH, customer=codes[0])
    sim.inject("missing_field", path=DEVICE_LIST_PATH, customer=codes[1], field="IsManaged")
    sim.inject("counter_value", path=COUNTER_LIST_PATH, customer=codes[2], value=-5)
    sim.inject("status", path=CUSTOMER_PATH, customer=codes[2], status=500)
    sim.inject("reset", path=DEVICE_LIST_PATH, customer=codes[2])
    r = releaf("collect", "--start", "2026-09-20", "--end", "2026-10-05")
    outputs.append(r)
    assert r.code == 0, r.err
    assert "invalid_response" in r.err and "customer_not_found" in r.err
    assert sim.pending_faults == 0

    # A revoked token: the run pauses everything, and a registration is refused.
    sim.revoke_token()
    r = releaf("collect", "--start", "2026-10-06", "--end", "2026-10-08")
    outputs.append(r)
    assert r.code == 0, r.err
    assert "unauthorized" in r.err
    monkeypatch.setenv("RELEAF_DEALER_TOKEN", sim.token)
    r = releaf("server", "add", "west", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    outputs.append(r)
    assert r.code != 0 and "401" in r.err
    monkeypatch.delenv("RELEAF_DEALER_TOKEN")
    sim.restore_token()

    # Recovery, the nightly replay (sensors and catch-up runs) and every read command.
    for args in (
        ("collect", "--start", "2026-10-01", "--end", "2026-10-11"),
        ("nightly", "--date", "2026-10-11"),
        ("server", "list"),
        ("server", "list", "--json"),
        ("feed", "list"),
        ("feed", "list", "--json"),
        ("report", "--month", "2026-10"),
        ("report", "--month", "2026-10", "--json"),
    ):
        r = releaf(*args)
        # The night exits 1: the unknown customer code failed again.
        assert r.code == (1 if args[0] == "nightly" else 0), r.err
        outputs.append(r)

    private = _private_values(sim)
    assert len(private) > 60

    # The capture must have seen the failures, or the scan below proves nothing.
    logged = caplog.text
    assert "retrying" in logged and "invalid_response" in logged and "unauthorized" in logged
    for r in outputs:
        assert _leaks(private, (r.out + r.err).encode()) == [], r
    assert _leaks(private, logged.encode()) == []

    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "releaf.db" for p in files)
    assert any("storage" in p.parts for p in files), "the Dagster instance wrote nothing"
    for path in files:
        assert _leaks(private, path.read_bytes()) == [], path


def _exception_texts(exc: BaseException) -> list[str]:
    """Every way an exception shows itself: str, repr, args, attributes and the traceback
    with its whole cause chain."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return texts


def test_token_never_in_a_repr(home, sim, tmp_path):
    token = sim.token
    settings = ClientSettings(max_attempts=1, timeout=5.0)
    other = Simulator(sim.fleet, workdir=tmp_path / "other-ca")

    async def scenario() -> tuple[list[str], list[BaseException]]:
        shown, errors = [], []
        async with MPSMonitorClient(
            sim.url, token, ca_data=sim.ca_bundle.read_text(), settings=settings
        ) as client:
            shown.append(repr(client))
            await client.ping()
            sim.revoke_token()
            try:
                for call in (client.ping(), client.get_customer(sim.fleet.customer_codes[0])):
                    with pytest.raises(UnauthorizedError) as caught:
                        await call
                    errors.append(caught.value)
            finally:
                sim.restore_token()
            shown.append(repr(client))
        async with MPSMonitorClient(
            sim.url, token, ca_data=other.ca_bundle.read_text(), settings=settings
        ) as untrusting:
            with pytest.raises(TLSError) as caught:
                await untrusting.ping()
            errors.append(caught.value)
            shown.append(repr(untrusting))
        return shown, errors

    shown, errors = asyncio.run(scenario())
    assert len(errors) == 3

    store = StoreResource(home=str(home))
    server = add_server(
        store.engine(), store.cipher(), name="east", url=sim.url, token=token,
        ca_bundle_pem=sim.ca_bundle.read_text(), dealer_code="D-1042",
        now=datetime(2026, 9, 1, tzinfo=UTC),
    )  # fmt: skip
    sealed = server_token(store.engine(), store.cipher(), server.id)
    assert sealed.get_secret_value() == token
    from releaf_pipeline.definitions import defs

    shown += [
        repr(server),
        repr(sealed),
        str(sealed),
        repr(store),
        repr(store.cipher()),
        repr(MPSMonitorResource()),
        repr(ClockResource()),
        *(repr(resource) for resource in defs.resources.values()),
    ]
    for exc in errors:
        shown += _exception_texts(exc)
    assert any("401" in text for text in shown) and any("tls" in text.lower() for text in shown)
    for text in shown:
        assert token not in text, text
    # The key that seals tokens is as secret as the tokens.
    key = (Path(home) / "releaf.key").read_text().split()[0]
    for text in shown:
        assert key not in text, text
