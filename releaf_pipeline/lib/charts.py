"""The monthly chart: daily pages per account, as a PNG."""

from __future__ import annotations

import io
from datetime import date

import matplotlib

matplotlib.use("Agg")  # no display: charts are rendered to files only
import matplotlib.pyplot as plt


def daily_pages_chart(days_by_account: dict[str, dict[date, int]], title: str) -> bytes:
    """PNG bytes of one line per account over the month's days."""
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    for account in sorted(days_by_account):
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
    plt.close(fig)
    return buf.getvalue()
