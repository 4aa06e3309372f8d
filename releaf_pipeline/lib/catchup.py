"""What the catch-up sensor asks for: ranged re-collections after outages and gaps.

Pure planning over the store's state and the instance's materialized partitions. Every
request covers one contiguous range of days (never one run per day) and names the feeds
it needs, so feeds that are fine are not called again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.rules import REREAD_LOOKBACK_DAYS as DEFAULT_LOOKBACK_DAYS
from releaf_pipeline.lib.store.health import FeedHealth
from releaf_pipeline.lib.store.registry import FeedRecord
from releaf_pipeline.lib.store.tables import FAILED, PAUSED

RECOVERED, MISSING = "recovered", "missing"

# Failures a retry cannot fix: the server said no to this customer or this token, or its
# answer breaks the contract (the same request gets the same answer). The catch-up leaves
# them to an operator; each night still collects the feed once, and its re-read window
# reads back the days missed once the cause is fixed.
PERMANENT_FAILURES = frozenset(
    {
        "customer_not_found",
        "rejected",
        "unauthorized",
        "invalid_token",
        "insecure_url",
        "invalid_response",
        # A dealer token no configured key opens: the key must be set, or the server
        # given its token again.
        "secret_key",
    }
)


def is_permanent(kind: str | None) -> bool:
    """Whether a failed feed-day's kind of failure is one no retry fixes."""
    return kind in PERMANENT_FAILURES


@dataclass(frozen=True)
class NextStep:
    """What happens next to a paused or failed feed-day."""

    text: str
    automatic: bool
    """True while the pipeline will retry on its own; False once a person must act."""


def next_step(
    status: str,
    kind: str | None,
    day: date,
    *,
    today: date,
    server: str,
    server_healthy: bool,
    customer_code: str,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    last: date | None = None,
) -> NextStep:
    """What the pipeline will do about paused or failed feed-days (`day`, or `day` to
    `last`), in a sentence; `kind` is a failure's kind (None for a pause)."""
    end = last or day
    by_hand = f"`releaf backfill --start {day} --end {end} --feed {server}/{customer_code}`"
    if day < today - timedelta(days=lookback_days):
        return NextStep(
            f"past the {lookback_days}-day catch-up look-back: collect it with {by_hand}", False
        )
    if status == FAILED and is_permanent(kind):
        return NextStep(f"not retried: fix the cause above, then run {by_hand}", False)
    again = "re-collected" if status == PAUSED else "retried"
    if server_healthy:
        return NextStep(f"{again} by the catch-up sensor on its next tick", True)
    return NextStep(f"{again} by the catch-up sensor once {server} passes its health check", True)


@dataclass(frozen=True)
class CatchupRequest:
    """One ranged collection run to request."""

    start: date
    end: date
    feed_ids: tuple[int, ...]
    """Feeds to collect; empty means every active feed."""
    reason: str
    key: str
    """Stable run key: the same need on the same day is requested once."""
    missing_only: bool = False
    """Collect only the feeds with a day of the range not collected yet (a day whose run
    did not finish keeps what its finished pieces collected)."""


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted, merged (first, last) ranges of consecutive days."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def span(days: Iterable[date]) -> str:
    """Days as ranges: "2026-10-02..2026-10-04, 2026-10-07"."""
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in contiguous_ranges(days))


def _key(reason: str, stamp: str, start: date, end: date, work: Iterable[object]) -> str:
    # The key names the work and the state that asked for it: the same need seen twice is
    # launched once, and the same days paused again by a later run are a new need.
    items = sorted(str(w) for w in work)
    digest = hashlib.sha1("|".join(items).encode()).hexdigest()[:12] if items else "all"
    return f"catchup:{reason}:{stamp}:{start}:{end}:{digest}"


def _request(
    reason: str,
    today: date,
    first: date,
    last: date,
    ids: Iterable[int],
    state: Iterable[object] = (),
) -> CatchupRequest:
    ids = tuple(sorted(ids))
    work = [*ids, *state]
    return CatchupRequest(
        first, last, ids, reason, _key(reason, today.isoformat(), first, last, work)
    )


