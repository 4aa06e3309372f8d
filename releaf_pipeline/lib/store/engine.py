"""Connecting to the store: SQLite by default, any SQLAlchemy URL (Postgres) by setting."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.lib.store.migrate import current_revision, upgrade


class StoreError(ReleafError, RuntimeError):
    """The store cannot be opened or a write was refused; the message says what to do."""


Db = Engine | Connection
"""Where a store function works: an engine (the function is its own transaction), or a
connection in the caller's transaction, so that several functions commit together."""

_WRITES = "releaf_writes"


@contextlib.contextmanager
def writing(db: Db) -> Iterator[Connection]:
    """A connection in a transaction that writes: the caller's, or a new one committed when
    the block ends (rolled back if it raises). On SQLite it takes the write lock at once."""
    if isinstance(db, Connection):
        yield db
        return
    with db.connect() as conn:
        conn.execution_options(**{_WRITES: True})
        with conn.begin():
            yield conn


@contextlib.contextmanager
def reading(db: Db) -> Iterator[Connection]:
    """A connection that only reads: the caller's, or a new one whose snapshot takes no
    lock, so the UI, sensors and commands never queue behind the night's writer."""
    if isinstance(db, Connection):
        yield db
        return
    with db.connect() as conn:
        yield conn


def make_engine(url: str, *, may_create: Callable[[], bool] | None = None) -> Engine:
    """An engine for `url` with the schema migrated to the newest revision.

    SQLite gets WAL and a busy time-out so the Dagster daemon, the webserver and the CLI
    can share one file without "database is locked" failures. A store with no schema at
    all is created, unless `may_create` says no: then it is refused (a store truncated or
    swapped for an empty one must not start over as a new one).
    """
    if may_create is not None and _empty_sqlite_file(url) and not may_create():
        # Refused before connecting: even opening the file would write a header into it.
        raise _truncated(url)
    engine = _create(url)
    if engine.dialect.name == "sqlite":

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
            # A writer takes the write lock up front (IMMEDIATE): a transaction that reads
            # and then writes waits its turn (busy time-out) instead of failing as "locked"
            # when another process wrote in between. Readers take none.
            writes = conn.get_execution_options().get(_WRITES)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    try:
        if may_create is not None and current_revision(engine) is None and not may_create():
            engine.dispose()
            raise _truncated(engine.url.render_as_string(hide_password=True))
        upgrade(engine)
    except sa.exc.DatabaseError as exc:
        raise store_failure(exc, engine, doing="open") from None
    return engine


def store_failure(
    exc: sa.exc.DBAPIError, engine: Engine | None = None, *, doing: str = "use"
) -> StoreError:
    """The one line for a failure of the database itself (a full disk, a damaged file, a
    server gone), naming the store when `engine` is known and what was being done."""
    why = " ".join(str(exc.orig).split())
    if engine is None:
        if type(exc.orig).__module__.startswith("sqlite3"):
            return StoreError(
                f"the SQLite store failed: {why}; check that its disk has space and its file "
                "is writable, and restore a damaged file from a backup (`releaf db check`)"
            )
        return StoreError(
            f"the store failed: {why}; check RELEAF_DATABASE_URL and that the database is "
            "running (`releaf db check`)"
        )
    if engine.dialect.name == "sqlite":
        return StoreError(
            f"cannot {doing} the SQLite store {engine.url.database}: {why}; the disk must "
            "have space, the file and its directory be writable, and a damaged file be "
            "restored from a backup (`releaf db check` says which)"
        )
    return StoreError(
        f"cannot {doing} the store at {engine.url.render_as_string(hide_password=True)}: "
        f"{why}; check RELEAF_DATABASE_URL and that the database is running"
    )


