"""Tests of the page accounting rules, one group per rule, plus a randomized cross-check
against a day-by-day reference that follows the contract's wording literally."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from releaf_pipeline.lib.accounting.compute import AccountingResult, compute_deposits
from releaf_pipeline.lib.rules import BASELINE_LOOKBACK_DAYS, TREE_SHEETS
from releaf_pipeline.lib.trees import format_trees, trees

A = date(2026, 11, 10)


def d(offset: int, base: date = A) -> date:
    return base + timedelta(days=offset)


def make_readings(rows: list[tuple[int, str, date, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["feed_id", "device_id", "day", "life_count"]).astype(
        {"feed_id": np.int64, "life_count": np.int64}
    )


def make_feeds(rows: list[tuple[int, date, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["feed_id", "activation_date", "scope"])


def make_devices(rows: list[tuple[int, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["feed_id", "device_id", "managed"])


NO_DEVICES = make_devices([])
ONE_FEED = make_feeds([(1, A, "all")])


def deposit_map(result: AccountingResult, feed_id: int = 1) -> dict[date, int]:
    rows = result.deposits[result.deposits["feed_id"] == feed_id]
    return dict(zip(rows["day"].dt.date, rows["pages"].astype(int), strict=True))


def device_row(result: AccountingResult, device_id: str, feed_id: int = 1) -> pd.Series:
    devices = result.devices
    match = devices[(devices["feed_id"] == feed_id) & (devices["device_id"] == device_id)]
    assert len(match) == 1
    return match.iloc[0]


def assert_same(left: AccountingResult, right: AccountingResult) -> None:
    pdt.assert_frame_equal(left.deposits, right.deposits)
    pdt.assert_frame_equal(left.device_pages, right.device_pages)
    pdt.assert_frame_equal(left.devices, right.devices)
    pdt.assert_frame_equal(left.anomalies, right.anomalies)


# --- Output shape -----------------------------------------------------------------------


def test_output_columns_and_dtypes() -> None:
    readings = make_readings([(1, "x", d(-1), 100), (1, "x", d(0), 150), (1, "x", d(1), 20)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(2))

    assert list(result.deposits.columns) == ["feed_id", "day", "pages"]
    assert result.deposits.dtypes.astype(str).tolist() == ["int64", "datetime64[ns]", "int64"]
    assert list(result.device_pages.columns) == ["feed_id", "device_id", "day", "pages"]
    assert result.device_pages["pages"].dtype == np.int64
    assert result.device_pages["day"].dtype == "datetime64[ns]"
    assert list(result.devices.columns) == [
        "feed_id",
        "device_id",
        "managed",
        "in_scope",
        "initial_count",
        "latest_count",
        "life_count",
        "first_day",
        "latest_day",
    ]
    dtypes = result.devices.dtypes.astype(str).to_dict()
    assert dtypes["managed"] == "bool"
    assert dtypes["in_scope"] == "bool"
    assert dtypes["initial_count"] == "Int64"
    assert dtypes["latest_count"] == "Int64"
    assert dtypes["life_count"] == "int64"
    assert dtypes["first_day"] == "datetime64[ns]"
    assert list(result.anomalies.columns) == [
        "feed_id",
        "device_id",
        "day",
        "kind",
        "previous_count",
        "count",
    ]
    assert result.anomalies["previous_count"].dtype == np.int64
    assert result.anomalies["count"].dtype == np.int64


# --- Rules 2, 3, 4: baseline and deltas ----------------------------------------------------


def test_baseline_from_reading_in_the_31_days_before_activation() -> None:
    readings = make_readings(
        [
            (1, "x", d(-BASELINE_LOOKBACK_DAYS), 1000),
            (1, "x", d(0), 1040),
            (1, "x", d(1), 1100),
        ]
    )
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(1))

    assert deposit_map(result) == {d(0): 40, d(1): 60}
    row = device_row(result, "x")
    assert row["initial_count"] == 1000
    assert row["latest_count"] == 1100
    assert row["life_count"] == 100
    assert row["first_day"] == pd.Timestamp(A)


def test_baseline_is_the_latest_reading_before_activation() -> None:
    readings = make_readings([(1, "x", d(-20), 500), (1, "x", d(-3), 900), (1, "x", d(0), 950)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(0))

    assert deposit_map(result) == {d(0): 50}
    assert device_row(result, "x")["initial_count"] == 900


def test_reading_32_days_before_activation_is_ignored() -> None:
    readings = make_readings(
        [
            (1, "x", d(-BASELINE_LOOKBACK_DAYS - 1), 1000),
            (1, "x", d(0), 1040),
            (1, "x", d(1), 1100),
        ]
    )
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(1))

    # Falls back to the first reading dated A or later, on whose date it counts 0 pages.
    assert deposit_map(result) == {d(0): 0, d(1): 60}
    row = device_row(result, "x")
    assert row["initial_count"] == 1040
    assert row["life_count"] == 60
    assert row["first_day"] == pd.Timestamp(A)


def test_device_first_seen_after_activation() -> None:
    readings = make_readings(
        [
            (1, "old", d(-1), 10),
            (1, "old", d(4), 30),
            (1, "new", d(3), 5000),
            (1, "new", d(4), 5007),
        ]
    )
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(4))

    assert deposit_map(result) == {d(0): 0, d(1): 0, d(2): 0, d(3): 0, d(4): 20 + 7}
    new = device_row(result, "new")
    assert new["initial_count"] == 5000
    assert new["first_day"] == pd.Timestamp(d(3))
    assert new["life_count"] == 7
    pages = result.device_pages
    assert pages[(pages["device_id"] == "new")]["pages"].tolist() == [0, 7]


def test_no_deposit_rows_before_activation() -> None:
    readings = make_readings([(1, "x", d(-5), 10), (1, "x", d(-1), 99), (1, "x", d(1), 100)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(1))

    assert deposit_map(result) == {d(0): 0, d(1): 1}
    assert result.device_pages["day"].dt.date.tolist() == [d(1)]


def test_device_without_baseline_yet_and_listed_device_without_readings() -> None:
    readings = make_readings([(1, "x", d(-40), 10)])
    devices = make_devices([(1, "x", True), (1, "silent", True)])
    result = compute_deposits(readings, ONE_FEED, devices, d(2))

    assert deposit_map(result) == {d(0): 0, d(1): 0, d(2): 0}
    for device_id in ("x", "silent"):
        row = device_row(result, device_id)
        assert row["initial_count"] is pd.NA
        assert row["latest_count"] is pd.NA
        assert row["life_count"] == 0
        assert pd.isna(row["first_day"])


def test_device_seen_only_outside_the_window_is_unknown() -> None:
    readings = make_readings([(1, "old", d(-32), 10), (1, "future", d(3), 10), (1, "x", d(0), 1)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(2))

    assert result.devices["device_id"].tolist() == ["x"]


def test_baseline_unknown_until_the_horizon_reaches_the_day_before_activation() -> None:
    readings = make_readings([(1, "x", d(-10), 10), (1, "x", d(-2), 20)])

    early = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(-2))
    assert early.deposits.empty
    assert device_row(early, "x")["initial_count"] is pd.NA
    assert device_row(early, "x")["latest_count"] == 20

    eve = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(-1))
    assert eve.deposits.empty
    assert device_row(eve, "x")["initial_count"] == 20


# --- Rule 1: scope ---------------------------------------------------------------------------


def test_scope_managed_excludes_unmanaged_and_unlisted_devices() -> None:
    feeds = make_feeds([(1, A, "managed"), (2, A, "all")])
    readings = make_readings(
        [
            (feed, device, day, count)
            for feed in (1, 2)
            for device, first in (("managed", 100), ("unmanaged", 1000), ("unlisted", 5000))
            for day, count in ((d(-1), first), (d(0), first + 10))
        ]
    )
    devices = make_devices(
        [
            (1, "managed", True),
            (1, "unmanaged", False),
            (2, "managed", True),
            (2, "unmanaged", False),
        ]
    )
    result = compute_deposits(readings, feeds, devices, d(0))

    assert deposit_map(result, 1) == {d(0): 10}
    assert deposit_map(result, 2) == {d(0): 30}
    flags = result.devices.set_index(["feed_id", "device_id"])[["managed", "in_scope"]]
    assert flags.loc[(1, "managed")].tolist() == [True, True]
    assert flags.loc[(1, "unmanaged")].tolist() == [False, False]
    assert flags.loc[(1, "unlisted")].tolist() == [False, False]
    assert flags.loc[(2, "unlisted")].tolist() == [False, True]
    assert set(result.device_pages[result.device_pages["feed_id"] == 1]["device_id"]) == {"managed"}


def test_unknown_scope_is_rejected() -> None:
    with pytest.raises(ValueError, match="scope"):
        compute_deposits(make_readings([]), make_feeds([(1, A, "some")]), NO_DEVICES, A)


# --- Rule 4: meter resets ----------------------------------------------------------------------


def test_meter_reset_counts_the_new_count_and_is_recorded() -> None:
    readings = make_readings(
        [(1, "x", d(-1), 90_000), (1, "x", d(0), 90_100), (1, "x", d(1), 35), (1, "x", d(2), 50)]
    )
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(2))

    assert deposit_map(result) == {d(0): 100, d(1): 35, d(2): 15}
    anomalies = result.anomalies
    assert len(anomalies) == 1
    anomaly = anomalies.iloc[0]
    assert anomaly["feed_id"] == 1
    assert anomaly["device_id"] == "x"
    assert anomaly["day"] == pd.Timestamp(d(1))
    assert anomaly["kind"] == "meter_reset"
    assert anomaly["previous_count"] == 90_100
    assert anomaly["count"] == 35
    assert device_row(result, "x")["life_count"] == 150


def test_meter_reset_against_the_baseline_on_activation_day() -> None:
    readings = make_readings([(1, "x", d(-3), 700), (1, "x", d(0), 12)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(0))

    assert deposit_map(result) == {d(0): 12}
    assert result.anomalies[["previous_count", "count"]].values.tolist() == [[700, 12]]


def test_reset_before_activation_is_not_an_anomaly() -> None:
    readings = make_readings([(1, "x", d(-5), 700), (1, "x", d(-2), 3), (1, "x", d(0), 10)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(0))

    assert deposit_map(result) == {d(0): 7}
    assert result.anomalies.empty


def test_reset_of_an_out_of_scope_device_is_not_an_anomaly() -> None:
    feeds = make_feeds([(1, A, "managed")])
    readings = make_readings([(1, "x", d(-1), 700), (1, "x", d(0), 10)])
    result = compute_deposits(readings, feeds, make_devices([(1, "x", False)]), d(0))

    assert result.anomalies.empty
    assert deposit_map(result) == {d(0): 0}


# --- Rule 4: glitches ----------------------------------------------------------------------


def meter_events(result: AccountingResult) -> list[tuple]:
    return [
        (day.date(), kind, previous, count)
        for _f, _d, day, kind, previous, count in result.anomalies.itertuples(
            index=False, name=None
        )
    ]


def test_a_one_page_dip_is_a_glitch_not_a_reset() -> None:
    readings = make_readings(
        [(1, "x", d(-1), 55_000), (1, "x", d(0), 55_100), (1, "x", d(1), 55_099),
         (1, "x", d(2), 55_150)]
    )  # fmt: skip
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(2))

    # The high of 55,100 stands through the dip, so no page is counted twice.
    assert deposit_map(result) == {d(0): 100, d(1): 0, d(2): 50}
    assert meter_events(result) == [(d(1), "meter_glitch", 55_100, 55_099)]
    row = device_row(result, "x")
    assert (row["initial_count"], row["latest_count"], row["life_count"]) == (55_000, 55_150, 150)
    assert result.resets.empty
    assert result.glitches[["previous_count", "count", "in_scope"]].values.tolist() == [
        [55_100, 55_099, True]
    ]


def test_the_high_stands_until_the_count_passes_it() -> None:
    readings = make_readings(
        [(1, "x", d(-1), 1_000), (1, "x", d(0), 900), (1, "x", d(1), 950),
         (1, "x", d(2), 1_000), (1, "x", d(3), 1_030)]
    )  # fmt: skip
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(3))

    assert deposit_map(result) == {d(0): 0, d(1): 0, d(2): 0, d(3): 30}
    assert meter_events(result) == [
        (d(0), "meter_glitch", 1_000, 900),
        (d(1), "meter_glitch", 1_000, 950),
    ]
    assert device_row(result, "x")["life_count"] == 30


def test_a_drop_below_half_is_a_reset_and_to_half_a_glitch() -> None:
    readings = make_readings(
        [(1, "x", d(-1), 1_000), (1, "x", d(0), 500), (1, "x", d(1), 499), (1, "x", d(2), 520)]
    )
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(2))

    # 500 is half the standing 1,000: a glitch. 499 is below half of it: a reset.
    assert deposit_map(result) == {d(0): 0, d(1): 499, d(2): 21}
    assert meter_events(result) == [
        (d(0), "meter_glitch", 1_000, 500),
        (d(1), "meter_reset", 1_000, 499),
    ]
    assert device_row(result, "x")["life_count"] == 520


def test_a_reset_after_a_glitch_counts_from_zero_and_the_old_high_is_gone() -> None:
    readings = make_readings(
        [(1, "x", d(-1), 40_000), (1, "x", d(0), 40_010), (1, "x", d(1), 40_009),
         (1, "x", d(2), 25), (1, "x", d(3), 24), (1, "x", d(4), 60), (1, "x", d(5), 10)]
    )  # fmt: skip
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(5))

    assert deposit_map(result) == {d(0): 10, d(1): 0, d(2): 25, d(3): 0, d(4): 35, d(5): 10}
    assert meter_events(result) == [
        (d(1), "meter_glitch", 40_010, 40_009),
        (d(2), "meter_reset", 40_010, 25),
        (d(3), "meter_glitch", 25, 24),
        (d(5), "meter_reset", 60, 10),
    ]
    assert device_row(result, "x")["life_count"] == 80


def test_a_glitch_before_activation_is_not_an_anomaly() -> None:
    readings = make_readings([(1, "x", d(-3), 700), (1, "x", d(-1), 699), (1, "x", d(0), 710)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(0))

    # The baseline is count(X, A - 1) as read (rule 3).
    assert deposit_map(result) == {d(0): 11}
    assert result.anomalies.empty and result.glitches.empty


def test_a_glitch_of_an_out_of_scope_device_is_kept_but_not_an_anomaly() -> None:
    feeds = make_feeds([(1, A, "managed")])
    readings = make_readings([(1, "x", d(-1), 700), (1, "x", d(0), 699), (1, "x", d(1), 705)])
    result = compute_deposits(readings, feeds, make_devices([(1, "x", False)]), d(1))

    assert result.anomalies.empty
    assert result.glitches[["previous_count", "count", "in_scope"]].values.tolist() == [
        [700, 699, False]
    ]
    assert device_row(result, "x")["life_count"] == 5


# --- Rule 4: gaps and late readings ---------------------------------------------------------------


def test_pages_over_a_gap_land_on_the_next_reading_date() -> None:
    readings = make_readings([(1, "x", d(-1), 100), (1, "x", d(0), 110), (1, "x", d(4), 190)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(5))

    assert deposit_map(result) == {d(0): 10, d(1): 0, d(2): 0, d(3): 0, d(4): 80, d(5): 0}
    assert result.device_pages["day"].dt.date.tolist() == [d(0), d(4)]


def test_late_readings_move_pages_to_their_own_dates() -> None:
    on_time = [(1, "x", d(-1), 100), (1, "x", d(0), 110), (1, "x", d(4), 190)]
    late = [(1, "x", d(2), 150), (1, "x", d(3), 170)]
    before = compute_deposits(make_readings(on_time), ONE_FEED, NO_DEVICES, d(4))
    after = compute_deposits(make_readings(on_time + late), ONE_FEED, NO_DEVICES, d(4))

    assert deposit_map(before) == {d(0): 10, d(1): 0, d(2): 0, d(3): 0, d(4): 80}
    assert deposit_map(after) == {d(0): 10, d(1): 0, d(2): 40, d(3): 20, d(4): 20}
    assert sum(deposit_map(before).values()) == sum(deposit_map(after).values())


def test_readings_after_through_are_ignored() -> None:
    readings = make_readings([(1, "x", d(-1), 100), (1, "x", d(1), 110), (1, "x", d(3), 500)])
    result = compute_deposits(readings, ONE_FEED, NO_DEVICES, d(2))

    assert deposit_map(result) == {d(0): 0, d(1): 10, d(2): 0}
    assert device_row(result, "x")["latest_count"] == 110


# --- Rule 5: several feeds, per-feed horizons ----------------------------------------------------


def test_several_feeds_at_once_share_device_ids_without_mixing() -> None:
    feeds = make_feeds([(7, d(2), "all"), (3, A, "all")])
    readings = make_readings(
        [
            (3, "x", d(-1), 0),
            (3, "x", d(2), 30),
            (7, "x", d(1), 1000),
            (7, "x", d(2), 1500),
            (7, "y", d(3), 40),
            (99, "x", d(2), 123456),  # a feed not asked for is ignored
        ]
    )
    result = compute_deposits(readings, feeds, NO_DEVICES, d(3))

    assert deposit_map(result, 3) == {d(0): 0, d(1): 0, d(2): 30, d(3): 0}
    assert deposit_map(result, 7) == {d(2): 500, d(3): 0}
    assert result.deposits["feed_id"].tolist() == [3, 3, 3, 3, 7, 7]
    assert 99 not in set(result.devices["feed_id"])


def test_per_feed_through_series() -> None:
    feeds = make_feeds([(1, A, "all"), (2, A, "all"), (3, A, "all")])
    readings = make_readings(
        [(feed, "x", d(day), 100 * day + 1000) for feed in (1, 2, 3) for day in range(-1, 5)]
    )
    through = pd.Series({1: d(4), 2: pd.Timestamp(d(1)), 3: d(-3)})
    result = compute_deposits(readings, feeds, NO_DEVICES, through)

    assert deposit_map(result, 1) == {d(i): 100 for i in range(5)}
    assert deposit_map(result, 2) == {d(0): 100, d(1): 100}
    assert deposit_map(result, 3) == {}
    assert device_row(result, "x", 2)["latest_count"] == 1100


def test_through_series_missing_a_feed_is_rejected() -> None:
    feeds = make_feeds([(1, A, "all"), (2, A, "all")])
    with pytest.raises(ValueError, match="through"):
        compute_deposits(make_readings([]), feeds, NO_DEVICES, pd.Series({1: A}))


def test_feed_without_readings_gets_zero_deposits() -> None:
    result = compute_deposits(make_readings([]), ONE_FEED, NO_DEVICES, d(2))

    assert deposit_map(result) == {d(0): 0, d(1): 0, d(2): 0}
    assert result.device_pages.empty
    assert result.devices.empty
    assert result.anomalies.empty


# --- Rule 7: idempotent re-collection ---------------------------------------------------------


def fleet_readings() -> pd.DataFrame:
    rows = []
    for feed in (1, 2):
        for device, step in (("a", 13), ("b", 7), ("c", 29)):
            count = 1000 * feed
            for offset in range(-35, 12):
                if (offset + step) % 4 == 0:
                    continue
                count = 5 if offset == 6 and device == "b" else count + step * (offset % 3)
                rows.append((feed, device, d(offset), count))
    return make_readings(rows)


FLEET_FEEDS = make_feeds([(1, A, "all"), (2, d(3), "managed")])
FLEET_DEVICES = make_devices([(2, "a", True), (2, "b", True), (2, "c", False)])


def test_shuffled_input_gives_identical_results() -> None:
    readings = fleet_readings()
    expected = compute_deposits(readings, FLEET_FEEDS, FLEET_DEVICES, d(11))
    assert not expected.anomalies.empty
    for seed in range(5):
        shuffled = readings.sample(frac=1, random_state=seed).reset_index(drop=True)
        feeds = FLEET_FEEDS.sample(frac=1, random_state=seed)
        devices = FLEET_DEVICES.sample(frac=1, random_state=seed)
        assert_same(compute_deposits(shuffled, feeds, devices, d(11)), expected)


def test_recollecting_days_in_any_order_gives_the_same_deposits() -> None:
    readings = fleet_readings()
    expected = compute_deposits(readings, FLEET_FEEDS, FLEET_DEVICES, d(11))

    # First a partial collection, then every day again (some of them twice), in reverse.
    partial = readings[readings["day"] <= d(4)]
    first = compute_deposits(partial, FLEET_FEEDS, FLEET_DEVICES, d(11))
    assert not first.deposits.equals(expected.deposits)
    recollected = pd.concat(
        [partial, readings.iloc[::-1], readings[readings["day"] == d(2)]], ignore_index=True
    )
    assert_same(compute_deposits(recollected, FLEET_FEEDS, FLEET_DEVICES, d(11)), expected)


def test_conflicting_readings_for_one_day_are_rejected() -> None:
    readings = make_readings([(1, "x", d(0), 10), (1, "x", d(0), 11)])
    with pytest.raises(ValueError, match="conflicting"):
        compute_deposits(readings, ONE_FEED, NO_DEVICES, d(0))


# --- Windowed recomputation ----------------------------------------------------------------------


def window_readings(
    readings: pd.DataFrame,
    feeds: pd.DataFrame,
    start: date,
    glitches: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The readings a recomputation from ``start`` needs, as the store loads them: per
    device, its latest reading dated in [A - 31, start - 1], plus every reading from
    ``start`` on. Readings of feeds not in ``feeds`` are dropped. A latest earlier reading
    that is one of ``glitches`` carries the high that stood after it instead."""
    activation = readings["feed_id"].map(
        dict(zip(feeds["feed_id"], pd.to_datetime(feeds["activation_date"]), strict=True))
    )
    day = pd.to_datetime(readings["day"])
    known = activation.notna()
    lookback = activation - pd.Timedelta(days=BASELINE_LOOKBACK_DAYS)
    later = known & (day >= pd.Timestamp(start))
    earlier = readings[known & (day < pd.Timestamp(start)) & (day >= lookback)]
    seeds = earlier.assign(_day=day[earlier.index]).sort_values("_day")
    seeds = seeds.drop_duplicates(["feed_id", "device_id"], keep="last").index
    out = readings[later | readings.index.isin(seeds)].copy()
    if glitches is not None and not glitches.empty:
        keys = ["feed_id", "device_id", "day"]
        high = glitches.assign(day=pd.to_datetime(glitches["day"])).set_index(keys)
        at = pd.MultiIndex.from_arrays(
            [out["feed_id"], out["device_id"], pd.to_datetime(out["day"])], names=keys
        )
        stood = high["previous_count"].reindex(at).to_numpy()
        seed = out.index.isin(seeds) & ~np.isnan(stood.astype(float))
        out.loc[seed, "life_count"] = stood[seed].astype(np.int64)
    return out


