"""What Dagster last showed of each day, so that a day marked stale is published again
only when what it would show has changed.

A day's view of an asset has parts: the figures of its materialization (`FIGURES`) and
the result of each of its checks. Each part shown is recorded as a digest of its content
with its publication: the run, or the runless report, whose materialization of the day
it belongs to. A check result counts as shown only if it judged the day's latest
figures, so a run that stopped between materializing a day and checking it leaves the
day to be published again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from releaf_pipeline.lib.store.engine import Db, reading, upsert, writing
from releaf_pipeline.lib.store.tables import shown_days

FIGURES = "figures"
"""The part of a day's view that is its materialization's figures."""


@dataclass(frozen=True)
class ShownPart:
    """One part of a day's view as it was shown."""

    digest: str
    publication: str


Shown = dict[date, dict[str, ShownPart]]


def shown(db: Db, asset: str, days: Iterable[date]) -> Shown:
    """The parts shown of each of `days` of `asset` (a day never shown has none)."""
    wanted = set(days)
    if not wanted:
        return {}
    with reading(db) as conn:
        rows = conn.execute(
            sa.select(shown_days).where(
                shown_days.c.asset == asset, shown_days.c.day.between(min(wanted), max(wanted))
            )
        ).all()
    out: Shown = {}
    for r in rows:
        if r.day in wanted:
            out.setdefault(r.day, {})[r.part] = ShownPart(r.digest, r.publication)
    return out


def unchanged(parts: Mapping[str, ShownPart], digests: Mapping[str, str]) -> bool:
    """Whether a day whose view would now be `digests` (by part, `FIGURES` among them) is
    shown as it is: every part's digest matches, and every check result judged the
    figures' own publication."""
    figures = parts.get(FIGURES)
    if figures is None or figures.digest != digests[FIGURES]:
        return False
    for part, digest in digests.items():
        seen = parts.get(part)
        if seen is None or seen.digest != digest or seen.publication != figures.publication:
            return False
    return True


def record_shown(
    db: Db, asset: str, part: str, digests: Mapping[date, str], publication: str
) -> None:
    """Record `part` of each day in `digests` as shown by `publication`."""
    rows = [
        {"asset": asset, "day": d, "part": part, "digest": digest, "publication": publication}
        for d, digest in sorted(digests.items())
    ]
    if rows:
        with writing(db) as conn:
            upsert(conn, shown_days, rows, ["asset", "day", "part"])