def plan_catchup(
    *,
    today: date,
    feeds: Mapping[int, FeedRecord],
    server_healthy: Mapping[int, bool],
    feed_days: Iterable[tuple[int, date, str, str | None, str | None]],
    feed_health: Mapping[int, FeedHealth],
    materialized: set[date],
    busy: Mapping[date, str],
    first_partition: date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> list[CatchupRequest]:
    """The runs that heal the pipeline as of `today`.

    (a) paused or failed feed-days in the look-back window whose server is healthy now
        (failures no retry fixes excepted);
    (b) feeds that turned healthy again: their days from L + 1 to the latest collected day;
    (c) days of the window (up to the day before yesterday: yesterday is the nightly
        schedule's) with no materialization, for example after the daemon was down or a
        run that failed part way: only their feeds not collected yet are collected.
    Days in `busy` (covered by a queued or running collection: day to its run id) are left
    alone for (a), (c). `feed_days` are (feed_id, day, status, failure kind, run_id).
    """
    window_start = max(today - timedelta(days=lookback_days), first_partition)
    yesterday = today - timedelta(days=1)
    requests: list[CatchupRequest] = []

    def usable(feed_id: int) -> bool:
        feed = feeds.get(feed_id)
        return feed is not None and feed.collected and server_healthy.get(feed.server_id, False)

    feed_days = list(feed_days)
    for status in (PAUSED, FAILED):
        per_day: dict[date, set[int]] = {}
        # Which run left each feed-day so: a second outage of the same days is new work.
        state: dict[date, set[str]] = {}
        for feed_id, day, st, kind, run_id in feed_days:
            due = st == status and window_start <= day <= yesterday and day not in busy
            due = due and not (st == FAILED and is_permanent(kind))
            if due and usable(feed_id):
                per_day.setdefault(day, set()).add(feed_id)
                state.setdefault(day, set()).add(f"{feed_id}@{day}@{run_id}")
        for first, last in contiguous_ranges(per_day):
            ids: set[int] = set()
            seen: set[str] = set()
            for d in days_between(first, last):
                ids |= per_day[d]
                seen |= state[d]
            requests.append(_request(status, today, first, last, ids, seen))

    by_range: dict[tuple[date, date], set[int]] = {}
    for feed_id, state in feed_health.items():
        if state.recollect_from is None or state.recollect_to is None or not usable(feed_id):
            continue
        by_range.setdefault((state.recollect_from, state.recollect_to), set()).add(feed_id)
    for (first, last), ids in sorted(by_range.items()):
        since = [f"{i}@{feed_health[i].since_day}" for i in ids]
        requests.append(_request(RECOVERED, today, first, last, ids, since))

    # Days nobody collected are worth a run only if some feed can be collected now: with
    # every server down it would only pause them all again.
    if any(usable(fid) for fid in feeds):
        earliest = min(f.activation_date for f in feeds.values())
        start = max(window_start, earliest)
        end = today - timedelta(days=2)
        missing = [d for d in days_between(start, end) if d not in materialized and d not in busy]
        for first, last in contiguous_ranges(missing):
            request = _request(MISSING, today, first, last, ())
            requests.append(replace(request, missing_only=True))
    return requests


def waiting_for(
    *,
    today: date,
    feeds: Mapping[int, FeedRecord],
    server_healthy: Mapping[int, bool],
    feed_days: Iterable[tuple[int, date, str, str | None, str | None]],
    busy: Mapping[date, str],
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> list[str]:
    """Why nothing is requested now, one sentence per cause: the servers the paused days
    wait for, the days a running collection already covers, the failures left to a person.
    Empty when every feed-day of the look-back window is collected."""
    window_start = today - timedelta(days=lookback_days)
    waits: dict[str, list[date]] = {}
    for feed_id, day, status, kind, _run_id in feed_days:
        feed = feeds.get(feed_id)
        if feed is None or not feed.collected or day < window_start:
            continue
        if not server_healthy.get(feed.server_id, False):
            why = f"{feed.server_name} to pass its health check"
        elif day in busy:
            why = f"collection run {busy[day]}, already running for these days"
        elif status == FAILED and is_permanent(kind):
            why = "an operator: failures no retry fixes (see `releaf feed list`)"
        else:
            continue
        waits.setdefault(why, []).append(day)
    out = []
    for why, days in sorted(waits.items()):
        out.append(f"{len(days)} feed-day(s) ({span(days)}) wait for {why}")
    return out
