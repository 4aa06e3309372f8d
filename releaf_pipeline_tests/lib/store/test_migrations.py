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


def test_failures_recorded_before_their_kind_had_a_column_get_it_from_their_reason(store_url):
    from datetime import UTC, date, datetime

    from cryptography.fernet import Fernet

    from releaf_pipeline.lib.secrets import TokenCipher
    from releaf_pipeline.lib.store.feed_registration import add_feeds
    from releaf_pipeline.lib.store.registry import FeedSpec, add_server, list_feeds

    now, day = datetime(2026, 10, 1, tzinfo=UTC), date(2026, 10, 1)
    engine = sa.create_engine(store_url)
    upgrade(engine, "0015")
    add_server(engine, TokenCipher(Fernet.generate_key()), name="s", url="https://x",
               token="t", ca_bundle_pem=None, dealer_code="D", now=now)  # fmt: skip
    add_feeds(engine, [FeedSpec("s", "C", "a", day, "all")], now=now)
    (feed,) = list_feeds(engine)
    rows = [
        ("failed", "customer_not_found: customer C is not known"),
        ("failed", "internal error (KeyError): 'x'"),
        ("paused", "server s failed its health check (timeout): no answer"),
        ("collected", None),
    ]
    with engine.begin() as conn:
        for i, (status, reason) in enumerate(rows, start=1):
            conn.execute(
                sa.text(
                    "INSERT INTO feed_days (feed_id, day, status, reason, updated_at) "
                    "VALUES (:feed, :day, :status, :reason, :now)"
                ),
                {"feed": feed.id, "day": date(2026, 10, i), "status": status,
                 "reason": reason, "now": now},
            )  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT failure_kind FROM feed_days ORDER BY day")).all()
    engine.dispose()
    assert [k for (k,) in kinds] == ["customer_not_found", "internal", None, None]
