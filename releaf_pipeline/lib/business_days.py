"""Feed freshness arithmetic: business days (Monday to Friday, less holidays)."""

from __future__ import annotations

import os
from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path

UNHEALTHY_AFTER_BUSINESS_DAYS = 3
HOLIDAYS_ENV = "RELEAF_HOLIDAYS"


def business_days_after(last: date, today: date, holidays: Collection[date] = ()) -> int:
    """How many business days lie in (last, today]."""
    if today <= last:
        return 0
    days = (today - last).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    for i in range(1, rest + 1):
        if (last + timedelta(days=weeks * 7 + i)).weekday() < 5:
            count += 1
    count -= sum(1 for h in holidays if last < h <= today and h.weekday() < 5)
    return count


def is_stale(last_data: date, today: date, holidays: Collection[date] = ()) -> bool:
    """True when at least 3 business days lie in (last_data, today]: the feed is unhealthy."""
    return business_days_after(last_data, today, holidays) >= UNHEALTHY_AFTER_BUSINESS_DAYS


def load_holidays(value: str | None = None) -> frozenset[date]:
    """Holidays from `RELEAF_HOLIDAYS`: dates separated by commas, or the path of a file with
    one date per line (`#` starts a comment). Unset or empty means none."""
    raw = (os.environ.get(HOLIDAYS_ENV, "") if value is None else value).strip()
    if not raw:
        return frozenset()
    path = Path(raw)
    if "," not in raw and path.exists():
        items = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
        where = str(path)
    else:
        items = [p.strip() for p in raw.split(",")]
        where = HOLIDAYS_ENV
    out = set()
    for item in items:
        if not item:
            continue
        try:
            out.add(date.fromisoformat(item))
        except ValueError:
            raise ValueError(f"{where}: {item!r} is not a date as YYYY-MM-DD") from None
    return frozenset(out)
