"""Dates and months as users write them: strictly YYYY-MM-DD and YYYY-MM, in ASCII digits."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

# [0-9], not \d: \d and int() also take other scripts' digits (full-width ones, say).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_WHOLE = re.compile(r"[+-]?[0-9]+")


def strict_date(text: str) -> date:
    """A date written exactly as YYYY-MM-DD (not 20261001, not 2026-W40-4); ValueError
    otherwise."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date as YYYY-MM-DD") from None


def strict_int(text: str) -> int:
    """A whole number written in ASCII digits, with an optional sign (not full-width
    digits, "1_000" or " 12"); ValueError otherwise."""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a whole number in digits 0-9")
    return int(text)


def days_between(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`, inclusive (empty when last < first)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a month written exactly as YYYY-MM; ValueError otherwise."""
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    year, mon = int(month[:4]), int(month[5:])
    if not 1 <= mon <= 12 or year < 1:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def utc_text(moment: datetime) -> str:
    """`2026-11-27 02:00:05 UTC`: a moment as every table shows it (naive ones are UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
