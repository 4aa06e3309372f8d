"""What a recomputation changes: deposits, meter resets and glitches, and device counts
to write."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from releaf_pipeline.lib.store.deposits.load import EPOCH, METER_GLITCH, METER_RESET
from releaf_pipeline.lib.store.deposits.work import Work
from releaf_pipeline.lib.store.feed_accounts import AccountHistory

OUT_OF_SCOPE = "out of scope that day: its pages are not deposited"


def per_feed(frame: pd.DataFrame, values: dict[int, date]) -> np.ndarray:
    """The per-feed day of `values` for each row of `frame`, as datetime64."""
    mapped = frame["feed_id"].map({k: pd.Timestamp(v) for k, v in values.items()})
    return mapped.to_numpy(dtype="datetime64[ns]")


def changed_deposits(
    new: pd.DataFrame,
    old: pd.DataFrame,
    start: dict[int, date],
    histories: dict[int, AccountHistory],
    now: datetime,
) -> dict[str, list]:
    """The deposits to write, as columns."""
    new = new[new["day"].to_numpy() >= per_feed(new, start)]
    feed_ids = new["feed_id"].tolist()
    days = dates(new["day"])
    # Each day's account from the feed's history: a day recomputed after the feed moved
    # to another account stays on the account it belonged to.
    single = {f: h.only for f, h in histories.items()}
    new = new.assign(
        account=[single[f] or histories[f].on(d) for f, d in zip(feed_ids, days, strict=True)]
    )
    if not old.empty:
        old = old.astype({"feed_id": np.int64, "pages": np.int64})
        merged = new.merge(
            old.rename(columns={"pages": "old_pages", "account": "old_account"}),
            on=["feed_id", "day"],
            how="left",
        )
        new = merged[
            merged["old_pages"].isna()
            | (merged["old_pages"] != merged["pages"])
            | (merged["old_account"] != merged["account"])
        ]
    feed_ids = new["feed_id"].tolist()
    return {
        "feed_id": feed_ids,
        "day": dates(new["day"]),
        "account": new["account"].tolist(),
        "pages": new["pages"].tolist(),
        "updated_at": [now] * len(feed_ids),
    }


def dates(days: pd.Series) -> list[date]:
    """The days as `date` objects; a batch has few distinct ones, each made once."""
    numbers = days.to_numpy().astype("datetime64[D]").astype(np.int64)
    made = {int(n): EPOCH + timedelta(days=int(n)) for n in np.unique(numbers)}
    return [made[n] for n in numbers.tolist()]


def meter_changes(
    new_resets: pd.DataFrame,
    new_glitches: pd.DataFrame,
    old: pd.DataFrame,
    window: dict[int, date],
    now: datetime,
) -> tuple[list[dict], list[dict], dict[tuple[int, str], int]]:
    """Meter resets and glitches to write and to drop on the recomputed days (from `window`
    per feed), and each device's sum of the counts its resets started from (for LifeCount)."""
    new_keys: dict[tuple[int, str, date, str], tuple[int, int, bool]] = {}
    for kind, frame in ((METER_RESET, new_resets), (METER_GLITCH, new_glitches)):
        frame = frame[frame["day"].to_numpy() >= per_feed(frame, window)]
        for f, d, day, p, c, s in frame[
            ["feed_id", "device_id", "day", "previous_count", "count", "in_scope"]
        ].itertuples(index=False, name=None):
            new_keys[(int(f), d, day.date(), kind)] = (int(p), int(c), bool(s))
    totals: dict[tuple[int, str], int] = {}
    old_keys: dict[tuple[int, str, date, str], tuple[int, int, bool]] = {}
    for f, d, day, kind, p, c, detail in old.itertuples(index=False, name=None):
        key = (int(f), d, day.date(), kind)
        if key[2] >= window[key[0]]:
            old_keys[key] = (p, c, detail != OUT_OF_SCOPE)
        elif kind == METER_RESET and p is not None:
            totals[(key[0], d)] = totals.get((key[0], d), 0) + int(p)
    for (f, d, _day, kind), (p, _c, _s) in new_keys.items():
        if kind == METER_RESET:
            totals[(f, d)] = totals.get((f, d), 0) + p
    drop = [
        {"f": f, "d": d, "day": day, "k": kind}
        for (f, d, day, kind) in old_keys.keys() - new_keys.keys()
    ]
    write = [
        {"feed_id": f, "device_id": d, "day": day, "kind": kind,
         "previous_count": p, "count": c,
         "detail": None if s else OUT_OF_SCOPE, "detected_at": now}
        for (f, d, day, kind), (p, c, s) in new_keys.items()
        if old_keys.get((f, d, day, kind)) != (p, c, s)
    ]  # fmt: skip
    return write, drop, totals


