"""Issued Certificates of Reforestation: recorded once, never rewritten."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

from releaf_pipeline.lib.certificates import Certificate
from releaf_pipeline.lib.store.engine import Db, reading, writing
from releaf_pipeline.lib.store.tables import certificates, deposits


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate as recorded, with where its PDF is and how its month closed."""

    certificate: Certificate
    month: str
    closed_by: str
    pdf_path: str
    """Where the PDF is, relative to the certificates directory (absolute in stores from
    before), so every host may mount the directory where it likes."""

    def pdf_file(self, directory: Path) -> Path:
        """The PDF's path under the certificates `directory` of this host."""
        return directory / self.pdf_path


def _issued(row: sa.Row) -> IssuedCertificate:
    cert = Certificate(**{f.name: row._mapping[f.name] for f in fields(Certificate)})
    return IssuedCertificate(cert, row.month, row.closed_by, row.pdf_path)


def list_certificates(
    db: Db, *, month: str | None = None, account: str | None = None
) -> list[IssuedCertificate]:
    """Issued certificates, by month then account."""
    query = sa.select(certificates).order_by(certificates.c.month, certificates.c.account)
    if month:
        query = query.where(certificates.c.month == month)
    if account:
        query = query.where(certificates.c.account == account)
    with reading(db) as conn:
        return [_issued(r) for r in conn.execute(query)]


def get_certificate(db: Db, cert_id: str) -> IssuedCertificate | None:
    """The certificate with this id, or None."""
    with reading(db) as conn:
        row = conn.execute(sa.select(certificates).where(certificates.c.id == cert_id)).first()
    return _issued(row) if row else None


def account_pages(db: Db, account: str, first: date, last: date) -> int:
    """The account's deposited pages dated in [first, last], over all its feeds."""
    with reading(db) as conn:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(deposits.c.pages), 0)).where(
                deposits.c.account == account, deposits.c.day.between(first, last)
            )
        ).scalar_one()
    return int(total)


def pending_adjustment(db: Db, account: str, before: date) -> int:
    """Pages deposited before `before` that no certificate has credited yet.

    Every certificate credits its month's pages as known when issued plus the adjustment
    it carried, so this difference is exactly what arrived late for certified months.
    """
    with reading(db) as conn:
        deposited = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(deposits.c.pages), 0)).where(
                deposits.c.account == account, deposits.c.day < before
            )
        ).scalar_one()
        credited = conn.execute(
            sa.select(
                sa.func.coalesce(
                    sa.func.sum(certificates.c.pages + certificates.c.adjustment_pages), 0
                )
            ).where(certificates.c.account == account, certificates.c.period_start < before)
        ).scalar_one()
    return int(deposited) - int(credited)


def record_certificate(db: Db, issued: IssuedCertificate, *, now: datetime) -> IssuedCertificate:
    """Record a certificate; one already issued for the account and month wins, unchanged
    (with the account name it was issued with)."""
    cert = issued.certificate
    with writing(db) as conn:
        existing = conn.execute(
            sa.select(certificates).where(
                certificates.c.account == cert.account, certificates.c.month == issued.month
            )
        ).first()
        if existing:
            return _issued(existing)
        values = {**asdict(cert), "month": issued.month, "closed_by": issued.closed_by}
        conn.execute(
            certificates.insert().values(**values, pdf_path=issued.pdf_path, created_at=now)
        )
    return issued


def certified_months(db: Db, months: Collection[str]) -> set[tuple[str, str]]:
    """The (account, month) pairs of `months` (each YYYY-MM) that have a certificate."""
    if not months:
        return set()
    query = sa.select(certificates.c.account, certificates.c.month).where(
        certificates.c.month.in_(sorted(months))
    )
    with reading(db) as conn:
        return {(r.account, r.month) for r in conn.execute(query)}
