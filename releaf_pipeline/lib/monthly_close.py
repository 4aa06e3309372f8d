"""When an account's month closes, and the certificate that closing issues.

An account's month closes ("Month close" in the contract) when, for every feed of the
account: every feed-day of the month is collected (none paused, failed or waiting to be
re-collected); the deposits were computed from the latest collection of each day; and
every in-scope device that reported in the month and is still listed has a reading dated
on or after the month's last day. Failing that, it closes with what is known once the
grace period after the month's end has passed. Months close in order: a month waiting for
the one before is released by its own grace date, and the earlier month is issued first.

The close always follows the contract's re-read of the whole month: every collection
that covers a month's last day before its certificate reads each of the account's feeds
from the month's first day (`fetch_plan.months_to_reread`), and the close needs that day
collected, so the last collection it counts on re-read the month. A run whose day has
not ended on the server's clock records that day as paused, never as collected.

A removed feed stays its account's: its months close like any other's, waiting only for
the days before its removal. A feed that changed accounts counts on each account for the
days that go to it.
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
from releaf_pipeline.lib.store.close import (
    FeedMonth,
    FeedPart,
    account_had_deposits,
    feed_months,
    month_parts,
)
from releaf_pipeline.lib.store.registry import list_feeds
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
    earlier: str | None = None
    """The month before, when this one closes by its grace date while that one is not
    issued yet: it is issued first."""

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


def feed_blockers(facts: FeedMonth) -> list[Blocker]:
    """What one feed's month still waits for (the contract's three conditions)."""
    feed, last = facts.feed, facts.through
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
    """Every account with feed-days in the month (removed feeds' included), and whether it
    closes now."""
    first, last = month_bounds(month)
    grace_until = last + timedelta(days=grace_days)
    accounts: dict[str, list[FeedPart]] = {}
    for part in month_parts(engine, list_feeds(engine, removed=True), first, last):
        accounts.setdefault(part.account, []).append(part)
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
            # Every feed with days on the account in the month counts, removed ones too.
            period_start=min(p.first for p in accounts[account]),
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
            if today >= grace_until:
                status.closed_by, status.earlier = GRACE, previous
            continue
        for facts in feed_months(engine, accounts[account]):
            status.blockers += feed_blockers(facts)
        if not status.blockers:
            status.closed_by = COMPLETE
        elif today >= grace_until:
            status.closed_by = GRACE
    return out


@dataclass(frozen=True)
class _Issuer:
    """What issuing a certificate needs beyond the account and month."""

    engine: Engine
    today: date
    now: Callable[[], datetime]
    project: ForestryProject
    directory: Path
    grace_days: int
    names: dict[str, str]

    def issue(self, status: AccountClose) -> list[IssuedCertificate]:
        """The certificate of a closable month, after those of the months before it that
        its grace date released (months issue in order); [] when one of those cannot."""
        out: list[IssuedCertificate] = []
        if status.earlier is not None:
            before = [
                s
                for s in close_status(
                    self.engine, status.earlier, self.today, grace_days=self.grace_days
                )
                if s.account == status.account
            ]
            if before and before[0].closable:
                out = self.issue(before[0])
                if not out:
                    return []
            elif not (before and before[0].certified):
                return []
        return [*out, self._record(status)]

    def _record(self, status: AccountClose) -> IssuedCertificate:
        first, last = month_bounds(status.month)
        # Nothing is deposited before activation, so the period starts there.
        start = status.period_start or first
        # Taken before the pages are read: a deposit changed after this moment may not be
        # on the certificate, and the credit check counts it for the next one.
        read_at = self.now()
        pages = account_pages(self.engine, status.account, first, last)
        adjustment = pending_adjustment(self.engine, status.account, first)
        cert = Certificate(
            id=certificate_id(status.account, start, last, pages, adjustment),
            account=status.account, period_start=start, period_end=last, pages=pages,
            adjustment_pages=adjustment, project_name=self.project.name,
            project_location=self.project.location, issued_on=self.today,
            account_name=self.names.get(status.account),
        )  # fmt: skip
        path = self.directory / status.month / f"{cert.id}.pdf"
        # The PDF first: a record never points at a file that is not there.
        render_certificate_pdf(cert, path)
        # Recorded relative to the directory: each host mounts it where it likes.
        relative = path.relative_to(self.directory).as_posix()
        issued = IssuedCertificate(cert, status.month, status.closed_by or GRACE, relative)
        return record_certificate(self.engine, issued, now=read_at)


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
    """Issue a certificate for every account whose month closes now (and, where its grace
    date released it, first for the months before that wait).

    Returns the certificates issued now and the close status of every account.
    """
    statuses = close_status(engine, month, today, grace_days=grace_days)
    # The names as of now: each certificate records the one it is issued with, for good.
    issuer = _Issuer(engine, today, now, project, directory, grace_days, account_names(engine))
    issued = []
    for status in statuses:
        if status.closable:
            issued += issuer.issue(status)
    return issued, statuses