def device_counts(
    summary: pd.DataFrame,
    stored: pd.DataFrame,
    seeds: pd.DataFrame,
    glitches: pd.DataFrame,
    reset_totals: dict[tuple[int, str], int],
    by_id: dict[int, Work],
) -> list[dict]:
    """InitialCount, LatestCount and LifeCount of the devices the recomputation saw.

    `seeds` are the readings the recomputation started from (with the `standing` count it
    counted from), `glitches` the glitches it found."""
    keys = ["feed_id", "device_id"]
    frame = summary[[*keys, "initial_count", "latest_count", "life_count", "latest_day"]].astype(
        {"feed_id": np.int64}
    )
    frame = frame.merge(
        stored[[*keys, "initial_count"]]
        .astype({"feed_id": np.int64})
        .rename(columns={"initial_count": "stored_initial"}),
        on=keys,
        how="left",
    )
    full = frame["feed_id"].map({fid: w.full for fid, w in by_id.items()}).to_numpy(dtype=bool)
    has_readings = frame["latest_day"].notna().to_numpy()
    seeded = pd.MultiIndex.from_frame(frame[keys]).isin(
        pd.MultiIndex.from_frame(seeds[keys].astype({"feed_id": np.int64}))
    )
    # From the baseline the computation saw every page itself; from a later day, a seeded
    # device keeps the baseline the days before fixed (its seed is count(X, S - 1)).
    initial = frame["initial_count"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    stored_initial = pd.to_numeric(frame["stored_initial"]).to_numpy(dtype=float, na_value=np.nan)
    initial = np.where(~full & seeded, stored_initial, initial)
    latest = frame["latest_count"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    latest, standing = _latest_and_standing(frame, latest, seeds, glitches)
    resets = np.array(
        [
            reset_totals.get(k, 0)
            for k in zip(frame["feed_id"].tolist(), frame["device_id"], strict=True)
        ],
        dtype=float,
    )
    known = ~np.isnan(initial) & ~np.isnan(latest)
    life = np.where(
        full,
        frame["life_count"].to_numpy(dtype=float),
        np.where(known, standing - initial + resets, 0),
    )
    keep = full | has_readings

    def ints(values: np.ndarray) -> list[int | None]:
        return [None if np.isnan(v) else int(v) for v in values[keep]]

    counted = dates(frame["latest_day"][keep].fillna(pd.Timestamp(EPOCH)))
    counted = [None if h else c for c, h in zip(counted, ~has_readings[keep], strict=True)]
    return [
        {"f": f, "d": d, "initial": i, "latest": la, "life": li, "counted": c}
        for f, d, i, la, li, c in zip(
            frame["feed_id"].to_numpy()[keep].tolist(),
            frame["device_id"].to_numpy()[keep].tolist(),
            ints(initial),
            ints(latest),
            ints(life),
            counted,
            strict=True,
        )
    ]


def _latest_and_standing(
    frame: pd.DataFrame, latest: np.ndarray, seeds: pd.DataFrame, glitches: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Each device's LatestCount (its latest reading as read) and its standing count (the
    high a glitch left standing, when its latest reading is one)."""
    keys = ["feed_id", "device_id", "latest_day"]
    seed = seeds[["feed_id", "device_id", "day", "life_count", "standing"]].astype(
        {"feed_id": np.int64}
    )
    high = glitches[["feed_id", "device_id", "day", "previous_count"]].astype({"feed_id": np.int64})
    merged = (
        frame[keys]
        .merge(seed.rename(columns={"day": "latest_day"}), on=keys, how="left")
        .merge(high.rename(columns={"day": "latest_day"}), on=keys, how="left")
    )
    # A device whose latest reading is its seed was counted from the seed's standing count:
    # its reading as read is the seed's own.
    at_seed = merged["standing"].notna().to_numpy()
    raw = pd.to_numeric(merged["life_count"]).to_numpy(dtype=float, na_value=np.nan)
    seed_standing = pd.to_numeric(merged["standing"]).to_numpy(dtype=float, na_value=np.nan)
    glitch_high = pd.to_numeric(merged["previous_count"]).to_numpy(dtype=float, na_value=np.nan)
    standing = np.where(
        at_seed, seed_standing, np.where(np.isnan(glitch_high), latest, glitch_high)
    )
    return np.where(at_seed, raw, latest), standing
