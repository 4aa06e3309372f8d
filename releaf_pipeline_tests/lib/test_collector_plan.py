"""The re-read window ("Late data: what each night reads" and "Month close" in the
contract)."""

from datetime import date, timedelta

from releaf_pipeline.lib.fetch_plan import (
    FetchPlan,
    month_reread_from,
    months_to_reread,
    plan_fetch,
)
from releaf_pipeline.lib.rules import FULL_REREAD_WEEKDAY, REREAD_LOOKBACK_DAYS
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
    night = A + timedelta(days=4)  # a Monday: not the weekly full re-read
    latest = [A + timedelta(days=3), A - timedelta(days=6)]
    plan = plan_fetch(feed(A + timedelta(days=3)), night, night, latest)
    assert plan == FetchPlan(A - timedelta(days=31), night)
    # Once it has a reading dated A - 1 or later, the baseline is final.
    latest = [A + timedelta(days=3), A - timedelta(days=1)]
    assert plan_fetch(feed(A + timedelta(days=3)), night, night, latest).fetch_from == A


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


# --- "Month close": the month read again before it closes, and the weekly full look-back ---


OCT_5 = date(2026, 10, 5)


def reread_from(night: date, certified=(), feed_=None, start=None):
    """Where the plan of a one-night collection starts, with these (account, month) pairs
    certified; the feed's devices all reported the day before."""
    f = feed_ or feed(night - timedelta(days=1), activation=OCT_5)
    months = months_to_reread(start or night, night)
    plan = plan_fetch(
        f,
        start or night,
        night,
        [night - timedelta(days=1)] * 3,
        month_from=month_reread_from(f, months, set(certified)),
    )
    return plan.fetch_from


def test_an_ended_month_without_its_certificate_is_read_again_whole():
    # Saturday Oct 31 and Monday Nov 2: October is over and not certified yet.
    assert reread_from(date(2026, 10, 31)) == date(2026, 10, 1)
    assert reread_from(date(2026, 11, 2)) == date(2026, 10, 1)
    # September was certified; October was not: the re-read starts at October.
    assert reread_from(date(2026, 11, 2), [("a", "2026-09")]) == date(2026, 10, 1)
    # Both certified: the usual two days.
    certified = [("a", "2026-09"), ("a", "2026-10")]
    assert reread_from(date(2026, 11, 2), certified) == date(2026, 10, 31)
    # Another account's certificate is not this one's.
    assert reread_from(date(2026, 11, 2), [("b", "2026-10")]) == date(2026, 10, 1)
    # Before the month ends there is nothing to close: a Friday night reads two days back.
    assert reread_from(date(2026, 10, 30), [("a", "2026-09")]) == date(2026, 10, 28)


def test_the_months_reread_is_one_request():
    # A month still not closed is read while its last day is within the look-back: the
    # longest re-read stays within one Counter/List's 93 days.
    night = date(2026, 12, 5)
    assert reread_from(night) == date(2026, 10, 1) and (night - date(2026, 10, 1)).days <= 93
    assert reread_from(date(2026, 12, 7)) == date(2026, 11, 1)


def test_a_month_the_feed_was_not_active_in_is_not_read():
    late = feed(date(2026, 11, 4), activation=date(2026, 11, 3))
    assert reread_from(date(2026, 11, 5), feed_=late) == date(2026, 11, 3)


def test_the_reread_stays_within_the_baseline_window():
    # Activated Oct 20: October is read from Oct 1, after A - 31.
    young = feed(date(2026, 11, 1), activation=date(2026, 10, 20))
    assert reread_from(date(2026, 11, 2), feed_=young) == date(2026, 10, 1)


def test_a_collection_covering_a_months_last_day_long_after_reads_the_month():
    # A backfill from Oct 31 to Dec 15: October was never certified, so it is read whole.
    assert reread_from(date(2026, 12, 15), start=date(2026, 10, 31)) == date(2026, 10, 1)
    # Certified: the collection reads what it was asked for.
    certified = [("a", m) for m in ("2026-10", "2026-11")]
    assert reread_from(date(2026, 12, 15), certified, start=date(2026, 10, 31)) == date(
        2026, 10, 31
    )


def test_once_a_week_the_night_reads_the_whole_lookback():
    sunday = date(2026, 10, 25)
    assert sunday.weekday() == FULL_REREAD_WEEKDAY
    assert reread_from(sunday) == sunday - timedelta(days=REREAD_LOOKBACK_DAYS)
    assert reread_from(sunday + timedelta(days=1)) == date(2026, 10, 24)
    # Never before the baseline window.
    young = feed(sunday - timedelta(days=1), activation=date(2026, 10, 23))
    assert reread_from(sunday, feed_=young) == date(2026, 9, 22)
