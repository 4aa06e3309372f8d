"""`releaf simulator`: serving until interrupted, its options, its start-up failures."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from releaf_pipeline.cli import main as releaf
from releaf_pipeline.lib.mpsmonitor.contract import PING_PATH
from releaf_pipeline.simulator.certs import CA_BUNDLE_NAME
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline_tests.simulator.helpers import (
    TOKEN,
    served_dates,
)


def _interruptible() -> None:
    # A child inherits an ignored SIGINT (a test in this worker may have run a command that
    # ignores it while its run starts): Ctrl-C must reach the simulator as a user's would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_main_serves_until_interrupted(tmp_path: Path) -> None:
    env = dict(os.environ, RELEAF_DEALER_TOKEN="env-token-xyz")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from releaf_pipeline.cli import console; console()",
            "simulator",
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
        preexec_fn=_interruptible,
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


def test_main_local_time_publication(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from releaf_pipeline.cli import console; console()",
            "simulator",
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
        preexec_fn=_interruptible,
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
            served = served_dates(c, west, date(2026, 11, 25), date(2026, 11, 30))
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


# ---- option errors and start-up failures: one line on stderr, never a traceback ------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--port", "-1"], "--port"),
        (["--port", "65536"], "--port"),
        (["--port", "https"], "--port"),
        (["--port"], "--port"),
        (["--customers", "-1"], "--customers"),
        (["--customers", "2.5"], "--customers"),
        (["--devices", "0"], "--devices"),
        (["--latency", "-0.1"], "--latency"),
        (["--latency", "nan"], "--latency"),
        (["--latency", "inf"], "--latency"),
        (["--today", "2026-13-01"], "--today"),
        (["--today", "20261201"], "--today"),
        (["--today", "2026-12-1"], "--today"),
        (["--today", "2026-W48-2"], "--today"),
        (["--today", "2026-12-01T05:00"], "--today"),
        (["--seed", "seven"], "--seed"),
        (["--verbose"], "--verbose"),
    ],
)
def test_a_bad_option_is_one_line_and_status_2(
    args: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert releaf(["simulator", *args, "--workdir", str(tmp_path / "sim")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("releaf: error: ") and named in err
    assert "Traceback" not in err
    assert not (tmp_path / "sim").exists(), "nothing is made before the options are checked"


def test_good_edge_values_are_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Every option at its edge, and a port that is taken so main returns instead of serving.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        args = ["--port", port, "--customers", "0", "--devices", "1", "--latency", "0"]
        args += ["--today", "2024-02-29", "--seed", "-3", "--workdir", str(tmp_path)]
        assert releaf(["simulator", *args]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err


def test_a_port_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert (
            releaf(
                ["simulator", "--port", str(port), "--customers", "1", "--workdir", str(tmp_path)]
            )
            == 1
        )
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"releaf: error: cannot listen on 127.0.0.1:{port}: " + (
        "Address already in use\n"
    )


def test_without_trustme_main_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)
    assert releaf(["simulator", "--port", "0", "--customers", "1", "--workdir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "pip install 'releaf-pipeline[simulator]'" in err and "Traceback" not in err


def test_options_are_checked_before_the_http_stack_loads() -> None:
    code = (
        "import sys\n"
        "from releaf_pipeline.simulator.config import FleetConfig\n"
        "from releaf_pipeline.simulator.fleet import Fleet\n"
        "Fleet(FleetConfig(customers=1)).resets\n"
        "from releaf_pipeline.cli import main\n"
        "assert main(['simulator', '--port', 'x']) == 2\n"
        "print(sorted(m for m in ('uvicorn', 'starlette', 'trustme') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def _serve(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    """`releaf simulator` in a process of its own, on a free port; (process, url)."""
    args = ["--port", "0", "--customers", "1", "--workdir", str(workdir)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from releaf_pipeline.cli import console; console()",
            "simulator",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, RELEAF_DEALER_TOKEN=TOKEN),
    )
    assert proc.stdout is not None
    url = ""
    while not url:
        line = proc.stdout.readline()
        assert line, "simulator exited early"
        url = next((w for w in line.split() if w.startswith("https://")), "")
    return proc, url


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_a_restarted_simulator_is_trusted_with_the_first_ca_bundle(tmp_path: Path) -> None:
    registered = tmp_path / "registered-ca.pem"
    proc, url = _serve(tmp_path / "sim")
    try:
        registered.write_bytes((tmp_path / "sim" / CA_BUNDLE_NAME).read_bytes())
        ctx = ssl.create_default_context(cafile=str(registered))
        assert httpx.get(url + PING_PATH, verify=ctx, headers={"X-Dealer-Token": TOKEN}).is_success
    finally:
        _stop(proc)
    proc, url = _serve(tmp_path / "sim")
    try:
        ctx = ssl.create_default_context(cafile=str(registered))
        assert httpx.get(url + PING_PATH, verify=ctx, headers={"X-Dealer-Token": TOKEN}).is_success
    finally:
        _stop(proc)
