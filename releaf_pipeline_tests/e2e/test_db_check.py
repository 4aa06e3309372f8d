"""`releaf db check` on a store missing a table, and on no store at all."""

from __future__ import annotations

import sqlite3

import pytest

pytestmark = pytest.mark.e2e


def test_a_dropped_table_is_a_problem_not_a_pass(home, releaf):
    assert releaf("db", "upgrade").code == 0
    raw = sqlite3.connect(home / "releaf.db", isolation_level=None)
    raw.execute("DROP TABLE deposits")
    raw.close()
    r = releaf("db", "check")
    assert r.code != 0
    assert "no problem found" not in r.out
    assert "  problem: schema: table deposits is missing" in r.out.splitlines()
    assert r.err.startswith("releaf: error: 1 problem(s) found in the store")


def test_no_store_is_refused_without_making_one(home, releaf):
    before = sorted(p.name for p in home.rglob("*"))
    r = releaf("db", "check")
    assert r.code != 0
    (line,) = r.err.strip().splitlines()
    assert line.startswith(f"releaf: error: there is no store at {home / 'releaf.db'}")
    assert sorted(p.name for p in home.rglob("*")) == before
    assert not (home / "releaf.db").exists()
