"""The configuration docs/production.md gives is what the pinned Dagster release accepts.

Every block the document marks with `<!-- releaf-config: KIND -->` is validated with
Dagster's own config schemas, without a cluster, a broker or a database server (but the
test that loads the Postgres instance): the executors' run config against the collection
job using each executor, the K8sRunLauncher's config (the instance file's block, and the
Helm values' run launcher section as the chart renders it) against the launcher's schema,
the settings against `read_settings`. A document whose configuration breaks fails here.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster_celery import celery_executor
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresRunStorage
from dotenv.parser import parse_stream

from releaf_pipeline.definitions import defs
from releaf_pipeline.defs.executors import CELERY_WORKER_SETTINGS, executor_from_settings
from releaf_pipeline.settings import VARIABLES, Settings, read_settings

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "production.md"
MODULE = "releaf_pipeline.definitions"

BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)<!-- releaf-config: (?P<kind>[a-z0-9-]+) -->\n"
    r"[ \t]*```(?P<lang>\w+)\n(?P<body>.*?)\n[ \t]*```",
    re.M | re.S,
)
KINDS = ("env", "celery-worker", "k8s-run-config", "instance", "helm-values")
PG_VARIABLES = {f"DAGSTER_PG_{n}" for n in ("USERNAME", "PASSWORD", "HOST", "PORT", "DB")}


@dataclass(frozen=True)
class Block:
    """One marked configuration block of the document."""

    kind: str
    lang: str
    body: str
    line: int

    def __str__(self) -> str:
        return f"docs/production.md line {self.line} ({self.kind})"

    def data(self) -> Any:
        return yaml.safe_load(self.body)


def config_blocks(text: str) -> list[Block]:
    """The marked blocks of `text`, in order, dedented from their list item."""
    return [
        Block(
            m["kind"],
            m["lang"],
            textwrap.dedent(m["body"]),
            text.count("\n", 0, m.start()) + 1,
        )
        for m in BLOCK.finditer(text)
    ]


# ---- validating a value against a Dagster config schema, with public names only -------


def validate_against(schema: Any, value: Any, name: str) -> Any:
    """`value` validated (and defaults filled in) against the config schema `schema`, as
    Dagster validates an op's config: the public way to run any schema, such as a run
    launcher's `config_type()`, through Dagster's config system."""

    @dg.op(name=name, config_schema=schema)
    def holder() -> None: ...

    job = dg.GraphDefinition(name=f"{name}_job", node_defs=[holder]).to_job()
    return dg.validate_run_config(job, {"ops": {name: {"config": value}}})["ops"][name]["config"]


def collection_job(executor: dg.ExecutorDefinition) -> dg.JobDefinition:
    """The `collection` job as the code location builds it, with `executor`."""
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        resources=defs.resources,
        executor=executor,
    ).resolve_job_def("collection")


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """The process environment with `values` set, as a process started with them sees it."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ---- one validator per kind of block ---------------------------------------------------


def env_values(block: Block) -> dict[str, str]:
    """The variables an `env` block exports, as a shell reads them."""
    values = {}
    for binding in parse_stream(io.StringIO(block.body)):
        assert not binding.error, f"{block}: not NAME=VALUE: {binding.original.string!r}"
        if binding.key is not None:
            values[binding.key] = binding.value or ""
    return values


def documented_environment(blocks: list[Block]) -> dict[str, str]:
    """Every variable the document's `env` blocks export (they add up: section 1's for
    every process, then an executor's)."""
    values: dict[str, str] = {}
    for block in blocks:
        if block.kind == "env":
            values.update(env_values(block))
    return values


def settings_of(env: Mapping[str, str], where: object) -> Settings:
    unknown = set(env) - set(VARIABLES) - PG_VARIABLES
    assert not unknown, f"{where}: not a setting: {sorted(unknown)}"
    # The home named need not exist here: no settings file is read from it then.
    return read_settings({"DAGSTER_HOME": "/nonexistent/releaf-home", **env})


