"""Accounts' display names: the name a certificate prints instead of the account's slug.

A name is given when a feed is registered; giving one sets it, a different one later
replaces it (for certificates issued from then on), and registering without one leaves it
as it is. Certificates keep the name they were issued with (`store.certificates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.tables import accounts


def set_account_names(conn: Connection, names: Mapping[str, str], *, now: datetime) -> None:
    """Give each account (key) its display name (value), within the caller's transaction.

    A name equal to the stored one changes nothing, so `updated_at` says when the name
    last changed.
    """
    if not names:
        return
    stored = dict(
        conn.execute(
            sa.select(accounts.c.account, accounts.c.display_name).where(
                accounts.c.account.in_(list(names))
            )
        ).all()
    )
    for account, name in names.items():
        if account not in stored:
            conn.execute(
                accounts.insert().values(account=account, display_name=name, updated_at=now)
            )
        elif stored[account] != name:
            conn.execute(
                accounts.update()
                .where(accounts.c.account == account)
                .values(display_name=name, updated_at=now)
            )


def account_names(db: Db) -> dict[str, str]:
    """Every account that has a display name, and that name."""
    with reading(db) as conn:
        rows = conn.execute(
            sa.select(accounts.c.account, accounts.c.display_name).where(
                accounts.c.display_name.is_not(None)
            )
        ).all()
    return dict(rows)


def account_name(db: Db, account: str) -> str | None:
    """The account's display name, or None when it has none."""
    with reading(db) as conn:
        return conn.execute(
            sa.select(accounts.c.display_name).where(accounts.c.account == account)
        ).scalar()