def results_from(result: AccountingResult, start: date) -> tuple[pd.DataFrame, ...]:
    since = pd.Timestamp(start)
    return tuple(
        frame[frame["day"] >= since].reset_index(drop=True)
        for frame in (result.deposits, result.device_pages, result.anomalies)
    )


@pytest.mark.parametrize("offset", [-40, -10, -1, 0, 1, 5, 6, 7, 11, 12])
def test_window_readings_keeps_results_from_the_window_start(offset: int) -> None:
    readings = fleet_readings()
    start = d(offset)
    windowed = window_readings(readings, FLEET_FEEDS, start)
    assert len(windowed) < len(readings) or offset <= -35

    full = compute_deposits(readings, FLEET_FEEDS, FLEET_DEVICES, d(11))
    partial = compute_deposits(windowed, FLEET_FEEDS, FLEET_DEVICES, d(11))
    for whole, window in zip(results_from(full, start), results_from(partial, start), strict=True):
        pdt.assert_frame_equal(whole, window)


def test_window_readings_keeps_only_the_latest_earlier_reading_per_device() -> None:
    readings = make_readings(
        [
            (1, "x", d(-40), 1),
            (1, "x", d(-3), 2),
            (1, "x", d(1), 3),
            (1, "x", d(5), 4),
            (1, "y", d(-31), 5),
            (1, "y", d(-32), 6),
            (1, "z", d(-50), 7),
            (1, "x", d(6), 8),
        ]
    )
    windowed = window_readings(readings, ONE_FEED, d(5))

    assert windowed["life_count"].tolist() == [3, 4, 5, 8]


