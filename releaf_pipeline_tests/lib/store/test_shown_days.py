"""What was shown of a day, and whether a day's view must be published again."""

from datetime import date

from releaf_pipeline.lib.store.engine import make_engine
from releaf_pipeline.lib.store.migrate import upgrade
from releaf_pipeline.lib.store.shown_days import FIGURES, record_shown, shown, unchanged

DAY = date(2026, 11, 5)
VIEW = {FIGURES: "f1", "feeds_fresh": "c1", "feeds_collected": "c2"}


def test_a_day_is_unchanged_only_when_every_part_was_shown_with_its_figures(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    assert not unchanged(shown(engine, "meter_readings", [DAY]).get(DAY, {}), VIEW)

    record_shown(engine, "meter_readings", FIGURES, {DAY: "f1"}, "run-1")
    record_shown(engine, "meter_readings", "feeds_fresh", {DAY: "c1"}, "run-1")
    # A check never shown on the day: published again.
    assert not unchanged(shown(engine, "meter_readings", [DAY])[DAY], VIEW)

    record_shown(engine, "meter_readings", "feeds_collected", {DAY: "c2"}, "run-1")
    assert unchanged(shown(engine, "meter_readings", [DAY])[DAY], VIEW)
    # Another asset's record of the same day is its own.
    assert shown(engine, "daily_deposits", [DAY]) == {}

    # A result that changed, or figures that changed.
    assert not unchanged(shown(engine, "meter_readings", [DAY])[DAY], {**VIEW, "feeds_fresh": "x"})
    assert not unchanged(shown(engine, "meter_readings", [DAY])[DAY], {**VIEW, FIGURES: "f2"})

    # A run materialized the day again and stopped before its checks: their results judge
    # the earlier materialization, so the day is published again though nothing differs.
    record_shown(engine, "meter_readings", FIGURES, {DAY: "f1"}, "run-2")
    assert not unchanged(shown(engine, "meter_readings", [DAY])[DAY], VIEW)
