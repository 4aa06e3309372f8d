"""Where the pipeline keeps its files when no setting says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".releaf"


def releaf_home() -> Path:
    """`DAGSTER_HOME` when set, else `./.releaf`: the store, key and instance live there."""
    value = os.environ.get("DAGSTER_HOME", "").strip()
    return Path(value) if value else Path.cwd() / DEFAULT_HOME


def default_database_url(home: Path | None = None) -> str:
    """`RELEAF_DATABASE_URL` when set, else SQLite at `<home>/releaf.db`."""
    url = os.environ.get("RELEAF_DATABASE_URL", "").strip()
    if url:
        return url
    base = (home or releaf_home()).resolve()
    return f"sqlite:///{base / 'releaf.db'}"