# --- Rule 6: months and trees ----------------------------------------------------------------


def test_trees_are_exact_decimals() -> None:
    assert TREE_SHEETS == 8333
    assert trees(8333) == Decimal(1)
    assert isinstance(trees(8333), Decimal)
    assert trees(2 * 8333) == 2
    assert trees(0) == 0
    assert trees(1) * 8333 == pytest.approx(Decimal(1))
    assert trees(11650).as_tuple().digits[:6] == (1, 3, 9, 8, 0, 5)
    assert trees(np.int64(8333)) == 1
    with pytest.raises(TypeError):
        trees(8333.0)  # type: ignore[arg-type]


def test_format_trees_rounds_half_up_to_two_decimals() -> None:
    assert format_trees(trees(11650)) == "1.40"
    assert format_trees(trees(8333)) == "1.00"
    assert format_trees(Decimal("0.125")) == "0.13"
    assert format_trees(Decimal("2.675")) == "2.68"
    assert format_trees(Decimal(0)) == "0.00"
    assert format_trees(trees(10**12)) == "120004800.19"


# --- Randomized cross-check against a literal, day-by-day reference -------------------------------


def reference(
    readings: list[tuple[int, str, date, int]],
    feeds: list[tuple[int, date, str]],
    devices: list[tuple[int, str, bool]],
    through: dict[int, date],
) -> tuple[dict, dict, dict, set]:
    """The contract's rules, applied one device and one day at a time."""
    managed = {(feed, device): flag for feed, device, flag in devices}
    deposits: dict[tuple[int, date], int] = {}
    device_pages: dict[tuple[int, str, date], int] = {}
    summaries: dict[tuple[int, str], tuple] = {}
    anomalies: set[tuple[int, str, date, int, int]] = set()

    for feed, activation, scope in feeds:
        last = through[feed]
        days = [activation + timedelta(days=i) for i in range((last - activation).days + 1)]
        for day in days:
            deposits[(feed, day)] = 0
        window_start = activation - timedelta(days=BASELINE_LOOKBACK_DAYS)
        # Readings outside [A - 31, through] are ignored, so a device known only from them
        # is not known at all unless the device list names it.
        names = {r[1] for r in readings if r[0] == feed and window_start <= r[2] <= last} | {
            device for f, device, _ in devices if f == feed
        }
        for device in names:
            is_managed = managed.get((feed, device), False)
            in_scope = scope == "all" or is_managed
            read = {
                day: count
                for f, x, day, count in readings
                if f == feed and x == device and window_start <= day <= last
            }
            latest = read[max(read)] if read else None
            baseline, first_day = _reference_baseline(read, activation, last)
            life = 0
            if baseline is not None:
                pages_by_day = _reference_pages(read, days, baseline)
                life = sum(pages for pages, _ in pages_by_day.values())
                for day, (pages, anomaly) in pages_by_day.items():
                    if in_scope:
                        deposits[(feed, day)] += pages
                        device_pages[(feed, device, day)] = pages
                        if anomaly:
                            anomalies.add((feed, device, day, *anomaly))
            summaries[(feed, device)] = (is_managed, in_scope, baseline, latest, life, first_day)
    return deposits, device_pages, summaries, anomalies


