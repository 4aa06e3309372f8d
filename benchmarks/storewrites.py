"""What a run wrote to a SQLite store: rows inserted, updated and deleted per table, and
how the database file grew.

`snapshot` reads every row of every table (by rowid, a hash of its values) and the
database's size once its write-ahead log is checkpointed into it; `written` compares two
snapshots. The benchmark runner reads the file with the standard library's sqlite3, with
no process using it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Snapshot:
    """A store's rows (table -> rowid -> hash of the row) and sizes in bytes."""

    rows: dict[str, dict[int, int]] = field(default_factory=dict)
    bytes: int = 0
    """page_count x page_size after a checkpoint: the database file, free pages included."""
    free_bytes: int = 0
    table_bytes: dict[str, int] = field(default_factory=dict)
    """Pages of each table and its indexes (SQLite's dbstat), when SQLite has dbstat."""


def snapshot(db: Path) -> Snapshot:
    """Every row of every table of the SQLite database `db`, and its size."""
    out = Snapshot()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            out.rows[table] = {
                row[0]: hash(row[1:]) for row in conn.execute(f'SELECT rowid, * FROM "{table}"')
            }
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        out.bytes = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        out.free_bytes = conn.execute("PRAGMA freelist_count").fetchone()[0] * page_size
        try:
            owners = dict(
                conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
            )
            for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                table = owners.get(name, name)
                out.table_bytes[table] = out.table_bytes.get(table, 0) + size
        except sqlite3.OperationalError:
            pass  # SQLite built without dbstat: the file's size only
    return out


def written(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Rows inserted, updated and deleted per table between two snapshots, their totals,
    and how the database grew."""
    tables: dict[str, dict[str, int]] = {}
    for table in sorted(set(before.rows) | set(after.rows)):
        old, new = before.rows.get(table, {}), after.rows.get(table, {})
        inserted = sum(1 for k in new if k not in old)
        deleted = sum(1 for k in old if k not in new)
        updated = sum(1 for k, v in new.items() if k in old and old[k] != v)
        if inserted or deleted or updated:
            tables[table] = {
                "rows_before": len(old),
                "rows_after": len(new),
                "inserted": inserted,
                "updated": updated,
                "deleted": deleted,
                "bytes_grown": after.table_bytes.get(table, 0) - before.table_bytes.get(table, 0),
            }
    return {
        "tables": tables,
        "rows_inserted": sum(t["inserted"] for t in tables.values()),
        "rows_updated": sum(t["updated"] for t in tables.values()),
        "rows_deleted": sum(t["deleted"] for t in tables.values()),
        "bytes_before": before.bytes,
        "bytes_after": after.bytes,
        "bytes_grown": after.bytes - before.bytes,
        "used_bytes_grown": (after.bytes - after.free_bytes) - (before.bytes - before.free_bytes),
        "how": "every row of every table read by rowid before and after the night (a row "
        "whose values changed is an update); bytes are page_count x page_size after "
        "checkpointing the write-ahead log, used bytes leave out the free pages, and a "
        "table's bytes are its and its indexes' pages (dbstat)",
    }
