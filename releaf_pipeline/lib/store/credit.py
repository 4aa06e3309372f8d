"""Whether certificates credit exactly what was deposited through the months they close."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from releaf_pipeline.lib.dates import month_bounds
from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.tables import certificates, deposits


@dataclass(frozen=True)
class AccountCredit:
    """One account's certificates through a month against its deposits through it."""

    account: str
    certificate_id: str
    credited: int
    """Pages of every certificate through the month, adjustments included."""
    deposited: int
    """Pages deposited on days up to the month's last day, as they stand now."""
    changed_since_issue: int
    """Feed-days up to the month's end whose deposit changed after this certificate: pages
    that are the next certificate's adjustment."""

    @property
    def difference(self) -> int:
        """Deposited minus credited."""
        return self.deposited - self.credited

    @property
    def explained(self) -> bool:
        """True when every page is credited, or the difference arrived after the issue."""
        return self.difference == 0 or self.changed_since_issue > 0


def credit_through(db: Db, month: str) -> list[AccountCredit]:
    """Every account certified for `month`: credited through it against deposited, each
    sum taken once per account in one query (only the certified accounts are read)."""
    _, last = month_bounds(month)
    issued = (
        sa.select(certificates.c.account, certificates.c.id, certificates.c.created_at)
        .where(certificates.c.month == month)
        .subquery("issued")
    )
    accounts = sa.select(issued.c.account)
    credited = (
        sa.select(
            certificates.c.account,
            sa.func.sum(certificates.c.pages + certificates.c.adjustment_pages).label("pages"),
        )
        .where(certificates.c.month <= month, certificates.c.account.in_(accounts))
        .group_by(certificates.c.account)
        .subquery("credited")
    )
    deposited = (
        sa.select(deposits.c.account, sa.func.sum(deposits.c.pages).label("pages"))
        .where(deposits.c.day <= last, deposits.c.account.in_(accounts))
        .group_by(deposits.c.account)
        .subquery("deposited")
    )
    # Deposits changed after the certificate was issued: the next one's adjustment.
    changed = (
        sa.select(issued.c.account, sa.func.count(deposits.c.day).label("days"))
        .select_from(issued)
        .outerjoin(
            deposits,
            sa.and_(
                deposits.c.account == issued.c.account,
                deposits.c.day <= last,
                deposits.c.updated_at > issued.c.created_at,
            ),
        )
        .group_by(issued.c.account)
        .subquery("changed")
    )
    query = (
        sa.select(
            issued.c.account,
            issued.c.id,
            sa.func.coalesce(credited.c.pages, 0),
            sa.func.coalesce(deposited.c.pages, 0),
            changed.c.days,
        )
        .select_from(issued)
        .outerjoin(credited, credited.c.account == issued.c.account)
        .outerjoin(deposited, deposited.c.account == issued.c.account)
        .join(changed, changed.c.account == issued.c.account)
        .order_by(issued.c.account)
    )
    with reading(db) as conn:
        rows = conn.execute(query).all()
    return [AccountCredit(a, c, int(cr), int(dep), int(ch)) for a, c, cr, dep, ch in rows]