def _reference_baseline(
    read: dict[date, int], activation: date, last: date
) -> tuple[int | None, date | None]:
    """The baseline count and the first day it counts from: the last reading before the
    activation, else the first on or after it; none while the feed has not started."""
    if last < activation - timedelta(days=1):
        return None, None
    before = [day for day in read if day < activation]
    after = sorted(day for day in read if day >= activation)
    if before:
        return read[max(before)], activation
    if after:
        return read[after[0]], after[0]
    return None, None


def _reference_pages(
    read: dict[date, int], days: list[date], baseline: int
) -> dict[date, tuple[int, tuple[str, int, int] | None]]:
    """Each read day's pages and the anomaly it records, walking from the baseline."""
    out: dict[date, tuple[int, tuple[str, int, int] | None]] = {}
    # The standing count: the last count, or the high a glitch left standing.
    standing = baseline
    for day in days:
        if day not in read:
            continue
        current = read[day]
        if current >= standing:
            out[day] = (current - standing, None)
        elif 2 * current < standing:
            out[day] = (current, ("meter_reset", standing, current))
        else:
            out[day] = (0, ("meter_glitch", standing, current))
        if current >= standing or 2 * current < standing:
            standing = current
    return out


def random_case(rng: random.Random) -> tuple[list, list, list, dict | date]:
    base = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 700))
    feeds = []
    readings = []
    devices = []
    feed_ids = rng.sample(range(1, 50), rng.randint(1, 3))
    for feed in feed_ids:
        activation = base + timedelta(days=rng.randint(-10, 10))
        feeds.append((feed, activation, rng.choice(["all", "managed"])))
        for n in range(rng.randint(0, 5)):
            device = f"d{n}"
            if rng.random() < 0.8:
                devices.append((feed, device, rng.random() < 0.6))
            count = rng.randint(0, 100_000)
            presence = rng.uniform(0.2, 1.0)
            # Some devices report from well before activation, others only join later.
            first_seen = rng.choice([-45, rng.randint(-45, 20)])
            for offset in range(-45, 25):
                count += rng.randint(0, 300)
                if rng.random() < 0.05:
                    count = rng.randint(0, 50)  # meter reset
                # A glitch: the DCA reports a little less than the meter's count.
                read = max(0, count - rng.randint(1, 400)) if rng.random() < 0.08 else count
                if offset >= first_seen and rng.random() < presence:
                    readings.append((feed, device, activation + timedelta(days=offset), read))
        if rng.random() < 0.2:
            devices.append((feed, "listed-only", rng.random() < 0.5))
    if rng.random() < 0.5:
        through: dict | date = base + timedelta(days=rng.randint(-15, 30))
    else:
        through = {feed: base + timedelta(days=rng.randint(-15, 30)) for feed in feed_ids}
    return readings, feeds, devices, through


