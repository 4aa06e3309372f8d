"""The instance files shipped in the repo load as real Dagster instances with their limits.

`dagster.yaml` (SQLite, one machine) and `dagster.postgres.yaml` (production) are copied
into an empty DAGSTER_HOME exactly as the README and docs/production.md say, and opened with
`DagsterInstance.get()`, the way the webserver, the daemon and the CLI open them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.run_coordinator import QueuedRunCoordinator

from releaf_pipeline.definitions import defs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool() -> str:
    """The pool each piece of the collection holds, as declared on its op."""
    graph = defs.resolve_assets_def("meter_readings").node_def
    name = graph.node_named("collect_piece").definition.pool
    assert name == "mpsmonitor"
    return name


@pytest.mark.parametrize(
    "config_file",
    ["dagster.yaml", pytest.param("dagster.postgres.yaml", marks=pytest.mark.postgres)],
)
def test_instance_file_loads_with_its_run_queue_and_pool_limits(
    config_file, home, pool, monkeypatch, request
):
    shutil.copy(REPO / config_file, home / "dagster.yaml")
    on_postgres = config_file == "dagster.postgres.yaml"
    if on_postgres:
        server = request.getfixturevalue("postgres_server")
        db = server.postgres_db_config(server.new_database("instance_config"))
        monkeypatch.setenv("DAGSTER_PG_USERNAME", db["username"])
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", db["password"])
        monkeypatch.setenv("DAGSTER_PG_HOST", db["hostname"])
        monkeypatch.setenv("DAGSTER_PG_DB", db["db_name"])
        monkeypatch.setenv("DAGSTER_PG_PORT", str(db["port"]))

    with dg.DagsterInstance.get() as instance:
        backend = "Postgres" if on_postgres else "Sqlite"
        for storage in (instance.run_storage, instance.event_log_storage):
            assert backend in type(storage).__name__, type(storage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert not instance.telemetry_enabled
        # No first-visit dialog covers the UI.
        assert not instance.nux_enabled

        config = instance.get_concurrency_config()
        assert config.run_queue_config is not None
        assert config.run_queue_config.max_concurrent_runs == 4
        assert config.pool_config.default_pool_limit == 2
        # The default becomes the pool's real limit in the instance's storage the first
        # time a step claims it; do what the claim does and read the limit back.
        instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        assert instance.event_log_storage.get_concurrency_info(pool).slot_count == 2

        if on_postgres:
            assert instance.run_retries_enabled
            assert instance.run_retries_max_retries == 2


def test_postgres_instance_file_names_a_missing_connection_variable(home, monkeypatch):
    shutil.copy(REPO / "dagster.postgres.yaml", home / "dagster.yaml")
    for name in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    monkeypatch.delenv("DAGSTER_PG_DB", raising=False)
    # Reported while reading the file, before any connection is attempted.
    with pytest.raises(dg.DagsterInvalidConfigError, match="DAGSTER_PG_DB"):
        dg.DagsterInstance.get()
