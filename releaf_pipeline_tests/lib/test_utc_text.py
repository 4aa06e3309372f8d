from datetime import UTC, datetime, timedelta, timezone

from releaf_pipeline.lib.dates import utc_text


def test_a_moment_is_shown_in_utc_to_the_second_and_a_naive_one_is_taken_as_utc() -> None:
    pacific = timezone(timedelta(hours=-8))
    assert utc_text(datetime(2026, 11, 26, 18, 0, 5, 999, tzinfo=pacific)) == (
        "2026-11-27 02:00:05 UTC"
    )
    assert utc_text(datetime(2026, 11, 27, 2, 0, 5)) == "2026-11-27 02:00:05 UTC"
    assert utc_text(datetime(2026, 11, 27, 2, 0, 5, tzinfo=UTC)) == "2026-11-27 02:00:05 UTC"