@pytest.mark.parametrize("seed", range(50))
def test_matches_the_day_by_day_reference(seed: int) -> None:
    rng = random.Random(seed)
    readings, feeds, devices, through = random_case(rng)
    horizons = through if isinstance(through, dict) else {f[0]: through for f in feeds}
    want_deposits, want_pages, want_devices, want_anomalies = reference(
        readings, feeds, devices, horizons
    )

    shuffled = rng.sample(readings, len(readings))
    result = compute_deposits(
        make_readings(shuffled),
        make_feeds(feeds),
        make_devices(devices),
        pd.Series(through) if isinstance(through, dict) else through,
    )

    got_deposits = {
        (feed, day.date()): pages
        for feed, day, pages in result.deposits.itertuples(index=False, name=None)
    }
    assert got_deposits == want_deposits
    assert list(got_deposits) == sorted(got_deposits)

    got_pages = {
        (feed, device, day.date()): pages
        for feed, device, day, pages in result.device_pages.itertuples(index=False, name=None)
    }
    assert got_pages == want_pages

    got_devices = {
        (row.feed_id, row.device_id): (
            row.managed,
            row.in_scope,
            None if row.initial_count is pd.NA else row.initial_count,
            None if row.latest_count is pd.NA else row.latest_count,
            row.life_count,
            None if pd.isna(row.first_day) else row.first_day.date(),
        )
        for row in result.devices.itertuples(index=False)
    }
    assert got_devices == want_devices

    got_anomalies = {
        (feed, device, day.date(), kind, previous, count)
        for feed, device, day, kind, previous, count in result.anomalies.itertuples(
            index=False, name=None
        )
    }
    assert got_anomalies == want_anomalies
    assert len(result.anomalies) == len(want_anomalies)

    # The windowed recomputation agrees with the full one from any window start.
    start = rng.choice(feeds)[1] + timedelta(days=rng.randint(-35, 25))
    windowed = compute_deposits(
        window_readings(make_readings(shuffled), make_feeds(feeds), start, result.glitches),
        make_feeds(feeds),
        make_devices(devices),
        pd.Series(through) if isinstance(through, dict) else through,
    )
    for whole, window in zip(
        results_from(result, start), results_from(windowed, start), strict=True
    ):
        pdt.assert_frame_equal(whole, window)
