"""Celery workers for the tests, started Dagster's way: `dagster-celery worker start`.

Each worker stands for a host: a process group of its own (the dagster-celery command,
the Celery worker it runs and its pool process), with a DAGSTER_HOME of its own, so that
nothing reaches it but the broker, the store and the Dagster instance the run names.
`kill` ends one as a host dies (SIGKILL to the whole group: nothing is given back to the
broker); `stop` ends every one still running, also when the test failed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from releaf_pipeline.defs.executors import CELERY_WORKER_SETTINGS
from releaf_pipeline_tests.e2e.runs import exe

READY_SECONDS = 120
STOP_SECONDS = 15
APP = "dagster_celery.app"


def worker_config(
    broker: str, backend: str, transport_options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The workers' config file: the celery executor's config block (`execution: config:`)
    with the broker, the result backend and the executor's own Celery settings, with
    `transport_options` over its broker transport options."""
    settings: dict[str, Any] = dict(CELERY_WORKER_SETTINGS)
    if transport_options:
        settings["broker_transport_options"] = {
            **settings["broker_transport_options"],
            **transport_options,
        }
    return {
        "execution": {"config": {"broker": broker, "backend": backend, "config_source": settings}}
    }


class CeleryWorkers:
    """`count` Celery workers named host1, host2, ..., one task at a time each."""

    def __init__(
        self,
        root: Path,
        config: Mapping[str, Any],
        env: Mapping[str, str],
        count: int = 3,
    ) -> None:
        self.root = root
        self.config_file = root / "celery.yaml"
        self.env = dict(env)
        self.names = [f"host{i + 1}" for i in range(count)]
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        root.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(dict(config)))

    def __enter__(self) -> CeleryWorkers:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        self.stop()

    def log(self, name: str) -> str:
        """What worker `name` has logged so far."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start every worker and wait until each says it is ready to take tasks."""
        command = exe("dagster-celery")
        # It runs `celery` from PATH: this virtualenv's, as on a host where it is activated.
        path = os.pathsep.join([str(Path(command).parent), os.environ.get("PATH", "")])
        for name in self.names:
            home = self.root / name
            home.mkdir(exist_ok=True)
            with (self.root / f"{name}.log").open("wb") as log:
                self._processes[name] = subprocess.Popen(
                    [command, "worker", "start", "-A", APP, "-y", str(self.config_file),
                     "-n", name, "--", "--concurrency", "1", "--without-gossip",
                     "--without-mingle"],
                    env={**os.environ, **self.env, "DAGSTER_HOME": str(home), "PATH": path},
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
        deadline = time.monotonic() + READY_SECONDS
        waiting = set(self.names)
        while waiting:
            for name in sorted(waiting):
                if re.search(rf"{name}@\S+ ready\.", self.log(name)):
                    waiting.discard(name)
                elif self._processes[name].poll() is not None:
                    raise RuntimeError(f"Celery worker {name} exited:\n{self.log(name)[-3000:]}")
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"Celery workers {sorted(waiting)} not ready in time")
            time.sleep(0.2)

    def pids(self, name: str) -> set[int]:
        """The processes of worker `name` (its group): the command, Celery and its pool."""
        group = self._processes[name].pid
        out = subprocess.run(
            ["ps", "-o", "pid=", "-g", str(group)], capture_output=True, text=True, check=False
        ).stdout
        return {int(p) for p in out.split()}

    def kill(self, name: str) -> None:
        """Kill worker `name` outright, as its host dying would (SIGKILL to its group)."""
        process = self._processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """Stop every worker still running: SIGTERM, then SIGKILL for any that lingers."""
        for process in self._processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The pool process may outlive its parent: the whole group goes.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