def check_env(block: Block, blocks: list[Block]) -> None:
    values = env_values(block)
    settings = settings_of(values, block)
    if "RELEAF_DATABASE_URL" in values:
        url = sa.engine.make_url(settings.database_url.get_secret_value())
        # psycopg2 is the driver installed with dagster-postgres.
        assert url.drivername == "postgresql+psycopg2", f"{block}: store URL {url.drivername}"
    if "DAGSTER_PG_PORT" in values:
        assert values["DAGSTER_PG_PORT"].isdigit(), f"{block}: DAGSTER_PG_PORT"
    if "RELEAF_CELERY_BROKER" in values:
        for secret in (settings.celery_broker, settings.celery_backend):
            url = secret.get_secret_value()
            assert url.startswith("redis://"), f"{block}: not a Redis URL: {url}"


def check_celery_worker(block: Block, blocks: list[Block]) -> None:
    """The workers' file is the executor's run config, and agrees with the executor the
    code location builds from the same settings."""
    env = documented_environment(blocks)
    settings = settings_of(env, block)
    assert settings.executor == "celery", f"{block}: the env blocks do not choose celery"
    # The variables the workers' file reads, as every worker's environment has them.
    with environment({k: v for k, v in env.items() if k.startswith("RELEAF_CELERY_")}):
        workers = dg.validate_run_config(collection_job(celery_executor), block.data())
        executor = dg.validate_run_config(collection_job(executor_from_settings(settings)), {})
    workers, executor = workers["execution"]["celery"], executor["execution"]["celery"]
    for key in ("broker", "backend", "config_source"):
        assert workers[key] == executor[key], f"{block}: workers' {key} differs from executor's"
    assert workers["config_source"] == CELERY_WORKER_SETTINGS


def check_k8s_run_config(block: Block, blocks: list[Block]) -> None:
    settings = settings_of({"RELEAF_EXECUTOR": "k8s"}, block)
    job = collection_job(executor_from_settings(settings))
    assert job.executor_def.name == "k8s"
    dg.validate_run_config(job, block.data())


def check_instance(block: Block, blocks: list[Block]) -> None:
    """A run launcher block for the instance file: its class is importable, and its config
    fits the class's schema (instantiating it would need a cluster)."""
    data = block.data()
    assert set(data) == {"run_launcher"}, f"{block}: {sorted(data)}"
    launcher = data["run_launcher"]
    cls = getattr(importlib.import_module(launcher["module"]), launcher["class"])
    assert cls is K8sRunLauncher, f"{block}: {cls}"
    validate_against(cls.config_type(), launcher["config"], "run_launcher")


# The Helm chart (1.13) renders its values into the instance's dagster.yaml; these are the
# keys of the sections used here, with what each becomes (helm/dagster/templates/helpers/
# instance/). The chart's values schema refuses any other key.
HELM_K8S_RUN_LAUNCHER = {
    "image": None,  # the job image: a repository and tag, rendered as one string
    "imagePullPolicy": "image_pull_policy",
    "jobNamespace": "job_namespace",
    "loadInclusterConfig": "load_incluster_config",
    "kubeconfigFile": "kubeconfig_file",
    "envConfigMaps": "env_config_maps",
    "envSecrets": "env_secrets",
    "envVars": "env_vars",
    "volumeMounts": "volume_mounts",
    "volumes": "volumes",
    "labels": "labels",
    "resources": "resources",
    "failPodOnRunFailure": "fail_pod_on_run_failure",
    "schedulerName": "scheduler_name",
    "securityContext": "security_context",
    "runK8sConfig": "run_k8s_config",
}
HELM_RUN_K8S_CONFIG = {
    "containerConfig": "container_config",
    "podSpecConfig": "pod_spec_config",
    "podTemplateSpecMetadata": "pod_template_spec_metadata",
    "jobSpecConfig": "job_spec_config",
    "jobMetadata": "job_metadata",
}
HELM_POSTGRESQL = {
    "enabled", "image", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
    "postgresqlDatabase", "postgresqlParams", "postgresqlScheme", "service",
}  # fmt: skip
HELM_QUEUED_RUN_COORDINATOR = {
    "maxConcurrentRuns": "max_concurrent_runs",
    "tagConcurrencyLimits": "tag_concurrency_limits",
    "dequeueIntervalSeconds": "dequeue_interval_seconds",
}
HELM_CONCURRENCY_POOLS = {
    "defaultLimit": "default_limit",
    "granularity": "granularity",
    "opGranularityRunBuffer": "op_granularity_run_buffer",
}
HELM_CONCURRENCY_RUNS = {
    "maxConcurrentRuns": "max_concurrent_runs",
    "tagConcurrencyLimits": "tag_concurrency_limits",
}


