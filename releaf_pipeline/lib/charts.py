"""The monthly chart: daily pages per account, as a PNG."""

from __future__ import annotations

import io
from datetime import date

# A Figure of its own, not pyplot: no global state, no display, safe in any thread.
from matplotlib.figure import Figure

MAX_LINES = 10


def _top_accounts(days_by_account: dict[str, dict[date, int]]) -> dict[str, dict[date, int]]:
    """The largest accounts, and the others summed into one line: a readable chart (and a
    fast one) whether a dealer has five accounts or five thousand."""
    if len(days_by_account) <= MAX_LINES + 1:
        return days_by_account
    ranked = sorted(days_by_account, key=lambda a: (-sum(days_by_account[a].values()), a))
    shown = {a: days_by_account[a] for a in ranked[:MAX_LINES]}
    others: dict[date, int] = {}
    for account in ranked[MAX_LINES:]:
        for d, pages in days_by_account[account].items():
            others[d] = others.get(d, 0) + pages
    shown[f"{len(ranked) - MAX_LINES} other accounts"] = others
    return shown


def daily_pages_chart(days_by_account: dict[str, dict[date, int]], title: str) -> bytes:
    """PNG bytes of one line per account over the month's days (the 10 largest and the
    rest together when there are more)."""
    days_by_account = _top_accounts(days_by_account)
    fig = Figure(figsize=(8, 3.2), dpi=100)
    ax = fig.subplots()
    for account in days_by_account:
        days = sorted(days_by_account[account])
        ax.plot(days, [days_by_account[account][d] for d in days], marker=".", label=account)
    ax.set_title(title)
    ax.set_ylabel("pages")
    ax.grid(alpha=0.3)
    if days_by_account:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()
