"""When an account's month closes, and the certificate that closing issues.

A month closes for an account when its last day has been collected for every feed of the
account and none of those feeds is paused, failed, unhealthy or waiting to be collected
again for a day of the month; failing that, once the grace period after the month's end
has passed, with what is known. Months close in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.certificates import Certificate, certificate_id, render_certificate_pdf
from releaf_pipeline.lib.store.certificates import (
    IssuedCertificate,
    account_pages,
    list_certificates,
    pending_adjustment,
    record_certificate,
)
from releaf_pipeline.lib.store.health import feed_health_states
from releaf_pipeline.lib.store.registry import FeedRecord, list_feeds
from releaf_pipeline.lib.store.reports import month_bounds
from releaf_pipeline.lib.store.tables import deposits, feed_days

DEFAULT_GRACE_DAYS = 10
COMPLETE, GRACE = "complete", "grace"


@dataclass
class AccountClose:
    """Whether an account's month can be certified now, and what holds it back."""

    account: str
    month: str
    certified: bool = False
    closed_by: str | None = None
    blockers: list[str] = field(default_factory=list)

    @property
    def closable(self) -> bool:
        """True when a certificate should be issued now."""
        return not self.certified and self.closed_by is not None


def _previous_month(month: str) -> str:
    first, _ = month_bounds(month)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _feed_blockers(
    conn: sa.Connection, feed: FeedRecord, first: date, last: date, health: dict
) -> list[str]:
    days_needed = (last - max(first, feed.activation_date)).days + 1
    rows = conn.execute(
        sa.select(feed_days.c.day, feed_days.c.status).where(
            feed_days.c.feed_id == feed.id,
            feed_days.c.day.between(max(first, feed.activation_date), last),
        )
    ).all()
    name = f"feed {feed.customer_code} ({feed.server_name})"
    out = []
    not_ok = sorted(r.day for r in rows if r.status != "collected")
    if not_ok:
        out.append(f"{name}: {len(not_ok)} day(s) paused or failed, first {not_ok[0]}")
    if len(rows) < days_needed:
        out.append(f"{name}: {days_needed - len(rows)} day(s) not collected yet")
    state = health.get(feed.id)
    if state is not None:
        if not state.healthy and state.since_day <= last:
            out.append(f"{name}: unhealthy since {state.since_day} ({state.reason})")
        if state.recollect_from is not None and state.recollect_from <= last:
            out.append(f"{name}: days from {state.recollect_from} wait to be collected again")
    return out


def close_status(
    engine: Engine, month: str, today: date, *, grace_days: int = DEFAULT_GRACE_DAYS
) -> list[AccountClose]:
    """Every account with a feed active by the month's end, and whether it closes now."""
    first, last = month_bounds(month)
    feeds = [f for f in list_feeds(engine) if f.activation_date <= last]
    accounts: dict[str, list[FeedRecord]] = {}
    for f in feeds:
        accounts.setdefault(f.account, []).append(f)
    issued = {c.certificate.account for c in list_certificates(engine, month=month)}
    previous = _previous_month(month)
    issued_before = {c.certificate.account for c in list_certificates(engine, month=previous)}
    health = feed_health_states(engine)
    out = []
    with engine.connect() as conn:
        for account in sorted(accounts):
            status = AccountClose(account, month, certified=account in issued)
            if status.certified:
                out.append(status)
                continue
            if today <= last:
                status.blockers.append(f"{month} is not over")
                out.append(status)
                continue
            prev_first, prev_last = month_bounds(previous)
            had_pages = conn.execute(
                sa.select(sa.func.count()).where(
                    deposits.c.account == account, deposits.c.day.between(prev_first, prev_last)
                )
            ).scalar_one()
            if had_pages and account not in issued_before:
                status.blockers.append(f"the certificate for {previous} is not issued yet")
                out.append(status)
                continue
            for f in accounts[account]:
                status.blockers += _feed_blockers(conn, f, first, last, health)
            if not status.blockers:
                status.closed_by = COMPLETE
            elif today >= last + timedelta(days=grace_days):
                status.closed_by = GRACE
            out.append(status)
    return out


@dataclass(frozen=True)
class ForestryProject:
    """Where the trees are planted: printed on every certificate."""

    name: str
    location: str


def issue_certificates(
    engine: Engine,
    month: str,
    *,
    today: date,
    now: Callable[[], datetime],
    project: ForestryProject,
    directory: Path,
    grace_days: int = DEFAULT_GRACE_DAYS,
) -> tuple[list[IssuedCertificate], list[AccountClose]]:
    """Issue a certificate for every account whose month closes now.

    Returns the certificates issued now and the close status of every account.
    """
    first, last = month_bounds(month)
    statuses = close_status(engine, month, today, grace_days=grace_days)
    issued = []
    for status in statuses:
        if not status.closable:
            continue
        pages = account_pages(engine, status.account, first, last)
        adjustment = pending_adjustment(engine, status.account, first)
        cert = Certificate(
            id=certificate_id(status.account, first, last, pages, adjustment),
            account=status.account, period_start=first, period_end=last, pages=pages,
            adjustment_pages=adjustment, project_name=project.name,
            project_location=project.location, issued_on=today,
        )  # fmt: skip
        path = directory / month / f"{cert.id}.pdf"
        # The PDF first: a record never points at a file that is not there.
        render_certificate_pdf(cert, path)
        issued.append(
            record_certificate(
                engine,
                IssuedCertificate(cert, month, status.closed_by or GRACE, str(path)),
                now=now(),
            )
        )
    return issued, statuses
