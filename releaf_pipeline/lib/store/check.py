"""The store checked by its own database: structure, foreign keys, indexes, and its schema
compared with the newest migration's."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.store.migrate import HEAD_REVISION, current_revision
from releaf_pipeline.lib.store.tables import metadata

# Postgres' SQLSTATE for "permission denied".
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class StoreCheck:
    """What the database said about the store."""

    database: str
    revision: str | None
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    """The checks that ran, for the report."""
    not_checked: list[str] = field(default_factory=list)
    """What could not be checked, and why: not a problem found."""

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
        if result.revision == HEAD_REVISION:
            # Behind or ahead, the differences are the migrations' and `db upgrade` is the
            # answer already given; at the newest revision each one is damage.
            result.checks.append(f"schema against migration {HEAD_REVISION}")
            result.problems += schema_differences(conn)
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
            if getattr(exc.orig, "pgcode", None) == INSUFFICIENT_PRIVILEGE:
                # amcheck is revoked from PUBLIC when installed: a role not granted it
                # learns nothing about the indexes, which is not damage.
                role = conn.execute(sa.text("SELECT current_user")).scalar()
                result.checks.pop()
                result.not_checked.append(
                    "indexes (the role may not call bt_index_check: GRANT EXECUTE ON "
                    f"FUNCTION bt_index_check(regclass) TO {role})"
                )
                return
            result.problems.append(f"index {name}: {' '.join(str(exc.orig).split())}")


def schema_differences(conn: sa.Connection) -> list[str]:
    """One line per difference between the store's tables, columns, indexes and
    constraints and those of the newest migration (`tables.py`), as Alembic's
    autogenerate sees them. Tables the migrations do not know are left alone: the store
    may share its database with others (Dagster's own)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs = compare_metadata(context, metadata)
    missing = {d[1].name for d in diffs if isinstance(d, tuple) and d[0] == "add_table"}
    lines = []
    for diff in diffs:
        # Column changes come as lists of tuples, one list per column.
        for change in diff if isinstance(diff, list) else [diff]:
            line = _describe(change, missing)
            if line:
                lines.append(f"schema: {line}")
    return lines


def _describe(change: tuple, missing_tables: set[str]) -> str | None:
    kind = change[0]
    if kind == "add_table":
        return f"table {change[1].name} is missing"
    if kind == "remove_table":
        return None
    if kind in ("add_column", "remove_column"):
        _, _, table, column = change
        state = "is missing" if kind == "add_column" else "is not in the newest migration"
        return f"column {table}.{column.name} {state}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        item = change[1]
        table = item.table.name
        if table in missing_tables:
            return None  # said with its table
        what = "index" if "index" in kind else "constraint"
        columns = ", ".join(c.name for c in item.columns)
        state = "is missing" if kind.startswith("add") else "is not in the newest migration"
        return f"{what} {item.name or ''} on {table}({columns}) {state}".replace("  ", " ")
    if kind in ("add_fk", "remove_fk"):
        fk = change[1]
        table = fk.table.name
        if table in missing_tables:
            return None
        columns = ", ".join(c.name for c in fk.columns)
        state = "is missing" if kind == "add_fk" else "is not in the newest migration"
        return f"foreign key {table}({columns}) -> {fk.referred_table.name} {state}"
    if kind == "modify_type":
        _, _, table, column, _, found, wanted = change
        return f"column {table}.{column} is {found}, not {wanted}"
    if kind == "modify_nullable":
        _, _, table, column, _, found, _ = change
        allowed = "allows" if found else "does not allow"
        return f"column {table}.{column} {allowed} NULL, unlike the newest migration"
    if kind in ("modify_default", "modify_comment"):
        return None  # neither changes what is stored
    return " ".join(str(part) for part in change)