def renamed(values: Mapping[str, Any], names: Mapping[str, Any], where: str) -> dict:
    unknown = set(values) - set(names)
    assert not unknown, f"{where}: the chart has no {sorted(unknown)}"
    return {names[k]: v for k, v in values.items() if names[k] is not None}


def helm_run_launcher(values: Mapping[str, Any]) -> dict:
    """The K8sRunLauncher config the chart renders from `runLauncher`."""
    section = values["runLauncher"]
    assert section["type"] == "K8sRunLauncher", "runLauncher.type"
    launcher = section["config"]["k8sRunLauncher"]
    config = renamed(launcher, HELM_K8S_RUN_LAUNCHER, "runLauncher.config.k8sRunLauncher")
    for key in ("envConfigMaps", "envSecrets"):
        if key in launcher:
            config[HELM_K8S_RUN_LAUNCHER[key]] = [s["name"] for s in launcher[key]]
    if "runK8sConfig" in launcher:
        config["run_k8s_config"] = renamed(
            launcher["runK8sConfig"], HELM_RUN_K8S_CONFIG, "k8sRunLauncher.runK8sConfig"
        )
    if "image" in launcher:
        config["job_image"] = f"{launcher['image']['repository']}:{launcher['image']['tag']}"
    # What the chart fills in itself: its service account, instance ConfigMap and secret.
    return {
        "service_account_name": "dagster",
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": "dagster-postgresql-secret",
        "dagster_home": "/opt/dagster/dagster_home",
        "job_namespace": "releaf",
        **config,
    }


def helm_postgres_db(values: Mapping[str, Any]) -> dict:
    """The instance storage's `postgres_db` the chart renders from `postgresql`."""
    pg = values["postgresql"]
    unknown = set(pg) - HELM_POSTGRESQL
    assert not unknown, f"postgresql: the chart has no {sorted(unknown)}"
    db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams", {}),
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return db


def helm_instance_yaml(values: Mapping[str, Any]) -> dict:
    """The run queue and the concurrency limits the chart renders into dagster.yaml."""
    out: dict[str, Any] = {}
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    if coordinator["enabled"]:
        assert coordinator["type"] == "QueuedRunCoordinator", "dagsterDaemon.runCoordinator"
        queued = coordinator["config"].get("queuedRunCoordinator") or {}
        out["run_coordinator"] = {"module": "dagster", "class": "QueuedRunCoordinator"}
        config = renamed(queued, HELM_QUEUED_RUN_COORDINATOR, "queuedRunCoordinator")
        if config:
            out["run_coordinator"]["config"] = config
    concurrency = values.get("concurrency", {})
    if concurrency.get("enabled"):
        assert set(concurrency) <= {"enabled", "pools", "runs"}, "concurrency"
        sections = {
            "pools": renamed(concurrency.get("pools", {}), HELM_CONCURRENCY_POOLS, "pools"),
            "runs": renamed(concurrency.get("runs", {}), HELM_CONCURRENCY_RUNS, "runs"),
        }
        # The chart leaves out a section with nothing set.
        out["concurrency"] = {k: v for k, v in sections.items() if v}
    return out


