"""The migrations build exactly the schema the models describe, on SQLite and Postgres."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.migrate import current_revision, head_revision, upgrade
from releaf_pipeline.lib.store.tables import metadata


def test_migrations_match_the_models(store_url):
    engine = make_engine(store_url)  # applies every migration on first use
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []


def test_upgrade_is_stepwise_and_idempotent(store_url):
    engine = sa.create_engine(store_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    columns = {c["name"] for c in sa.inspect(engine).get_columns("anomalies")}
    assert "detail" not in columns
    assert upgrade(engine) is True
    assert "detail" in {c["name"] for c in sa.inspect(engine).get_columns("anomalies")}
    assert upgrade(engine) is False
    engine.dispose()


def test_releaf_db_upgrade(home, releaf):
    r = releaf("db", "upgrade")
    assert r.code == 0 and head_revision() in r.out
    r = releaf("db", "upgrade")
    assert r.code == 0 and "newest schema" in r.out


def test_the_head_revision_known_to_the_code_is_the_scripts_newest():
    from releaf_pipeline.lib.store.migrate import HEAD_REVISION

    assert head_revision() == HEAD_REVISION
