"""Where the pipeline keeps its files when no setting says otherwise."""

from __future__ import annotations

import os
from datetime import UTC, datetime
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


NOW_ENV = "RELEAF_NOW"


def current_time() -> datetime:
    """Now, in UTC: the wall clock, or `RELEAF_NOW` (ISO 8601) to replay or test a moment."""
    raw = os.environ.get(NOW_ENV, "").strip()
    if not raw:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{NOW_ENV} must be an ISO date-time, got {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
