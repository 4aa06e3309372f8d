"""The nightly queries that range over days use an index, never a scan of a whole table:
SQLite's EXPLAIN QUERY PLAN for each, on a store at the newest migration."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.tables import deposits, feed_days, readings

FIRST, LAST = date(2026, 10, 1), date(2026, 10, 31)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'store.db'}")


def _plan(engine: Engine, stmt: sa.Select) -> str:
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize(
    ("stmt", "index"),
    [
        # Each run's figures: readings per day of its range, across every feed.
        (
            sa.select(readings.c.day, sa.func.count())
            .where(readings.c.day.between(FIRST, LAST))
            .group_by(readings.c.day),
            "ix_readings_day",
        ),
        # The catch-up: paused and failed feed-days of the look-back, across every feed.
        (
            sa.select(feed_days.c.feed_id, feed_days.c.day).where(
                feed_days.c.day.between(FIRST, LAST), feed_days.c.status != "collected"
            ),
            "ix_feed_days_day_status",
        ),
        # Each day's pages, for the days a run shows.
        (
            sa.select(deposits.c.day, sa.func.sum(deposits.c.pages))
            .where(deposits.c.day.between(FIRST, LAST))
            .group_by(deposits.c.day),
            "ix_deposits_day",
        ),
    ],
)
def test_a_nightly_query_over_days_uses_its_index(
    engine: Engine, stmt: sa.Select, index: str
) -> None:
    plan = _plan(engine, stmt)
    assert f"USING COVERING INDEX {index}" in plan or f"USING INDEX {index}" in plan, plan
    assert "SCAN" not in plan, plan


def test_without_the_index_the_day_count_scans_every_reading(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_readings_day")
    stmt = sa.select(sa.func.count()).where(readings.c.day.between(FIRST, LAST))
    assert "SCAN readings" in _plan(engine, stmt)


def _executed(engine: Engine, call) -> list[tuple[str, object]]:
    """The statements `call` sends to the store, with their parameters."""
    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return sent


@pytest.mark.parametrize(
    ("name", "table"),
    [("credit_through", "deposits"), ("unhealthy_feeds_between", "health_events")],
)
def test_the_checks_queries_search_by_index(engine: Engine, name: str, table: str) -> None:
    """The certificates' credit check and the days' health read search their tables by an
    index, as the store's history grows, never scanning it whole."""
    from releaf_pipeline.lib.store.credit import credit_through
    from releaf_pipeline.lib.store.health import unhealthy_feeds_between

    calls = {
        "credit_through": lambda: credit_through(engine, "2026-10"),
        "unhealthy_feeds_between": lambda: unhealthy_feeds_between(engine, FIRST, LAST),
    }
    sent = _executed(engine, calls[name])
    assert sent
    for statement, parameters in sent:
        with engine.connect() as conn:
            plan = "\n".join(
                str(r[-1])
                for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
        assert f"SCAN {table}" not in plan, plan
        assert f"SEARCH {table}" in plan, plan
