"""The store's own integrity check."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from releaf_pipeline.lib.store.check import check_store
from releaf_pipeline.lib.store.engine import make_engine


def test_a_sound_store_passes(store_url):
    engine = make_engine(store_url)
    result = check_store(engine)
    assert result.ok, result.problems
    assert result.checks
    engine.dispose()


def test_broken_references_and_an_old_schema_are_named(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    # A feed pointing at a server that is not there, written around the foreign keys.
    raw = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute(
        "INSERT INTO feeds (server_id, customer_code, customer_key, account, activation_date, "
        "scope, created_at, inputs_version) VALUES (42, 'C', 'c', 'a', '2026-09-01', 'all', "
        "'2026-09-01 00:00:00', 0)"
    )
    raw.execute("UPDATE alembic_version SET version_num = '0001'")
    raw.close()
    result = check_store(engine)
    assert not result.ok
    assert any("feeds row" in p and "missing servers row" in p for p in result.problems)
    assert any("releaf db upgrade" in p for p in result.problems)
    assert sa.inspect(engine).has_table("feeds")
    engine.dispose()
