from datetime import date, timedelta

from releaf_pipeline.lib.store.deposits.work import (
    FEEDS_PER_BATCH,
    READINGS_PER_BATCH,
    batches,
    pending_work,
)
from releaf_pipeline.lib.store.registry import FeedRecord

THROUGH = date(2026, 12, 31)


def feed(i: int, activation: date, dirty: date | None) -> FeedRecord:
    return FeedRecord(i, 1, "s", f"C{i}", "a", activation, "all", THROUGH, dirty)


def test_a_night_recomputes_only_its_days_in_largebatches():
    night = [feed(i, date(2026, 1, 1), THROUGH - timedelta(days=2)) for i in range(5000)]
    work = pending_work(night)
    assert all(not w.full and w.load_from == THROUGH - timedelta(days=2) for w in work)
    assert max(len(b) for b in batches(work)) == FEEDS_PER_BATCH


def test_batches_shrink_as_the_recomputed_history_grows():
    year = [feed(i, date(2026, 1, 1), date(2026, 1, 1)) for i in range(2000)]
    work = pending_work(year)
    assert all(w.full for w in work)
    groups = batches(work)
    assert max(len(b) for b in groups) <= READINGS_PER_BATCH // (396 * 10) + 1
    assert [w.feed.id for b in groups for w in b] == list(range(2000))  # every feed, in order


def test_clean_feeds_are_left_alone_unless_everything_is_asked():
    feeds = [feed(1, date(2026, 12, 1), None), feed(2, date(2026, 12, 1), date(2026, 12, 20))]
    assert [w.feed.id for w in pending_work(feeds)] == [2]
    assert [w.feed.id for w in pending_work(feeds, everything=True)] == [1, 2]
