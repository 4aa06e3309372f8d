"""What the `daily_deposits` and `monthly_pages` assets do, called the way they call the
pipeline's functions, and timing a call."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from benchmarks.accounting_data import MONTH
from releaf_pipeline.lib.store.deposits import update_deposits
from releaf_pipeline.lib.store.reports import account_day_pages, feed_month_pages, month_report


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """`fn()`'s duration in seconds, and its value."""
    began = time.perf_counter()
    value = fn()
    return time.perf_counter() - began, value


def daily_deposits_step(engine: sa.Engine, day_from: date, day_to: date) -> dict[str, Any]:
    """What the `daily_deposits` asset does for [day_from, day_to]: the deposits of every
    dirty feed brought up to date, then the partition's own pages per account."""
    began = time.perf_counter()
    summary = update_deposits(engine, now=datetime.now(UTC))
    deposits_seconds = time.perf_counter() - began
    pages = account_day_pages(engine, day_from, day_to)
    return {
        "update_deposits_seconds": round(deposits_seconds, 3),
        "feeds": summary.feeds,
        "days_written": summary.days_written,
        "readings_loaded": summary.readings_loaded,
        "pages": sum(pages.values()),
    }


def monthly_pages_step(engine: sa.Engine) -> dict[str, Any]:
    """What the `monthly_pages` asset computes, phase by phase."""
    t_report, accounts = timed(lambda: month_report(engine, MONTH))
    t_feeds, per_feed = timed(lambda: feed_month_pages(engine, MONTH))
    out: dict[str, Any] = {
        "accounts": len(accounts),
        "pages": sum(a.pages for a in accounts),
        "month_report_seconds": round(t_report, 3),
        "feed_month_pages_seconds": round(t_feeds, 3),
        "feed_rows": len(per_feed),
    }
    return out
