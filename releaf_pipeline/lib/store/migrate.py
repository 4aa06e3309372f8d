"""Schema migrations (Alembic), applied automatically when the store is opened.

Alembic itself is imported only when a migration has to run: a store already at the
newest schema is recognised with one query, which keeps every command's start-up short.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_263_001
HEAD_REVISION = "0016"
"""The newest migration's revision (a test holds it to the migration scripts)."""


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration, as the migration scripts say."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Bring the schema to `revision`; returns True when a migration ran."""
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return False
    from alembic import command

    cfg = _config()
    with engine.begin() as conn:
        # Processes starting together must not migrate at once: Postgres serialises them
        # on an advisory lock, SQLite on the write lock its transactions take up front.
        # The second then finds the schema current and does nothing.
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return True
