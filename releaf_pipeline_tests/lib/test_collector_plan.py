from datetime import date

from releaf_pipeline.lib.collector import FetchPlan, plan_fetch
from releaf_pipeline.lib.store.registry import FeedRecord


def feed(synced=None, activation=date(2026, 9, 10)):
    return FeedRecord(1, 1, "s", "C", "a", activation, "all", synced)


def test_first_collection_fetches_the_baseline_window():
    assert plan_fetch(feed(), date(2026, 9, 20), date(2026, 9, 20)) == FetchPlan(
        date(2026, 8, 10), date(2026, 9, 20), date(2026, 9, 10)
    )


def test_later_collection_fills_the_gap_since_the_mirror():
    plan = plan_fetch(feed(synced=date(2026, 9, 15)), date(2026, 9, 20), date(2026, 9, 21))
    assert plan == FetchPlan(date(2026, 9, 16), date(2026, 9, 21), date(2026, 9, 16))


def test_recollection_refetches_the_requested_days():
    plan = plan_fetch(feed(synced=date(2026, 9, 30)), date(2026, 9, 12), date(2026, 9, 14))
    assert plan == FetchPlan(date(2026, 9, 12), date(2026, 9, 14), date(2026, 9, 12))


def test_feed_not_active_yet_is_skipped():
    assert plan_fetch(feed(), date(2026, 9, 1), date(2026, 9, 9)) is None
