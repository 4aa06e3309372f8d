"""The store checked by its own database: structure, foreign keys, schema revision."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.store.migrate import HEAD_REVISION, current_revision


@dataclass
class StoreCheck:
    """What the database said about the store."""

    database: str
    revision: str | None
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    """The checks that ran, for the report."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def check_store(engine: Engine) -> StoreCheck:
    """Run the database's own integrity checks on the store and compare its schema with
    the newest migration."""
    try:
        return _check(engine)
    except sa.exc.DatabaseError as exc:
        # Damage that stops the database from reading its own pages: that is the finding.
        result = StoreCheck(engine.dialect.name, None, checks=["opening the store"])
        result.problems.append(f"unreadable: {' '.join(str(exc.orig).split())}")
        return result


def _check(engine: Engine) -> StoreCheck:
    result = StoreCheck(engine.dialect.name, current_revision(engine))
    if result.revision != HEAD_REVISION:
        result.problems.append(
            f"the schema is at revision {result.revision}, not {HEAD_REVISION}: run "
            "`releaf db upgrade`"
        )
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            result.checks.append("PRAGMA integrity_check")
            found = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            result.problems += [f"integrity: {line}" for line in found if line != "ok"]
            result.checks.append("PRAGMA foreign_key_check")
            for table, rowid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                result.problems.append(f"{table} row {rowid} points at a missing {parent} row")
        elif engine.dialect.name == "postgresql":
            _check_postgres(conn, result)
    return result


def _check_postgres(conn: sa.Connection, result: StoreCheck) -> None:
    # amcheck verifies every B-tree index of the store's tables against their rows; it is
    # a contrib extension a superuser may not have installed, which the report says.
    has_amcheck = conn.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'")
    ).first()
    if not has_amcheck:
        result.checks.append("amcheck not installed (CREATE EXTENSION amcheck to check indexes)")
        return
    result.checks.append("amcheck bt_index_check on every index")
    indexes = conn.execute(
        sa.text(
            "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam "
            "WHERE n.nspname = current_schema() AND a.amname = 'btree'"
        )
    ).all()
    for oid, name in indexes:
        try:
            with conn.begin_nested():
                conn.execute(sa.text("SELECT bt_index_check(:oid)"), {"oid": oid})
        except sa.exc.DatabaseError as exc:
            result.problems.append(f"index {name}: {' '.join(str(exc.orig).split())}")
