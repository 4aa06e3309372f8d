"""Feed freshness arithmetic: business days (Monday to Friday, less holidays)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path

from releaf_pipeline.lib.dates import strict_date
from releaf_pipeline.lib.rules import UNHEALTHY_AFTER_BUSINESS_DAYS


def business_days_after(last: date, today: date, holidays: Collection[date] = ()) -> int:
    """How many business days lie in (last, today]."""
    if today <= last:
        return 0
    # numpy is imported here, not at the top: settings read holidays at every command's
    # start, and most commands never count business days.
    import numpy as np

    one = timedelta(days=1)
    return int(np.busday_count(last + one, today + one, holidays=sorted(holidays)))


def is_stale(last_data: date, today: date, holidays: Collection[date] = ()) -> bool:
    """True when at least 3 business days lie in (last_data, today]: the feed is unhealthy."""
    return business_days_after(last_data, today, holidays) >= UNHEALTHY_AFTER_BUSINESS_DAYS


def parse_holidays(raw: str) -> frozenset[date]:
    """Holidays given as dates separated by commas, or as the path of a file with one date
    per line (`#` starts a comment). Empty means none; a bad date raises ValueError."""
    raw = raw.strip()
    if not raw:
        return frozenset()
    path = Path(raw)
    if "," not in raw and path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {path} ({type(exc).__name__})") from None
        items = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        where = f"{path}: "
    else:
        items = [p.strip() for p in raw.split(",")]
        where = ""
    out = set()
    for item in items:
        if not item:
            continue
        try:
            out.add(strict_date(item))
        except ValueError:
            raise ValueError(f"{where}{item!r} is not a date as YYYY-MM-DD") from None
    return frozenset(out)
