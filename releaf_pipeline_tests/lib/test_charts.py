from datetime import date

from releaf_pipeline.lib.charts import _top_accounts, daily_pages_chart


def test_chart_is_a_png():
    png = daily_pages_chart({"a": {date(2026, 9, 1): 5, date(2026, 9, 2): 7}}, "t")
    assert png.startswith(b"\x89PNG")


def test_many_accounts_fold_into_the_ten_largest_and_the_rest():
    days = {f"acct-{i:03}": {date(2026, 9, 1): i, date(2026, 9, 2): 1} for i in range(50)}
    shown = _top_accounts(days)
    assert len(shown) == 11
    assert "acct-049" in shown and "acct-000" not in shown
    assert shown["40 other accounts"][date(2026, 9, 1)] == sum(range(40))
    total = sum(sum(d.values()) for d in shown.values())
    assert total == sum(sum(d.values()) for d in days.values())
