"""Expected deposits from the simulator's ground truth, by the contract's rules, the
slow obvious way: a loop per device and day, independent of the vectorised code."""

from __future__ import annotations

from datetime import date, timedelta

from releaf_pipeline.lib.mpsmonitor.fleet import Fleet


def expected_feed_deposits(
    readings: dict[str, dict[date, int]],
    managed: dict[str, bool],
    activation: date,
    scope: str,
    through: date,
) -> dict[date, int]:
    """Pages per day in [activation, through] for one feed."""
    out = {activation + timedelta(days=i): 0 for i in range((through - activation).days + 1)}
    for device, counts in readings.items():
        if scope == "managed" and not managed.get(device, False):
            continue
        pre = [d for d in counts if activation - timedelta(days=31) <= d < activation]
        post = sorted(d for d in counts if activation <= d <= through)
        if pre:
            prev = counts[max(pre)]
        elif post:
            prev = counts[post[0]]
            post = post[1:]  # counting starts on the first reading, with 0 pages
        else:
            continue
        for d in post:
            delta = counts[d] - prev
            out[d] += counts[d] if delta < 0 else delta
            prev = counts[d]
    return out


def expected_account_days(
    fleet: Fleet,
    feeds: list[tuple[str, str, date, str]],
    through: date,
    as_of: date | None,
) -> dict[str, dict[date, int]]:
    """account -> day -> pages, for feeds given as (customer, account, activation, scope)."""
    result: dict[str, dict[date, int]] = {}
    for code, account, activation, scope in feeds:
        if not fleet.has_customer(code):
            continue
        days = expected_feed_deposits(
            fleet.readings(code, as_of=as_of), fleet.managed(code), activation, scope, through
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
