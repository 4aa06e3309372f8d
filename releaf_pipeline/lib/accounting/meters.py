"""Rule 4 over whole arrays: each reading's pages, and which drops are resets or glitches.

A device's standing count is the running maximum of its readings since its baseline or
its latest meter reset: a glitch (a drop to half the standing count or more) leaves it
where it was, so no page is counted twice, and only a reset (a drop below half) starts a
new run. Which drop is a reset depends on the runs before it, so resets are found a few
at a time: the first drop below half in each run is certainly a reset, and only the rest
of those runs is examined again. Resets are rare, so this takes one or two passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_KEY_LIMIT = 2**62


@dataclass(frozen=True)
class MeterSteps:
    """Per reading: the standing count before it, its pages and what its drop was."""

    before: np.ndarray  # int64: the standing count before the reading (its own at a run start)
    high: np.ndarray  # int64: the standing count after the reading
    pages: np.ndarray  # int64: pages the reading adds (0 at a baseline)
    reset: np.ndarray  # bool: a counted reading below half the standing count
    glitch: np.ndarray  # bool: a counted reading below the standing count, not a reset


def meter_steps(count: np.ndarray, group_start: np.ndarray, counted: np.ndarray) -> MeterSteps:
    """Rule 4 for readings sorted by device and day.

    ``group_start`` marks each device's first reading and ``counted`` the readings dated
    on or after activation. Every uncounted reading starts a run of its own, so a device's
    counting starts from its last reading before activation (its baseline), or from its
    first reading when it has none.
    """
    n = len(count)
    count = count.astype(np.int64, copy=False)
    starts = group_start | ~counted
    eligible = counted & ~starts
    before = count.copy()
    high = count.copy()
    work = np.arange(n)
    while len(work):
        sub_count, sub_start = count[work], starts[work]
        sub_high = _running_high(sub_count, sub_start)
        sub_before = sub_count.copy()
        sub_before[1:] = np.where(sub_start[1:], sub_count[1:], sub_high[:-1])
        high[work], before[work] = sub_high, sub_before
        found = np.flatnonzero(eligible[work] & ~sub_start & (2 * sub_count < sub_before))
        if not len(found):
            break
        run = np.cumsum(sub_start) - 1
        found_run = run[found]
        first = np.ones(len(found), dtype=bool)
        first[1:] = found_run[1:] != found_run[:-1]
        starts[work[found[first]]] = True
        # The rest of each run that had a reset counts against the new run's high: only
        # those rows, from that reset on, are looked at again.
        from_row = np.full(int(run[-1]) + 1, len(work), dtype=np.int64)
        from_row[found_run[first]] = found[first]
        keep = np.arange(len(work)) >= from_row[run]
        work = work[keep]

    reset = eligible & starts
    # A reset starts a run, but what it dropped from is the high of the run before it.
    at_reset = np.flatnonzero(reset)
    before[at_reset] = high[at_reset - 1]
    glitch = ~starts & (count < before)
    pages = np.where(reset, count, np.where(starts, 0, np.maximum(count - before, 0)))
    return MeterSteps(before=before, high=high, pages=pages, reset=reset, glitch=glitch)


def _running_high(count: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The running maximum of ``count`` within runs that begin where ``starts`` is set."""
    if not len(count):
        return count.copy()
    run = np.cumsum(starts, dtype=np.int64) - 1
    low = int(count.min())
    span = int(count.max()) - low + 1
    if (int(run[-1]) + 1) * span < _KEY_LIMIT:
        # Lifting each run above every earlier one lets one running maximum serve them all.
        offset = run * span - low
        return np.maximum.accumulate(count + offset) - offset
    return pd.Series(count).groupby(run).cummax().to_numpy(dtype=np.int64)
