from datetime import date

from releaf_pipeline.lib.store.deposits import READINGS_PER_BATCH, _batches
from releaf_pipeline.lib.store.registry import FeedRecord


def feed(i: int, activation: date) -> FeedRecord:
    return FeedRecord(i, 1, "s", f"C{i}", "a", activation, "all", date(2026, 12, 31))


def test_batches_shrink_as_history_grows():
    month = [feed(i, date(2026, 12, 1)) for i in range(2000)]
    year = [feed(i, date(2026, 1, 1)) for i in range(2000)]
    assert max(len(b) for b in _batches(month)) == 500
    year_batches = _batches(year)
    assert max(len(b) for b in year_batches) <= READINGS_PER_BATCH // (396 * 10) + 1
    assert [f.id for b in year_batches for f in b] == list(range(2000))  # every feed, in order
