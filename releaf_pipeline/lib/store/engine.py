"""Connecting to the store: SQLite by default, any SQLAlchemy URL (Postgres) by setting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from releaf_pipeline.lib.store.migrate import upgrade


class StoreError(RuntimeError):
    """The store cannot be opened or a write was refused; the message says what to do."""


def make_engine(url: str) -> Engine:
    """An engine for `url` with the schema migrated to the newest revision.

    SQLite gets WAL and a busy time-out so the Dagster daemon, the webserver and the CLI
    can share one file without "database is locked" failures.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from the driver (which would run DDL outside any
            # transaction) so that migrations and writes are atomic.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front: a transaction that reads and then
            # writes waits its turn (busy time-out) instead of failing as "locked" when
            # another process wrote in between, as a deferred one would.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        upgrade(engine)
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot open the store at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}. Check RELEAF_DATABASE_URL and that the database is running."
        ) from None
    return engine


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Iterable[str],
) -> None:
    """Insert rows, replacing the non-key columns of rows whose keys already exist."""
    if not rows:
        return
    keys = list(keys)
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - only SQLite and Postgres are supported
        raise StoreError(f"unsupported database dialect {dialect!r}: use SQLite or PostgreSQL")
    stmt = insert(table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    stmt = (
        stmt.on_conflict_do_update(index_elements=keys, set_=update)
        if update
        else stmt.on_conflict_do_nothing(index_elements=keys)
    )
    execute_many(conn, stmt, rows)


def execute_many(conn: Connection, stmt: sa.Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute `stmt` once for each row of parameters, all with the same keys.

    On SQLite the rows go straight to the driver's executemany, each value bound by its
    column type's own processing: SQLAlchemy's per-row parameter handling would otherwise
    cost as much as SQLite's writes when a night touches every feed. Elsewhere (Postgres)
    SQLAlchemy batches the rows itself.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, list(rows))
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    names = list(compiled.positiontup or ())
    if not set(names) <= rows[0].keys():
        # Column defaults to fill in: SQLAlchemy's own path knows them.
        conn.execute(stmt, list(rows))
        return
    dialect = conn.dialect
    processors = [
        compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names
    ]
    columns = []
    for name, proc in zip(names, processors, strict=True):
        values = [row[name] for row in rows]
        if proc is not None:
            # A night's rows share a handful of dates and one timestamp: bind each once.
            bound: dict[Any, Any] = {}
            values = [
                None if v is None else bound[v] if v in bound else bound.setdefault(v, proc(v))
                for v in values
            ]
        columns.append(values)
    conn.exec_driver_sql(compiled.string, list(zip(*columns, strict=True)))