def check_helm_values(block: Block, blocks: list[Block]) -> None:
    values = block.data()
    code = values["dagster-user-deployments"]
    assert code["enabled"]
    for deployment in code["deployments"]:
        assert deployment["dagsterApiGrpcArgs"] == ["-m", MODULE], f"{block}: code location"
        assert {"repository", "tag"} <= set(deployment["image"]), f"{block}: image"
        assert isinstance(deployment["port"], int)
        env = {e["name"]: e["value"] for e in deployment.get("env", [])}
        settings = settings_of(env, block)
        # The pieces as Kubernetes jobs, which only the K8sRunLauncher can start.
        assert settings.executor == "k8s", f"{block}: RELEAF_EXECUTOR {settings.executor}"
        for volume in deployment.get("volumeMounts", []):
            assert volume["name"] in {v["name"] for v in deployment.get("volumes", [])}

    validate_against(K8sRunLauncher.config_type(), helm_run_launcher(values), "run_launcher")
    with environment({"DAGSTER_PG_PASSWORD": "x"}):
        validate_against(
            PostgresRunStorage.config_type(),
            {"postgres_db": helm_postgres_db(values)},
            "storage",
        )
    instance_yaml = helm_instance_yaml(values)
    coordinator = instance_yaml.get("run_coordinator")
    if coordinator:
        validate_against(
            dg.QueuedRunCoordinator.config_type(), coordinator.get("config", {}), "run_coordinator"
        )
    # The run queue and pools as an instance reads them (SQLite storage stands in for the
    # chart's Postgres, which the storage check above covers).
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
        with dg.DagsterInstance.from_config(home) as instance:
            instance.get_concurrency_config()


CHECKS: dict[str, Callable[[Block, list[Block]], None]] = {
    "env": check_env,
    "celery-worker": check_celery_worker,
    "k8s-run-config": check_k8s_run_config,
    "instance": check_instance,
    "helm-values": check_helm_values,
}


def validate_document(text: str) -> list[Block]:
    """Validate every marked block of `text`; raises on the first that does not hold."""
    blocks = config_blocks(text)
    for block in blocks:
        try:
            CHECKS[block.kind](block, blocks)
        except dg.DagsterInvalidConfigError as exc:
            raise AssertionError(f"{block}: {exc}") from exc
    return blocks


# ---- the tests -------------------------------------------------------------------------


def test_every_block_of_the_document_is_marked_and_known():
    text = DOC.read_text(encoding="utf-8")
    blocks = config_blocks(text)
    assert {b.kind for b in blocks} == set(KINDS)
    # Every YAML block is configuration, and so validated.
    assert text.count("```yaml") == sum(b.lang == "yaml" for b in blocks)
    assert text.count("<!-- releaf-config:") == len(blocks)


