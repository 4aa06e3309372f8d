import random
from datetime import date, timedelta

import pytest

from releaf_pipeline.lib.business_days import business_days_after, is_stale, parse_holidays
from releaf_pipeline.settings import SettingsError, read_settings

FRI = date(2026, 10, 2)


def brute(last, today, holidays=()):
    return sum(
        1
        for i in range(1, (today - last).days + 1)
        if (d := last + timedelta(days=i)).weekday() < 5 and d not in holidays
    )


def test_weekend_does_not_count():
    # Data on Friday: Mon and Tue are 2 business days, Wednesday makes 3.
    assert not is_stale(FRI, FRI + timedelta(days=4))
    assert is_stale(FRI, FRI + timedelta(days=5))
    assert business_days_after(FRI, FRI + timedelta(days=2)) == 0


def test_matches_a_day_by_day_count():
    holidays = {date(2026, 12, 25), date(2027, 1, 1), date(2026, 12, 26)}
    for start in range(14):
        last = date(2026, 12, 1) + timedelta(days=start)
        for n in range(0, 60):
            today = last + timedelta(days=n)
            assert business_days_after(last, today, holidays) == brute(last, today, holidays)


def test_matches_a_day_by_day_count_on_random_dates_and_holidays():
    # Holidays may fall on weekends, repeat, or lie outside the range: none may change
    # the count beyond what the day-by-day loop says.
    rng = random.Random(20261205)
    origin = date(2024, 1, 1)
    for _ in range(500):
        last = origin + timedelta(days=rng.randrange(1100))
        today = last + timedelta(days=rng.randrange(-5, 120))
        holidays = {
            last + timedelta(days=rng.randrange(-10, 130)) for _ in range(rng.randrange(12))
        }
        assert business_days_after(last, today, holidays) == brute(last, today, holidays)


def test_holidays_from_env_list_or_file(tmp_path, monkeypatch):
    assert parse_holidays("") == frozenset()
    assert parse_holidays("2026-12-25, 2027-01-01") == {date(2026, 12, 25), date(2027, 1, 1)}
    f = tmp_path / "h.txt"
    f.write_text("# holidays\n2026-12-25\n\n2026-12-31  # eve\n")
    monkeypatch.setenv("RELEAF_HOLIDAYS", str(f))
    assert read_settings().holidays == {date(2026, 12, 25), date(2026, 12, 31)}
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_holidays("2026-13-01")
    monkeypatch.setenv("RELEAF_HOLIDAYS", "notadate")
    with pytest.raises(SettingsError, match=r"^RELEAF_HOLIDAYS: 'notadate' is not a date"):
        read_settings()
