"""No secret setting is ever shown: known values for every secret (the store's Postgres
password, the Fernet key, the dealer token, the Celery broker's password, the SMTP login and
the webhook's token) are set, the pipeline is driven as an operator drives it, and every
place a value could surface is scanned for them: the commands' output, the reprs of the
settings and of every resource Dagster loads, every file under DAGSTER_HOME (event logs,
run config, compute logs, sensor ticks), the store's rows, and the Dagster UI's GraphQL
(resources, run config, run logs)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from releaf_pipeline_tests.conftest import capture_compute_logs

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
NIGHT = "2026-09-30"
NOW = "2026-10-01T03:00:00+00:00"
TOKEN = "tok-SECRET-dealer-7f3a"
PG_PASSWORD = "pg-SECRET-9c2e"
BROKER_PASSWORD = "broker-SECRET-41d8"
SMTP_PASSWORD = "smtp-SECRET-b6a0"
WEBHOOK_TOKEN = "hook-SECRET-e51c"
RESOURCES_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
  locationOrLoadError { ... on RepositoryLocation { repositories { name
    allTopLevelResourceDetails { name description configFields { name description }
      configuredValues { key value type } } } } } } } } }"""
RUNS_QUERY = (
    "{ runsOrError { ... on Runs { results { runId runConfigYaml tags { key value } } } } }"
)
LOGS_QUERY = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection {
  events { __typename ... on MessageEvent { message } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def secrets(pg_url: str) -> dict[str, str]:
    """Every secret, as the environment gives them; the store's URL carries a password
    (the test server trusts loopback, so any password logs in)."""
    url = sa.engine.make_url(pg_url).set(password=PG_PASSWORD)
    return {
        "RELEAF_DATABASE_URL": url.render_as_string(hide_password=False),
        "RELEAF_SECRET_KEY": Fernet.generate_key().decode(),
        "RELEAF_DEALER_TOKEN": TOKEN,
        "RELEAF_CELERY_BROKER": f"redis://:{BROKER_PASSWORD}@127.0.0.1:6/0",
        # Nothing listens there: each alert fails, and its failure is said and recorded.
        "RELEAF_ALERT_SMTP_URL": f"smtp://ops:{SMTP_PASSWORD}@127.0.0.1:9",
        "RELEAF_ALERT_EMAIL_FROM": "releaf@example.com",
        "RELEAF_ALERT_EMAIL_TO": "ops@example.com",
        "RELEAF_ALERT_WEBHOOK_URL": f"https://127.0.0.1:9/hooks/{WEBHOOK_TOKEN}",
    }


def _values(secrets: dict[str, str]) -> list[str]:
    key = secrets["RELEAF_SECRET_KEY"]
    return [TOKEN, PG_PASSWORD, BROKER_PASSWORD, SMTP_PASSWORD, WEBHOOK_TOKEN, key, key[:20]]


def _env(home: Path, secrets: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEAF_")}
    return {**env, "DAGSTER_HOME": str(home), "RELEAF_NOW": NOW, **secrets}


def _run(env: dict[str, str], *args: str, ok: bool = True) -> str:
    exe = Path(sys.executable).parent / "releaf"
    r = subprocess.run(
        [str(exe), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    if ok:
        assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def _python(env: dict[str, str], code: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


REPRS = """
from releaf_pipeline.settings import read_settings
s = read_settings()
print(repr(s)); print(str(s)); print(s.model_dump()); print(s.model_dump_json())
print(repr(s.alerts))
from releaf_pipeline.definitions import defs
for name, resource in sorted(defs.resources.items()):
    print(name, repr(resource), str(resource))
print(repr(defs.executor))
"""


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    answer = httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
    ).json()
    assert "errors" not in answer, answer
    return answer["data"]


def _ui_text(home: Path, env: dict[str, str]) -> str:
    port = _free_port()
    exe = Path(sys.executable).parent / "dagster-webserver"
    log = home / "webserver.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.25)
        resources = _graphql(base, RESOURCES_QUERY)
        details = json.dumps(resources)
        assert '"name": "store"' in details, "the UI shows no resources: " + details[:500]
        runs = _graphql(base, RUNS_QUERY)["runsOrError"]["results"]
        assert runs, "the UI shows no runs"
        logs = [_graphql(base, LOGS_QUERY, {"id": r["runId"]}) for r in runs]
        return json.dumps([resources, runs, logs])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _files(home: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def _store_rows(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return "\n".join(
                repr(row) for t in tables for row in conn.execute(sa.text(f'SELECT * FROM "{t}"'))
            )
    finally:
        engine.dispose()


def _leaks(where: str, text: str | bytes, values: list[str]) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode()
    return [f"{v[:12]}... in {where}" for v in values if v.encode() in data]


def test_no_secret_appears_in_output_reprs_files_store_or_ui(
    home: Path, sim, secrets: dict[str, str], tmp_path: Path
) -> None:
    capture_compute_logs(home)
    env = _env(home, secrets)
    sim.token = TOKEN
    values = _values(secrets)
    shown: dict[str, str | bytes] = {}

    shown["server add"] = _run(
        env, "server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle)
    )
    code = sim.fleet.customer_codes[0]
    shown["feed add"] = _run(
        env, "feed", "add", "--server", "east", "--customer-code", code, "--account", "acct-a",
        "--activation-date", "2026-09-01", "--scope", "all",
    )  # fmt: skip
    shown["collect"] = _run(env, "collect", "--start", "2026-09-01", "--end", NIGHT)
    # The night runs every sensor, the alert ones too, whose channels refuse.
    shown["nightly"] = _run(env, "nightly", "--date", NIGHT, ok=False)
    for args in (("server", "list"), ("feed", "list", "--json"), ("alerts", "list")):
        shown[" ".join(args)] = _run(env, *args)
    shown["alerts test"] = _run(env, "alerts", "test", ok=False)
    shown["refused"] = _run(env, "server", "add", "west", "--url", "http://x.test", ok=False)
    shown["reprs"] = _python(env, REPRS)
    shown.update(_files(home))
    shown["store rows"] = _store_rows(secrets["RELEAF_DATABASE_URL"])
    shown["ui"] = _ui_text(home, env)

    # What was scanned is what the pipeline did: the feed collected into the Postgres store,
    # and the alert channels tried, and refused.
    assert "acct-a" in str(shown["store rows"]) and "meter_readings" in shown["ui"]
    assert "email to ops@example.com" in shown["alerts test"]
    assert "webhook at 127.0.0.1" in shown["alerts test"]
    leaks = [leak for where, text in shown.items() for leak in _leaks(where, text, values)]
    assert leaks == []
