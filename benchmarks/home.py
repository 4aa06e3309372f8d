"""A scenario's DAGSTER_HOME and the environment the `releaf` command runs in there: the
settings it must not inherit scrubbed, the clock (`RELEAF_NOW`) and the concurrency."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.conditions import REPO, SCRUBBED, TOKEN


def default_concurrency() -> int:
    """The per-server concurrency the pipeline uses when nothing is set."""
    from releaf_pipeline.settings import read_settings

    env = {k: v for k, v in os.environ.items() if k != "RELEAF_CONCURRENCY_PER_SERVER"}
    return read_settings(env).concurrency_per_server


class Home:
    """A fresh DAGSTER_HOME (instance, store, key) for one scenario. Its instance is the
    one `releaf` writes for a home that has none: runs launched at once by the default run
    launcher (a code server, a process per run), as on an operator's machine with no
    daemon."""

    def __init__(self, path: Path) -> None:
        from releaf_pipeline.launch import DEFAULT_INSTANCE_YAML

        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        (path / "dagster.yaml").write_text(DEFAULT_INSTANCE_YAML)

    def copy(self, path: Path) -> Home:
        """A copy of this home as it is now (no process may be using it)."""
        shutil.copytree(self.path, path)
        return Home(path)

    def env(
        self,
        *,
        now: datetime | None = None,
        concurrency: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of a `releaf` command in this home; `settings` are more
        `RELEAF_*` variables (the executor, its workers, the piece size)."""
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env["DAGSTER_HOME"] = str(self.path)
        env["RELEAF_DEALER_TOKEN"] = TOKEN
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        if now is not None:
            env["RELEAF_NOW"] = now.isoformat()
        if concurrency is not None:
            env["RELEAF_CONCURRENCY_PER_SERVER"] = str(concurrency)
        env.update(settings or {})
        return env


def morning_after(day: date) -> datetime:
    """02:00 UTC the day after `day`: when the nightly schedule collects `day`."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC).replace(hour=2)
