"""The store's transactions: a feed's night is one (its readings, its health and the
clearing of its pending re-collection are stored together or not at all, wherever the
process dies), and a read never waits for a writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from releaf_pipeline.lib.store.engine import make_engine, writing
from releaf_pipeline.lib.store.registry import list_servers
from releaf_pipeline.lib.store.tables import (
    devices,
    feed_days,
    feed_health,
    health_events,
    readings,
    servers,
)
from releaf_pipeline.replay import night_time
from releaf_pipeline_tests.e2e.nights import register_feeds

# Collects one day for every feed, as a piece of the nightly job does. With "kill", the
# process is killed where the night clears the feed's re-collection: after the readings
# and the health were written, before the transaction commits.
COLLECT = """
import asyncio, os, signal, sys
from datetime import date
from releaf_pipeline.app import App
from releaf_pipeline.lib import collector
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.lib.store.registry import list_feeds, list_servers

if sys.argv[1] == "kill":
    collector.clear_recollect = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
day = date.fromisoformat(sys.argv[2])
app = App()
servers = {s.id: s for s in list_servers(app.engine)}
report = asyncio.run(collector.collect(
    app.engine, app.cipher, servers, list_feeds(app.engine), day, day,
    settings=ClientSettings(), run_id=None, now=app.now,
))
print(*(o.status for o in report.outcomes))
"""


def _collect(mode: str, day: date, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_HOME": str(home), "RELEAF_NOW": night_time(day).isoformat()}
    return subprocess.run(
        [sys.executable, "-c", COLLECT, mode, day.isoformat()],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _stored(home: Path) -> dict[str, int]:
    engine = make_engine(f"sqlite:///{home / 'releaf.db'}")
    try:
        with engine.connect() as conn:
            return {
                table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                for table in (readings, devices, feed_days, feed_health, health_events)
            }
    finally:
        engine.dispose()


def test_a_feed_night_killed_before_it_commits_leaves_nothing(home, sim, releaf, monkeypatch):
    day = date(2026, 11, 3)
    sim.set_now(night_time(day))
    code = sim.fleet.customer_codes[0]
    register_feeds(releaf, sim, [(code, "acct-a", date(2026, 11, 1), "all")], monkeypatch)
    before = _stored(home)

    killed = _collect("kill", day, home)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _stored(home) == before

    done = _collect("store", day, home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["collected"]
    after = _stored(home)
    # The same night, not killed, writes every part the killed one did not keep.
    assert after["readings"] > before["readings"]
    assert after["devices"] > before["devices"]
    assert after["feed_days"] > before["feed_days"]


def test_a_read_does_not_wait_for_the_writer(tmp_path):
    """The UI, sensors and commands read while the night writes: on SQLite only a write
    takes the lock, so a read in another connection answers at once."""
    url = f"sqlite:///{tmp_path / 'releaf.db'}"
    writer, reader = make_engine(url), make_engine(url)
    try:
        with writing(writer) as conn:
            conn.execute(sa.delete(servers))  # holds the write lock until the block ends
            assert list_servers(reader) == []
    finally:
        writer.dispose()
        reader.dispose()
