"""When an account's month closes, and the certificate that closing issues.

An account's month closes ("Month close" in the contract) when, for every feed of the
account: every feed-day of the month is collected (none paused, failed or waiting to be
re-collected); the deposits were computed from the latest collection of each day; and
every in-scope device that reported in the month and is still listed has a reading dated
on or after the month's last day. Failing that, it closes with what is known once the
grace period after the month's end has passed. Months close in order.

The close always follows the contract's re-read of the whole month: every collection
that covers a month's last day before its certificate reads each of the account's feeds
from the month's first day (`collector.months_to_reread`), and the close needs that day
collected, so the last collection it counts on re-read the month. A run whose day has
not ended on the server's clock records that day as paused, never as collected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from releaf_pipeline.lib.certificate_pdf import render_certificate_pdf
from releaf_pipeline.lib.certificates import Certificate, ForestryProject, certificate_id
from releaf_pipeline.lib.rules import CERTIFICATE_GRACE_DAYS
from releaf_pipeline.lib.store.accounts import account_names
from releaf_pipeline.lib.store.certificates import (
    IssuedCertificate,
    account_pages,
    list_certificates,
    pending_adjustment,
    record_certificate,
)
from releaf_pipeline.lib.store.close import FeedMonth, account_had_deposits, feed_months
from releaf_pipeline.lib.store.registry import FeedRecord, list_feeds
from releaf_pipeline.lib.store.reports import month_bounds

DEFAULT_GRACE_DAYS = CERTIFICATE_GRACE_DAYS
COMPLETE, GRACE = "complete", "grace"


@dataclass(frozen=True)
class Blocker:
    """One thing an account's month waits for."""

    feed: str | None
    """`CODE (SERVER)` of the feed concerned, None for the account as a whole."""
    reason: str
    devices: int = 0
    """Devices the month waits a reading from (0 when the reason is not about devices)."""

    def __str__(self) -> str:
        return f"feed {self.feed}: {self.reason}" if self.feed else self.reason


@dataclass
class AccountClose:
    """Whether an account's month can be certified now, and what holds it back."""

    account: str
    month: str
    certified: bool = False
    closed_by: str | None = None
    blockers: list[Blocker] = field(default_factory=list)
    grace_until: date | None = None
    """The day the month closes with what is known, if nothing else closes it first."""
    period_start: date | None = None

    @property
    def closable(self) -> bool:
        """True when a certificate should be issued now."""
        return not self.certified and self.closed_by is not None

    @property
    def waiting(self) -> str:
        """What the month waits for, in one line ("" when nothing)."""
        if not self.blockers:
            return ""
        text = "; ".join(str(b) for b in self.blockers)
        if self.grace_until is not None and self.closed_by is None:
            text += f"; closes with what is known on {self.grace_until}"
        return text


def _previous_month(month: str) -> str:
    first, _ = month_bounds(month)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def feed_blockers(facts: FeedMonth, last: date) -> list[Blocker]:
    """What one feed's month still waits for (the contract's three conditions)."""
    feed = facts.feed
    name = f"{feed.customer_code} ({feed.server_name})"
    out = []
    if facts.not_collected:
        day, status = facts.not_collected[0]
        out.append(
            Blocker(name, f"{len(facts.not_collected)} day(s) paused or failed, first {day} "
                    f"({status})")
        )  # fmt: skip
    missing = facts.days_needed - facts.days_recorded
    if missing > 0:
        out.append(Blocker(name, f"{missing} day(s) not collected yet"))
    if facts.recollect_from is not None and facts.recollect_from <= last:
        out.append(Blocker(name, f"days from {facts.recollect_from} wait to be collected again"))
    if facts.dirty_from is not None and facts.dirty_from <= last:
        out.append(
            Blocker(name, f"deposits from {facts.dirty_from} wait to be computed from the "
                    "latest collection")
        )  # fmt: skip
    if facts.devices_waiting:
        out.append(
            Blocker(
                name,
                f"{facts.devices_waiting} device(s) without a reading for {last} yet",
                devices=facts.devices_waiting,
            )
        )
    return out


def close_status(
    engine: Engine, month: str, today: date, *, grace_days: int = DEFAULT_GRACE_DAYS
) -> list[AccountClose]:
    """Every account with a feed active by the month's end, and whether it closes now."""
    first, last = month_bounds(month)
    grace_until = last + timedelta(days=grace_days)
    feeds = [f for f in list_feeds(engine) if f.activation_date <= last]
    accounts: dict[str, list[FeedRecord]] = {}
    for f in feeds:
        accounts.setdefault(f.account, []).append(f)
    issued = {c.certificate.account for c in list_certificates(engine, month=month)}
    previous = _previous_month(month)
    issued_before = {c.certificate.account for c in list_certificates(engine, month=previous)}
    prev_first, prev_last = month_bounds(previous)
    out = []
    for account in sorted(accounts):
        status = AccountClose(
            account,
            month,
            certified=account in issued,
            grace_until=grace_until,
            period_start=max(first, min(f.activation_date for f in accounts[account])),
        )
        out.append(status)
        if status.certified:
            continue
        if today <= last:
            status.blockers.append(Blocker(None, f"{month} is not over"))
            continue
        if account not in issued_before and account_had_deposits(
            engine, account, prev_first, prev_last
        ):
            status.blockers.append(
                Blocker(None, f"the certificate for {previous} is not issued yet")
            )
            continue
        for facts in feed_months(engine, accounts[account], first, last):
            status.blockers += feed_blockers(facts, last)
        if not status.blockers:
            status.closed_by = COMPLETE
        elif today >= grace_until:
            status.closed_by = GRACE
    return out


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
    # The names as of now: each certificate records the one it is issued with, for good.
    names = account_names(engine)
    issued = []
    for status in statuses:
        if not status.closable:
            continue
        # Nothing is deposited before activation, so the period starts there.
        start = status.period_start or first
        # Taken before the pages are read: a deposit changed after this moment may not be
        # on the certificate, and the credit check counts it for the next one.
        read_at = now()
        pages = account_pages(engine, status.account, first, last)
        adjustment = pending_adjustment(engine, status.account, first)
        cert = Certificate(
            id=certificate_id(status.account, start, last, pages, adjustment),
            account=status.account, period_start=start, period_end=last, pages=pages,
            adjustment_pages=adjustment, project_name=project.name,
            project_location=project.location, issued_on=today,
            account_name=names.get(status.account),
        )  # fmt: skip
        path = directory / month / f"{cert.id}.pdf"
        # The PDF first: a record never points at a file that is not there.
        render_certificate_pdf(cert, path)
        issued.append(
            record_certificate(
                engine,
                IssuedCertificate(cert, month, status.closed_by or GRACE, str(path)),
                now=read_at,
            )
        )
    return issued, statuses