def test_every_configuration_block_validates():
    blocks = validate_document(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= len(KINDS)


BREAKAGES = [
    pytest.param("max_concurrent: 8", "max_concurrent: eight", id="k8s-executor-type"),
    pytest.param("    max_concurrent: 8", "    max_concurrency: 8", id="k8s-executor-key"),
    pytest.param("task_acks_late: true", "task_acks_late: false", id="celery-settings-differ"),
    pytest.param("    broker:\n      env:", "    brokers:\n      env:", id="celery-key"),
    pytest.param(
        "    instance_config_map: releaf-dagster-instance",
        "    instance_configmap: releaf-dagster-instance",
        id="launcher-key",
    ),
    pytest.param("module: dagster_k8s", "module: dagster_k8", id="launcher-module"),
    pytest.param(
        "loadInclusterConfig: true", "loadInclusterConfig: inside", id="helm-launcher-type"
    ),
    pytest.param(
        "      envSecrets:\n        - name: releaf-env\n\n",
        "      envSecret:\n        - name: releaf-env\n\n",
        id="helm-launcher-key",
    ),
    pytest.param("maxConcurrentRuns: 4", "maxConcurrentRun: 4", id="helm-queue-key"),
    pytest.param("granularity: run", "granularity: runs", id="helm-pool-granularity"),
    pytest.param("port: 5432", "port: fivefour", id="helm-postgres-port"),
    pytest.param("value: k8s", "value: kubernetes", id="helm-executor-setting"),
    pytest.param('["-m", "releaf_pipeline.definitions"]', '["-m", "releaf"]', id="helm-code"),
    pytest.param("\nRELEAF_EXECUTOR=celery", "\nRELEAF_EXECUTOR=celeri", id="env-executor"),
    pytest.param("postgresql+psycopg2://releaf:", "postgresql://releaf:", id="env-store-driver"),
    pytest.param("redis://redis.example.com:6379/1", "amqp://rabbit//", id="env-backend"),
]


@pytest.mark.parametrize(("good", "bad"), BREAKAGES)
def test_a_document_whose_configuration_breaks_fails(good, bad):
    text = DOC.read_text(encoding="utf-8")
    assert text.count(good) >= 1, f"the document no longer holds {good!r}: update this test"
    with pytest.raises((AssertionError, dg.DagsterInvalidConfigError, ValueError, ImportError)):
        validate_document(text.replace(good, bad, 1))


@pytest.mark.postgres
def test_postgres_instance_file_with_the_k8s_run_launcher_loads(home, postgres_server, monkeypatch):
    """`dagster.postgres.yaml` with the document's run launcher block, as the run pods'
    ConfigMap holds it, opens as an instance on Postgres (the launcher itself starts only
    when a run is launched, in the cluster)."""
    [block] = [b for b in config_blocks(DOC.read_text(encoding="utf-8")) if b.kind == "instance"]
    shutil.copy(REPO / "dagster.postgres.yaml", home / "dagster.yaml")
    with (home / "dagster.yaml").open("a", encoding="utf-8") as f:
        f.write("\n" + block.body + "\n")
    db = postgres_server.postgres_db_config(postgres_server.new_database("k8s_instance"))
    for key, name in (("username", "USERNAME"), ("password", "PASSWORD"), ("hostname", "HOST"),
                      ("db_name", "DB"), ("port", "PORT")):  # fmt: skip
        monkeypatch.setenv(f"DAGSTER_PG_{name}", str(db[key]))

    with dg.DagsterInstance.get() as instance:
        assert "Postgres" in type(instance.run_storage).__name__
        launcher = instance.get_ref().run_launcher_data
        assert (launcher.module_name, launcher.class_name) == ("dagster_k8s", "K8sRunLauncher")
        validate_against(K8sRunLauncher.config_type(), launcher.config_dict, "run_launcher")


def test_every_process_and_every_launched_run_gets_the_settings_a_run_uses():
    text = DOC.read_text(encoding="utf-8")
    (first, *_) = [b for b in config_blocks(text) if b.kind == "env"]
    needed = {
        "DAGSTER_HOME", "RELEAF_DATABASE_URL", "RELEAF_SECRET_KEY", "RELEAF_PARTITIONS_START",
        "RELEAF_NIGHTLY_CRON", "RELEAF_CATCHUP_LOOKBACK_DAYS", "RELEAF_CERTIFICATE_GRACE_DAYS",
        "RELEAF_RUN_MAX_SECONDS",
    }  # fmt: skip
    assert needed <= set(env_values(first)), "section 1's file lacks a setting a run uses"
    # A systemd EnvironmentFile: one NAME=value a line, no shell.
    lines = [ln for ln in first.body.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert all(re.fullmatch(r"\s*[A-Z_]+=('[^']*'|\S+)", ln) for ln in lines), lines
    # Both launchers and the user code deployment take their environment from that file.
    assert "--from-env-file=/etc/releaf/releaf.env" in text
    assert text.count("- name: releaf-env") == 2 and "      - releaf-env" in text
