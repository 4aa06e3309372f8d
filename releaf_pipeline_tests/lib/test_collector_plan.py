"""The re-read window ("Late data: what each night reads" in the contract)."""

from datetime import date, timedelta

from releaf_pipeline.lib.collector import FetchPlan, plan_fetch
from releaf_pipeline.lib.store.registry import FeedRecord

A = date(2026, 9, 10)
NIGHT = date(2026, 10, 20)


def feed(synced=None, activation=A):
    return FeedRecord(1, 1, "s", "C", "a", activation, "all", synced)


def days_before(n: int, day: date = NIGHT) -> date:
    return day - timedelta(days=n)


def test_first_collection_fetches_the_baseline_window():
    assert plan_fetch(feed(), date(2026, 9, 20), date(2026, 9, 20)) == FetchPlan(
        date(2026, 8, 10), date(2026, 9, 20)
    )


def test_steady_state_night_rereads_the_two_days_before():
    # Every device reported yesterday: the range still starts two days before the night,
    # so a reading published after last night's run (a later time zone) is read tonight.
    plan = plan_fetch(feed(days_before(1)), NIGHT, NIGHT, [days_before(1)] * 5)
    assert plan == FetchPlan(days_before(2), NIGHT)


def test_one_offline_device_pulls_the_range_back_to_its_latest_reading():
    latest = [days_before(1), days_before(1), days_before(12)]
    plan = plan_fetch(feed(days_before(1)), NIGHT, NIGHT, latest)
    assert plan == FetchPlan(days_before(11), NIGHT)


def test_a_device_silent_past_the_lookback_counts_as_gone():
    latest = [days_before(1), days_before(36)]
    plan = plan_fetch(feed(days_before(1)), NIGHT, NIGHT, latest)
    assert plan == FetchPlan(days_before(2), NIGHT)
    latest = [days_before(1), days_before(35)]
    assert plan_fetch(feed(days_before(1)), NIGHT, NIGHT, latest).fetch_from == days_before(34)


def test_baseline_not_final_reaches_back_to_the_baseline_window():
    # Activated while its DCA was offline: a device's last reading is before A - 1.
    night = A + timedelta(days=3)
    latest = [A + timedelta(days=2), A - timedelta(days=6)]
    plan = plan_fetch(feed(A + timedelta(days=2)), night, night, latest)
    assert plan == FetchPlan(A - timedelta(days=31), night)
    # Once it has a reading dated A - 1 or later, the baseline is final.
    latest = [A + timedelta(days=2), A - timedelta(days=1)]
    assert plan_fetch(feed(A + timedelta(days=2)), night, night, latest).fetch_from == A


def test_no_final_baseline_at_all_near_activation_reaches_back():
    night = A + timedelta(days=5)
    assert plan_fetch(feed(night - timedelta(days=1)), night, night, []).fetch_from == (
        A - timedelta(days=31)
    )
    # Far past activation, a feed without data just reads its last days.
    night = A + timedelta(days=60)
    assert plan_fetch(feed(night - timedelta(days=1)), night, night, []).fetch_from == (
        night - timedelta(days=2)
    )


def test_a_gap_in_the_mirror_is_filled():
    plan = plan_fetch(feed(synced=days_before(9)), NIGHT, NIGHT, [days_before(9)] * 3)
    assert plan == FetchPlan(days_before(8), NIGHT)


def test_recollection_refetches_the_requested_days():
    plan = plan_fetch(
        feed(synced=date(2026, 9, 30)), date(2026, 9, 12), date(2026, 9, 14), [date(2026, 9, 30)]
    )
    assert plan == FetchPlan(date(2026, 9, 12), date(2026, 9, 14))


def test_a_pending_recollection_is_fetched_by_the_night():
    plan = plan_fetch(
        feed(days_before(1)), NIGHT, NIGHT, [days_before(1)], recollect_from=days_before(20)
    )
    assert plan == FetchPlan(days_before(20), NIGHT)


def test_never_before_the_baseline_window():
    night = A + timedelta(days=1)
    plan = plan_fetch(feed(synced=A), night, night, [A], recollect_from=date(2026, 7, 1))
    assert plan.fetch_from == A - timedelta(days=31)


def test_feed_not_active_yet_is_skipped():
    assert plan_fetch(feed(), date(2026, 9, 1), date(2026, 9, 9)) is None
