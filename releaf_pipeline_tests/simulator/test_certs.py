"""The simulator's CA and server certificate: kept across restarts, made only with trustme."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import releaf_pipeline.simulator
from releaf_pipeline.lib.mpsmonitor.contract import PING_PATH
from releaf_pipeline.simulator.certs import CA_BUNDLE_NAME, MissingExtraError
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator
from releaf_pipeline_tests.simulator.helpers import TODAY, TOKEN

SIMULATOR_DIR = Path(releaf_pipeline.simulator.__file__).parent


@pytest.fixture(scope="module")
def small_fleet() -> Fleet:
    return Fleet(FleetConfig(customers=1))


def _ping(sim: Simulator, ca_pem: bytes, host: str = "127.0.0.1") -> int:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    url = sim.url.replace("127.0.0.1", host)
    return httpx.get(url + PING_PATH, verify=ctx, headers={"X-Dealer-Token": TOKEN}).status_code


def _server_cert(sim: Simulator) -> bytes:
    """The DER certificate the running server presents."""
    host, port = sim.url.removeprefix("https://").split(":")
    pem = ssl.get_server_certificate((host, int(port)))
    return ssl.PEM_cert_to_DER_cert(pem)


def test_a_restarted_simulator_keeps_its_ca_and_certificate(
    tmp_path: Path, small_fleet: Fleet
) -> None:
    with Simulator(small_fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as first:
        ca_pem = first.ca_bundle.read_bytes()
        assert _ping(first, ca_pem) == 200
        presented = _server_cert(first)

    # A new simulator on the same workdir, as after a process restart: the CA bundle a
    # server was registered with still verifies it, and nothing was made again.
    with Simulator(small_fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as second:
        assert second.ca_bundle.read_bytes() == ca_pem
        assert _ping(second, ca_pem) == 200
        assert _server_cert(second) == presented

    # Another workdir is another CA, which the first one's bundle does not trust.
    with Simulator(small_fleet, token=TOKEN, today=TODAY, workdir=tmp_path / "other") as other:
        assert other.ca_bundle.read_bytes() != ca_pem
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            _ping(other, ca_pem)


def test_a_new_host_gets_a_new_certificate_from_the_same_ca(
    tmp_path: Path, small_fleet: Fleet
) -> None:
    try:
        socket.create_server(("127.0.0.2", 0)).close()
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    with Simulator(small_fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as first:
        ca_pem = first.ca_bundle.read_bytes()
        presented = _server_cert(first)
    # "localhost" is a name the kept certificate carries; "127.0.0.2" is not.
    with Simulator(
        small_fleet, token=TOKEN, today=TODAY, host="127.0.0.2", workdir=tmp_path
    ) as second:
        assert second.url.startswith("https://127.0.0.2:")
        assert second.ca_bundle.read_bytes() == ca_pem
        assert _server_cert(second) != presented
        assert _ping(second, ca_pem, host="127.0.0.2") == 200


def test_a_damaged_server_certificate_is_replaced(tmp_path: Path, small_fleet: Fleet) -> None:
    Simulator(small_fleet, workdir=tmp_path)
    ca_pem = (tmp_path / CA_BUNDLE_NAME).read_bytes()
    (tmp_path / "mpsmonitor-sim-server.pem").write_text("not a certificate")
    with Simulator(small_fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as sim:
        assert sim.ca_bundle.read_bytes() == ca_pem
        assert _ping(sim, ca_pem) == 200


def test_private_keys_are_the_owners_only(tmp_path: Path, small_fleet: Fleet) -> None:
    Simulator(small_fleet, workdir=tmp_path)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {
        CA_BUNDLE_NAME: 0o644,
        "mpsmonitor-sim-ca.key": 0o600,
        "mpsmonitor-sim-server.pem": 0o644,
        "mpsmonitor-sim-server.key": 0o600,
    }
    assert "PRIVATE KEY" not in (tmp_path / CA_BUNDLE_NAME).read_text()


def test_without_trustme_making_certificates_fails_in_one_clear_line(
    tmp_path: Path, small_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # what `import trustme` sees without it
    with pytest.raises(MissingExtraError) as caught:
        Simulator(small_fleet, workdir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "trustme" in message and "pip install 'releaf-pipeline[simulator]'" in message
    assert isinstance(caught.value, ImportError)


def test_kept_certificates_need_no_trustme(
    tmp_path: Path, small_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    Simulator(small_fleet, workdir=tmp_path)
    monkeypatch.setitem(sys.modules, "trustme", None)
    with Simulator(small_fleet, token=TOKEN, today=TODAY, workdir=tmp_path) as sim:
        assert _ping(sim, sim.ca_bundle.read_bytes()) == 200


def test_loading_the_simulator_does_not_load_trustme() -> None:
    # Which modules may import trustme, and that none imports the client, are import-linter
    # contracts (pyproject.toml); this is what they cannot see: that certs imports it lazily.
    modules = sorted(SIMULATOR_DIR.glob("*.py"))
    assert {p.name for p in modules} >= {"certs.py", "server.py", "wire.py", "main.py"}
    names = " ".join(f"releaf_pipeline.simulator.{p.stem}" for p in modules if p.stem != "__init__")
    code = f"import sys, importlib\nfor m in '{names}'.split(): importlib.import_module(m)\n"
    code += "print('trustme' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout
    assert out.strip() == "False"