def inspect_engine(url: str) -> Engine:
    """An engine for the store at `url` as it is: no schema created or migrated, nothing
    written, for checking a store that may be damaged. StoreError for a bad URL, and for
    a SQLite file that is not there (connecting would create it)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists() and not path.is_symlink():
            raise StoreError(
                f"there is no store at {path}: check DAGSTER_HOME (or RELEAF_DATABASE_URL); "
                "a store lost from there is restored from a backup, and a new one is made "
                "by `releaf db upgrade`"
            )
    return _create(url)


def _empty_sqlite_file(url: str) -> bool:
    if not url.startswith("sqlite:///"):
        return False
    path = Path(url.removeprefix("sqlite:///"))
    return path.is_file() and path.stat().st_size == 0


def _truncated(where: str) -> StoreError:
    if where.startswith("sqlite:///"):
        where = where.removeprefix("sqlite:///")
    return StoreError(
        f"the store {where} has no schema, but this Dagster instance has runs: it was "
        "truncated or replaced; restore it from a backup, or point RELEAF_DATABASE_URL at "
        "the pipeline's database"
    )


def _create(url: str) -> Engine:
    """The engine for `url`, or a StoreError saying what is wrong with it (never the URL
    itself, which may hold a password)."""
    try:
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if path.is_dir():
                raise StoreError(
                    f"the store {path} is a directory: point RELEAF_DATABASE_URL (or "
                    "DAGSTER_HOME) at a file"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"the store's directory {path.parent} cannot be made "
                    f"({exc.strerror or type(exc).__name__}): make it (or DAGSTER_HOME) a "
                    "writable directory, or point RELEAF_DATABASE_URL elsewhere"
                ) from None
            return sa.create_engine(url, connect_args={"timeout": 60})
        return sa.create_engine(url, pool_pre_ping=True)
    except sa.exc.ArgumentError:
        raise StoreError(
            "RELEAF_DATABASE_URL is not a database URL: write sqlite:///PATH or "
            "postgresql+psycopg2://USER:PASSWORD@HOST/DB"
        ) from None
    except sa.exc.NoSuchModuleError:
        raise StoreError(
            "RELEAF_DATABASE_URL names a database this installation cannot use: use "
            "sqlite:///PATH or postgresql+psycopg2://USER:PASSWORD@HOST/DB"
        ) from None
    except ImportError as exc:
        raise StoreError(
            f"RELEAF_DATABASE_URL needs the Python driver {exc.name or 'for its database'}, "
            "which is not installed: use postgresql+psycopg2:// (installed with Dagster's "
            "Postgres support) or install the driver"
        ) from None


Rows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
"""Parameter sets: a sequence of rows, or columns of equal length by name."""


def _columns(rows: Rows) -> dict[str, list[Any]]:
    if isinstance(rows, Mapping):
        return {name: list(values) for name, values in rows.items()}
    names = list(rows[0]) if rows else []
    return {name: [row[name] for row in rows] for name in names}


def _empty(rows: Rows) -> bool:
    if isinstance(rows, Mapping):
        return not rows or not len(next(iter(rows.values())))
    return not rows


def upsert(conn: Connection, table: sa.Table, rows: Rows, keys: Iterable[str]) -> None:
    """Insert rows, replacing the non-key columns of rows whose keys already exist."""
    if _empty(rows):
        return
    columns = _columns(rows)
    stmt, compiled = _upsert_statement(conn.dialect, table, tuple(columns), tuple(keys))
    _execute_compiled(conn, stmt, compiled, columns)


@functools.lru_cache(maxsize=256)
def _upsert_statement(
    dialect: sa.Dialect, table: sa.Table, names: tuple[str, ...], keys: tuple[str, ...]
) -> tuple[sa.Executable, sa.Compiled]:
    # Built and compiled once per table and set of columns: a night upserts a thousand
    # feeds' rows, and compiling the statement each time cost more than writing them.
    if dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - only SQLite and Postgres are supported
        raise StoreError(f"unsupported database dialect {dialect.name!r}: use SQLite or PostgreSQL")
    stmt = insert(table)
    update = {c: stmt.excluded[c] for c in names if c not in keys}
    stmt = (
        stmt.on_conflict_do_update(index_elements=list(keys), set_=update)
        if update
        else stmt.on_conflict_do_nothing(index_elements=list(keys))
    )
    return stmt, stmt.compile(dialect=dialect, column_keys=list(names))


def execute_many(conn: Connection, stmt: sa.Executable, rows: Rows) -> None:
    """Execute `stmt` once for each set of parameters (rows, or columns by name).

    On SQLite the values go straight to the driver's executemany, each bound by its
    column type's own processing: SQLAlchemy's per-row parameter handling would otherwise
    cost as much as SQLite's writes when a night touches every feed. Elsewhere (Postgres)
    SQLAlchemy batches the rows itself.
    """
    if _empty(rows):
        return
    columns = _columns(rows)
    _execute_compiled(conn, stmt, _compiled(conn.dialect, stmt, tuple(columns)), columns)


@functools.lru_cache(maxsize=256)
def _compiled(dialect: sa.Dialect, stmt: sa.Executable, names: tuple[str, ...]) -> sa.Compiled:
    # A statement kept in a module (one per kind of write) is compiled once per store.
    return stmt.compile(dialect=dialect, column_keys=list(names))


def _execute_compiled(
    conn: Connection, stmt: sa.Executable, compiled: sa.Compiled, columns: dict[str, list[Any]]
) -> None:
    names = list(compiled.positiontup or ())
    if conn.dialect.name != "sqlite" or not set(names) <= columns.keys():
        # Postgres, or column defaults to fill in: SQLAlchemy's own path.
        count = len(next(iter(columns.values())))
        conn.execute(stmt, [{k: v[i] for k, v in columns.items()} for i in range(count)])
        return
    dialect = conn.dialect
    bound_columns = []
    for name in names:
        values = columns[name]
        proc = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            # A night's rows share a handful of dates and one timestamp: bind each once.
            done: dict[Any, Any] = {}
            values = [
                None if v is None else done[v] if v in done else done.setdefault(v, proc(v))
                for v in values
            ]
        bound_columns.append(values)
    conn.exec_driver_sql(compiled.string, list(zip(*bound_columns, strict=True)))
