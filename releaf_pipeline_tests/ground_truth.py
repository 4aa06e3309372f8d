"""Expected deposits from the simulator's ground truth, by the contract's rules, the
slow obvious way: a loop per device and day, independent of the vectorised code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from releaf_pipeline.simulator.fleet import Fleet

SeenAt = Callable[[date], datetime]
"""When the first collection covering a day ran (rule 1: scope is what it saw)."""


def expected_feed_deposits(
    readings: dict[str, dict[date, int]],
    managed: dict[str, bool] | Callable[[str, date], bool],
    activation: date,
    scope: str,
    through: date,
) -> dict[date, int]:
    """Pages per day in [activation, through] for one feed. `managed` is each device's
    flag, or a function of (device, day) when the flag changed over time."""
    out = {activation + timedelta(days=i): 0 for i in range((through - activation).days + 1)}

    def in_scope(device: str, day: date) -> bool:
        if scope == "all":
            return True
        if callable(managed):
            return managed(device, day)
        return managed.get(device, False)

    for device, counts in readings.items():
        pre = [d for d in counts if activation - timedelta(days=31) <= d < activation]
        post = sorted(d for d in counts if activation <= d <= through)
        if pre:
            prev = counts[max(pre)]
        elif post:
            prev = counts[post[0]]
            post = post[1:]  # counting starts on the first reading, with 0 pages
        else:
            continue
        # `prev` is the count standing before each reading: the last one, or the high a
        # glitch (a drop to no less than half) left standing (rule 4).
        for d in post:
            count = counts[d]
            if count >= prev:
                pages = count - prev
                prev = count
            elif count < prev / 2:  # a meter reset: it restarted near zero
                pages = count
                prev = count
            else:  # a glitch: nothing counted until the count passes the high again
                pages = 0
            if in_scope(device, d):
                out[d] += pages
    return out


def expected_account_days(
    fleet: Fleet,
    feeds: list[tuple[str, str, date, str]],
    through: date,
    as_of: date | datetime | None,
    seen_at: SeenAt | None = None,
) -> dict[str, dict[date, int]]:
    """account -> day -> pages, for feeds given as (customer, account, activation, scope).

    `as_of=None` counts every reading the simulator will ever serve. With `seen_at`, a
    device of a managed feed is in scope on a day when the simulator showed it managed at
    the moment the first collection covering that day ran; without it, as first listed.
    """
    result: dict[str, dict[date, int]] = {}
    for code, account, activation, scope in feeds:
        if not fleet.has_customer(code):
            continue
        managed: dict[str, bool] | Callable[[str, date], bool] = fleet.managed(code)
        if seen_at is not None:
            flags: dict[date, dict[str, bool]] = {}

            def managed(device: str, day: date, code: str = code, flags: dict = flags) -> bool:
                if day not in flags:
                    flags[day] = fleet.managed_at(code, seen_at(day))
                return flags[day].get(device, False)

        days = expected_feed_deposits(
            fleet.readings(code, as_of=as_of), managed, activation, scope, through
        )
        acct = result.setdefault(account, {})
        for d, p in days.items():
            acct[d] = acct.get(d, 0) + p
    return result


def month_view(
    account_days: dict[str, dict[date, int]], month: str, certificates: dict[str, str] | None = None
) -> dict:
    """The expected `releaf report --json` for `month` (with these certificate ids)."""
    accounts = []
    for account in sorted(account_days):
        days = {
            d: p for d, p in sorted(account_days[account].items()) if d.strftime("%Y-%m") == month
        }
        if not days:
            continue
        pages = sum(days.values())
        accounts.append(
            {
                "account": account,
                "pages": pages,
                "days": {d.isoformat(): p for d, p in days.items()},
                "certificate": (certificates or {}).get(account),
            }
        )
    return {"month": month, "accounts": accounts}
