"""Where a run's steps execute, chosen by `RELEAF_EXECUTOR` when the code location loads.

The night's pieces are steps: `in_process` runs them one after another in the run's
process; `multiprocess` runs up to `RELEAF_WORKERS` at once, each in a process of its
own; `celery` sends each to a Celery worker through the broker (`dagster-celery`, the
workers started with `dagster-celery worker start`); `k8s` runs each in a Kubernetes
job (`dagster-k8s`). Every process that loads the code (daemon, webserver, code server,
workers) must see the same value.
"""

from __future__ import annotations

import dagster as dg

from releaf_pipeline.settings import Settings, SettingsError

CELERY_WORKER_SETTINGS = {
    # A task is acknowledged once it has run, not when a worker takes it, and given back
    # to the broker when its worker dies: a worker killed mid-piece leaves the piece to
    # another worker instead of losing it.
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    # One task at a time per worker process: a piece is minutes of work, not milliseconds.
    "worker_prefetch_multiplier": 1,
    "broker_transport_options": {
        # dagster-celery's own: sending a task gives up after 3 quick retries.
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
        # Redis cannot tell that a worker died: a task it took goes to another worker once
        # it has been unacknowledged this long. Longer than the longest piece (minutes),
        # or a piece still running would be handed out twice.
        "visibility_timeout": 1800,
    },
}
"""Celery settings the executor and its workers share (`dagster-celery worker start
-y` takes them as `config_source`)."""


def executor_from_settings(settings: Settings) -> dg.ExecutorDefinition:
    """The executor `settings.executor` names, configured from the settings."""
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor.configured(
            {"max_concurrent": settings.workers}, name="multiprocess"
        )
    if settings.executor == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError:
            raise SettingsError(
                "RELEAF_EXECUTOR=celery needs dagster-celery: pip install 'releaf-pipeline[celery]'"
            ) from None
        return celery_executor.configured(
            {
                "broker": settings.celery_broker.get_secret_value(),
                "backend": settings.celery_backend.get_secret_value(),
                "config_source": CELERY_WORKER_SETTINGS,
            },
            name="celery",
        )
    if settings.executor == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise SettingsError(
                "RELEAF_EXECUTOR=k8s needs dagster-k8s: pip install 'releaf-pipeline[k8s]'"
            ) from None
        return k8s_job_executor
    # A run's steps share its process: each step in a process of its own would load the
    # code location again, seconds for steps that take milliseconds.
    return dg.in_process_executor
