"""Whether certificates credit exactly what was deposited through the months they close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.dates import month_bounds
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


def credit_through(engine: Engine, month: str) -> list[AccountCredit]:
    """Every account certified for `month`: credited through it against deposited."""
    _, last = month_bounds(month)
    with engine.connect() as conn:
        issued = conn.execute(
            sa.select(certificates.c.account, certificates.c.id, certificates.c.created_at)
            .where(certificates.c.month == month)
            .order_by(certificates.c.account)
        ).all()
        out = []
        for account, cert_id, created_at in issued:
            out.append(
                AccountCredit(
                    account,
                    cert_id,
                    _credited(conn, account, month),
                    _deposited(conn, account, last),
                    _changed(conn, account, last, created_at),
                )
            )
    return out


def _credited(conn: sa.Connection, account: str, month: str) -> int:
    return int(
        conn.execute(
            sa.select(
                sa.func.coalesce(
                    sa.func.sum(certificates.c.pages + certificates.c.adjustment_pages), 0
                )
            ).where(certificates.c.account == account, certificates.c.month <= month)
        ).scalar_one()
    )


def _deposited(conn: sa.Connection, account: str, last: object) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(deposits.c.pages), 0)).where(
                deposits.c.account == account, deposits.c.day <= last
            )
        ).scalar_one()
    )


def _changed(conn: sa.Connection, account: str, last: object, issued_at: datetime) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                deposits.c.account == account,
                deposits.c.day <= last,
                deposits.c.updated_at > issued_at,
            )
        ).scalar_one()
    )
