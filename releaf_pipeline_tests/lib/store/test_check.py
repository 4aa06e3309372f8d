"""The store's own integrity check."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import sqlalchemy as sa

from releaf_pipeline.lib.store.check import check_store
from releaf_pipeline.lib.store.engine import inspect_engine, make_engine


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


def test_a_dropped_table_and_a_changed_table_are_each_named(store_url):
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE deposits"))
        conn.execute(sa.text("DROP INDEX ix_health_events_subject"))
        conn.execute(sa.text("ALTER TABLE feeds ADD COLUMN stray TEXT"))
    result = check_store(engine)
    assert not result.ok
    assert sorted(result.problems) == [
        "schema: column feeds.stray is not in the newest migration",
        "schema: index ix_health_events_subject on health_events(subject, subject_id) is missing",
        "schema: table deposits is missing",
    ]
    engine.dispose()


@pytest.mark.postgres
def test_amcheck_the_role_may_not_call_is_not_checked_rather_than_damage(pg_url):
    engine = make_engine(pg_url)
    role = f"checker_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION amcheck"))
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
        conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    engine.dispose()
    as_role = sa.engine.make_url(pg_url).set(username=role, password="pw")
    checker = inspect_engine(as_role.render_as_string(hide_password=False))
    try:
        result = check_store(checker)
    finally:
        checker.dispose()
    assert result.ok, result.problems
    (line,) = result.not_checked
    assert line.startswith("indexes (the role may not call bt_index_check: GRANT EXECUTE")
    assert role in line
    # Granted, the indexes are checked and found sound.
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"GRANT EXECUTE ON FUNCTION bt_index_check(regclass) TO {role}"))
    engine.dispose()
    checker = inspect_engine(as_role.render_as_string(hide_password=False))
    try:
        result = check_store(checker)
    finally:
        checker.dispose()
    assert result.ok and not result.not_checked
    assert "amcheck bt_index_check on every index" in result.checks
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP OWNED BY {role}"))
        conn.execute(sa.text(f"DROP ROLE {role}"))
    engine.dispose()
