from datetime import date, timedelta

from releaf_pipeline.lib.catchup import contiguous_ranges, is_permanent, next_step, plan_catchup
from releaf_pipeline.lib.store.health import FeedHealth
from releaf_pipeline.lib.store.registry import FeedRecord

TODAY = date(2026, 10, 20)
D = date(2026, 10, 1)


def feed(i, server=1, activation=D):
    return FeedRecord(i, server, f"s{server}", f"C{i}", "a", activation, "all", None)


FEEDS = {1: feed(1), 2: feed(2), 3: feed(3, server=2)}
ALL_DAYS = {D + timedelta(days=i) for i in range(19)}


def plan(**kw):
    args = dict(
        today=TODAY, feeds=FEEDS, server_healthy={1: True, 2: True}, feed_days=[],
        feed_health={}, materialized=ALL_DAYS, busy=set(), first_partition=date(2025, 1, 1),
    )  # fmt: skip
    args.update(kw)
    return plan_catchup(**args)


def test_ranges_merge_consecutive_days():
    days = [D, D + timedelta(1), D + timedelta(3), D + timedelta(2), D + timedelta(7)]
    assert contiguous_ranges(days) == [(D, D + timedelta(3)), (D + timedelta(7), D + timedelta(7))]


def test_nothing_to_do():
    assert plan() == []


def test_paused_days_wait_for_a_healthy_server_and_name_only_their_feeds():
    days = [(3, D + timedelta(d), "paused", "down", "run-1") for d in (4, 5, 6)]
    days += [(1, D + timedelta(5), "paused", "down", "run-1")]
    assert [r.feed_ids for r in plan(feed_days=days, server_healthy={1: True, 2: False})] == [(1,)]
    (req,) = [r for r in plan(feed_days=days) if r.reason == "paused"]
    assert (req.start, req.end, req.feed_ids) == (D + timedelta(4), D + timedelta(6), (1, 3))
    assert req.key == plan(feed_days=days)[0].key  # stable: launched once


def test_recovered_feed_is_collected_again_from_l_plus_one():
    state = FeedHealth(2, True, D + timedelta(9), D + timedelta(9), None, D + timedelta(9),
                       D + timedelta(2), D + timedelta(9))  # fmt: skip
    (req,) = plan(feed_health={2: state})
    assert (req.reason, req.start, req.end, req.feed_ids) == (
        "recovered",
        D + timedelta(2),
        D + timedelta(9),
        (2,),
    )


def test_missing_days_one_run_per_range_and_not_before_activation_or_yesterday():
    have = ALL_DAYS - {D + timedelta(3), D + timedelta(4), D + timedelta(10)}
    reqs = plan(materialized=have, feeds={1: feed(1, activation=D + timedelta(2))})
    assert [(r.start, r.end, r.feed_ids) for r in reqs] == [
        (D + timedelta(3), D + timedelta(4), ()),
        (D + timedelta(10), D + timedelta(10), ()),
    ]
    # Yesterday is the nightly schedule's, and busy days are left alone.
    assert plan(materialized=ALL_DAYS - {TODAY - timedelta(1)}) == []
    assert plan(materialized=have, busy={D + timedelta(10)})[-1].end == D + timedelta(4)


def test_lookback_window_bounds_everything():
    old = [(1, TODAY - timedelta(days=40), "failed", "timeout", "run-1")]
    assert plan(feed_days=old, materialized=set(), feeds={1: feed(1, activation=date(2026, 1, 1))},
                lookback_days=35)[0].start == TODAY - timedelta(days=35)  # fmt: skip
    assert [r.reason for r in plan(feed_days=old)] == []


def test_failures_no_retry_fixes_are_left_to_an_operator():
    days = [
        (1, D + timedelta(5), "failed", "customer_not_found", "r"),
        (2, D + timedelta(5), "failed", "timeout", "r"),
    ]
    assert [r.feed_ids for r in plan(feed_days=days)] == [(2,)]
    assert is_permanent(days[0][3]) and not is_permanent(days[1][3]) and not is_permanent(None)
    # Decided on the kind, never on what a message happens to start with.
    assert not is_permanent("timeout: customer_not_found")


def test_an_answer_that_breaks_the_contract_is_not_retried():
    days = [(1, D + timedelta(5), "failed", "invalid_response", "r"),
            (2, D + timedelta(5), "failed", "server_error", "r")]  # fmt: skip
    assert [r.feed_ids for r in plan(feed_days=days)] == [(2,)]
    step = next_step("failed", "invalid_response", D, today=TODAY, server="s1", server_healthy=True,
                     customer_code="C1", lookback_days=35)  # fmt: skip
    assert not step.automatic and step.text.startswith("not retried")


def test_next_step_says_who_acts_and_when():
    def step(status, kind, day=D, healthy=True):
        return next_step(status, kind, day, today=TODAY, server="s1", server_healthy=healthy,
                         customer_code="C1", lookback_days=35)  # fmt: skip

    waiting = step("paused", None, healthy=False)
    assert waiting.automatic and "once s1 passes its health check" in waiting.text
    assert step("paused", None).text == "re-collected by the catch-up sensor on its next tick"
    assert step("failed", "timeout").automatic
    gone = step("failed", "customer_not_found")
    assert not gone.automatic and "releaf backfill --start 2026-10-01" in gone.text
    old = step("paused", None, day=TODAY - timedelta(days=36))
    assert not old.automatic and "past the 35-day catch-up look-back" in old.text


def test_the_same_days_paused_again_the_same_day_are_new_work():
    first = [(1, D + timedelta(d), "paused", "down", "run-1") for d in (4, 5)]
    (req,) = plan(feed_days=first)
    assert plan(feed_days=first)[0].key == req.key, "the same need is launched once"
    # The catch-up ran, then the server went down again and a later run paused them again.
    again = [(1, D + timedelta(d), "paused", "down", "run-7") for d in (4, 5)]
    (req2,) = plan(feed_days=again)
    assert (req2.start, req2.end, req2.feed_ids) == (req.start, req.end, req.feed_ids)
    assert req2.key != req.key
