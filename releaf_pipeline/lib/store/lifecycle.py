"""What operators change after registering: pause, resume, remove and amend feeds, remove
servers. History stays: readings, deposits and certificates are never deleted here."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.rules import SCOPES
from releaf_pipeline.lib.store.codes import customer_key
from releaf_pipeline.lib.store.engine import Db, writing
from releaf_pipeline.lib.store.feed_accounts import account_histories, move_account_from
from releaf_pipeline.lib.store.registry import FeedRecord, RegistryError
from releaf_pipeline.lib.store.stale_days import (
    COLLECTION_VIEWS,
    DEPOSIT_VIEWS,
    mark_days,
    mark_missed_days,
    mark_range,
)
from releaf_pipeline.lib.store.tables import certificates, deposits, feeds, servers


def pause_feed(db: Db, feed: FeedRecord, *, now: datetime) -> bool:
    """Stop collecting the feed until it is resumed; False if it was paused already."""
    with writing(db) as conn:
        done = conn.execute(
            feeds.update()
            .where(feeds.c.id == feed.id, feeds.c.paused_at.is_(None))
            .values(paused_at=now)
        )
        if done.rowcount:
            mark_missed_days(conn, feed.id, _yesterday(now))
    return bool(done.rowcount)


def resume_feed(db: Db, feed: FeedRecord, *, now: datetime) -> bool:
    """Collect the feed again (a removed feed comes back with its history); False if it
    was neither paused nor removed. The nights' re-read window and the catch-up collect
    the days it missed, within their look-back."""
    with writing(db) as conn:
        removed = conn.execute(
            sa.select(servers.c.removed_at).where(servers.c.id == feed.server_id)
        ).scalar()
        if removed is not None:
            raise RegistryError(
                f"server {feed.server_name!r} was removed: register it again with `releaf "
                f"server add {feed.server_name} --url URL` before resuming its feeds"
            )
        twin = conn.execute(
            sa.select(feeds.c.customer_code, feeds.c.account).where(
                feeds.c.server_id == feed.server_id,
                feeds.c.customer_key == customer_key(feed.customer_code),
                feeds.c.id != feed.id,
                feeds.c.removed_at.is_(None),
            )
        ).first()
        if twin is not None:
            raise RegistryError(
                f"customer {feed.customer_code} on server {feed.server_name!r} is fed as "
                f"{twin.customer_code} on account {twin.account!r}: codes that differ only "
                "in case are one customer, which has one active feed"
            )
        done = conn.execute(
            feeds.update()
            .where(
                feeds.c.id == feed.id,
                sa.or_(feeds.c.paused_at.is_not(None), feeds.c.removed_at.is_not(None)),
            )
            .values(paused_at=None, removed_at=None)
        )
        if done.rowcount:
            mark_missed_days(conn, feed.id, _yesterday(now))
    return bool(done.rowcount)


def remove_feed(db: Db, feed: FeedRecord, *, now: datetime) -> None:
    """Stop the feed for good; its readings, deposits and certificates stay."""
    with writing(db) as conn:
        conn.execute(feeds.update().where(feeds.c.id == feed.id).values(removed_at=now))
        mark_missed_days(conn, feed.id, _yesterday(now))


def _yesterday(now: datetime) -> date:
    """The latest day that is over: the last a change of the registry can show on."""
    return now.date() - timedelta(days=1)


def remove_server(db: Db, name: str, *, now: datetime) -> None:
    """Stop checking a server; refused while a feed (not removed) uses it."""
    with writing(db) as conn:
        server_id = conn.execute(
            sa.select(servers.c.id).where(servers.c.name == name, servers.c.removed_at.is_(None))
        ).scalar()
        if server_id is None:
            raise RegistryError(f"no server named {name!r} is registered: see `releaf server list`")
        codes = conn.scalars(
            sa.select(feeds.c.customer_code)
            .where(feeds.c.server_id == server_id, feeds.c.removed_at.is_(None))
            .order_by(feeds.c.customer_code)
        ).all()
        if codes:
            shown = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
            raise RegistryError(
                f"server {name!r} still feeds {len(codes)} customer(s) ({shown}): remove them "
                f"first with `releaf feed remove {name}/CODE`"
            )
        conn.execute(servers.update().where(servers.c.id == server_id).values(removed_at=now))


def update_feed(
    db: Db,
    feed: FeedRecord,
    *,
    now: datetime,
    account: str | None = None,
    scope: str | None = None,
    activation_date: date | None = None,
    account_from: date | None = None,
) -> list[str]:
    """Change a feed's account, scope or activation date where the deposits already made
    allow it; returns one line per change, saying what follows from it.

    - account: from `account_from` on (from activation when None), the deposits of those
      days move to the new account; a day inside a month already certified for either
      account is refused, naming the first day allowed, since a certificate is never
      rewritten. The days before keep their account.
    - scope: the deposits are recomputed from activation; pages that change in certified
      months go into the account's next certificate as an adjustment.
    - activation date: not later than a certified period that already counts the feed's
      pages; an earlier one needs the days before collected (a backfill, as said).
    """
    said: list[str] = []
    with writing(db) as conn:
        if account is not None and (account != feed.account or account_from is not None):
            said.append(_move_account(conn, feed, account, account_from))
        if scope is not None and scope != feed.scope:
            if scope not in SCOPES:
                raise RegistryError(f"scope must be 'all' or 'managed', got {scope!r}")
            _dirty(conn, feed, feed.activation_date, scope=scope)
            said.append(
                f"scope {feed.scope} -> {scope}: its deposits are recomputed by the next run; "
                "changes in certified months go into the next certificate"
            )
        if activation_date is not None and activation_date != feed.activation_date:
            said.append(_move_activation(conn, feed, activation_date))
    return said


def _certified_pages(conn: Connection, feed: FeedRecord, *, before: date | None = None) -> sa.Row:
    """The latest certificate of the feed's account that credits pages the feed deposited
    (on days before `before`, if given), or None."""
    conditions = [
        deposits.c.feed_id == feed.id,
        # The account each day went to: a feed that changed accounts is on the old
        # account's certificates for the days before.
        deposits.c.account == certificates.c.account,
        deposits.c.pages > 0,
        deposits.c.day.between(certificates.c.period_start, certificates.c.period_end),
    ]
    if before is not None:
        conditions.append(deposits.c.day < before)
    query = (
        sa.select(certificates.c.id, certificates.c.period_start, certificates.c.period_end)
        .where(sa.exists().where(*conditions))
        .order_by(certificates.c.period_end.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def _first_certified_day(conn: Connection, feed: FeedRecord) -> date:
    return conn.execute(
        sa.select(sa.func.min(deposits.c.day)).where(
            deposits.c.feed_id == feed.id,
            deposits.c.pages > 0,
            sa.exists().where(
                certificates.c.account == deposits.c.account,
                deposits.c.day.between(certificates.c.period_start, certificates.c.period_end),
            ),
        )
    ).scalar_one()


def _move_account(conn: Connection, feed: FeedRecord, account: str, day: date | None) -> str:
    if not account.strip():
        raise RegistryError("the account is empty")
    start = feed.activation_date if day is None else max(day, feed.activation_date)
    cert = _certificate_in_the_way(conn, feed, account, start)
    if cert is not None:
        allowed = cert.period_end + timedelta(days=1)
        raise RegistryError(
            f"{cert.month} is certified for {cert.account} ({cert.id}) and a certificate is "
            f"never rewritten: the account can change from {allowed} on (`--from {allowed}`)"
        )
    old = feed.account
    move_account_from(conn, feed, account, start)
    mark_days(
        conn,
        conn.execute(
            sa.select(deposits.c.day).where(deposits.c.feed_id == feed.id, deposits.c.day >= start)
        ).scalars(),
        DEPOSIT_VIEWS,
    )
    # Marked due from the day moved, so a deposit computation running meanwhile never
    # leaves a day on the account it left.
    _dirty(conn, feed, start)
    if start <= feed.activation_date:
        return f"account {old} -> {account}: its deposits moved with it"
    return (
        f"account {old} -> {account} from {start}: its deposits from that day on moved "
        "with it, the days before stay where they are"
    )


def _certificate_in_the_way(
    conn: Connection, feed: FeedRecord, account: str, start: date
) -> sa.Row | None:
    """The latest certificate whose month holds days of this feed from `start` on, on the
    account they go to now or on `account`; None when the move rewrites no certificate."""
    columns = (
        certificates.c.id,
        certificates.c.account,
        certificates.c.month,
        certificates.c.period_end,
    )
    found = conn.execute(
        sa.select(*columns).where(
            certificates.c.account == account, certificates.c.period_end >= start
        )
    ).all()
    for span in account_histories(conn, [feed])[feed.id].spans:
        lo = max(start, span.first or start)
        if span.last is not None and span.last < lo:
            continue
        query = sa.select(*columns).where(
            certificates.c.account == span.account, certificates.c.period_end >= lo
        )
        if span.last is not None:
            # A certificate's period starts at the earliest of its account's feeds, so
            # one that holds days of this span starts by the span's end.
            query = query.where(certificates.c.period_start <= span.last)
        found += conn.execute(query).all()
    return max(found, key=lambda c: c.period_end, default=None)


def _move_activation(conn: Connection, feed: FeedRecord, activation: date) -> str:
    if activation > feed.activation_date:
        cert = _certified_pages(conn, feed, before=activation)
        if cert is not None:
            first = _first_certified_day(conn, feed)
            raise RegistryError(
                f"certificate {cert.id} already credits pages this feed deposited before "
                f"{activation}, and a certificate is never rewritten: the activation date can "
                f"move to {first} at the latest"
            )
    _dirty(conn, feed, min(activation, feed.activation_date), activation_date=activation)
    # The days between the two dates gain or lose the feed as one they expect.
    low, high = sorted((activation, feed.activation_date))
    mark_range(conn, low, high - timedelta(days=1), COLLECTION_VIEWS)
    if activation < feed.activation_date:
        return (
            f"activation {feed.activation_date} -> {activation}: collect the days before with "
            f"`releaf backfill --start {activation} --end {feed.activation_date} "
            f"--feed {feed.server_name}/{feed.customer_code}`"
        )
    return (
        f"activation {feed.activation_date} -> {activation}: its deposits before it go with "
        "the next run"
    )


def _dirty(conn: Connection, feed: FeedRecord, start: date, **values: object) -> None:
    """Change the feed and mark its deposits due from `start` (the next run recomputes)."""
    current = conn.execute(sa.select(feeds.c.dirty_from).where(feeds.c.id == feed.id)).scalar()
    dirty = start if current is None else min(current, start)
    conn.execute(
        feeds.update()
        .where(feeds.c.id == feed.id)
        .values(dirty_from=dirty, inputs_version=feeds.c.inputs_version + 1, **values)
    )
