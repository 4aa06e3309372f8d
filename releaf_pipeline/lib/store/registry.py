"""Registered MPS Monitor servers and customer feeds."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.lib.labels import check_label
from releaf_pipeline.lib.secrets import TokenCipher
from releaf_pipeline.lib.store.engine import Db, reading, writing
from releaf_pipeline.lib.store.stale_days import mark_problem_days
from releaf_pipeline.lib.store.tables import feeds, servers


class RegistryError(ReleafError, ValueError):
    """A registration was refused (unknown server, duplicate feed, bad value)."""


@dataclass(frozen=True)
class ServerRecord:
    """A registered server, without its token."""

    id: int
    name: str
    url: str
    ca_bundle_pem: str | None
    dealer_code: str | None
    created_at: datetime
    healthy: bool | None
    health_since: datetime | None
    health_reason: str | None
    health_checked_at: datetime | None
    removed_at: datetime | None = None


@dataclass(frozen=True)
class FeedRecord:
    """A customer feed: one customer on one server, deposited on one account."""

    id: int
    server_id: int
    server_name: str
    customer_code: str
    account: str
    activation_date: date
    scope: str
    synced_through: date | None
    dirty_from: date | None = None
    """The earliest day whose deposits wait to be recomputed (None: up to date)."""
    inputs_version: int = 0
    paused_at: datetime | None = None
    """Set while an operator has paused the feed: it is not collected."""
    removed_at: datetime | None = None
    """Set once an operator removed the feed: its history stays, nothing new comes."""

    @property
    def collected(self) -> bool:
        """Whether collections include this feed (neither paused nor removed)."""
        return self.paused_at is None and self.removed_at is None


@dataclass(frozen=True)
class FeedSpec:
    """A feed to register, as given on the command line or in a CSV row."""

    server: str
    customer_code: str
    account: str
    activation_date: date
    scope: str
    account_name: str | None = None
    """The account's display name for certificates; None leaves the account's as it is."""


def _connection(
    cipher: TokenCipher,
    url: str,
    token: str,
    ca_bundle_pem: str | None,
    dealer_code: str | None,
    now: datetime,
) -> dict:
    # A server is registered only after it answered its health check with this token.
    return {
        "url": url,
        "token_sealed": cipher.encrypt(token),
        "ca_bundle_pem": ca_bundle_pem,
        "dealer_code": dealer_code,
        "healthy": True,
        "health_since": now,
        "health_reason": None,
        "health_checked_at": now,
    }


def add_server(
    db: Db,
    cipher: TokenCipher,
    *,
    name: str,
    url: str,
    token: str,
    ca_bundle_pem: str | None,
    dealer_code: str | None,
    now: datetime,
    replace: bool = False,
) -> ServerRecord:
    """Register a server; its token is stored sealed. With `replace`, point the server
    already registered as `name` at a new URL, token and CA bundle instead (its feeds
    stay)."""
    # httpx comes with the URL checks: loaded only when a server is registered.
    from releaf_pipeline.lib.mpsmonitor.endpoint import require_https

    url = require_https(url)
    try:
        if check_label(name, "server name") != name:
            raise ValueError(f"the server name {name!r} has spaces at its ends")
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    values = _connection(cipher, url, token, ca_bundle_pem, dealer_code, now)
    with writing(db) as conn:
        _refuse_same_server(conn, name, url, dealer_code)
        exists = conn.execute(
            sa.select(servers.c.id, servers.c.removed_at).where(servers.c.name == name)
        ).first()
        if replace:
            if not exists or exists.removed_at is not None:
                raise RegistryError(
                    f"no server named {name!r} is registered: see `releaf server list`"
                )
            conn.execute(servers.update().where(servers.c.name == name).values(**values))
            # Healthy again: what happens next to its feeds' missed days changes.
            mark_problem_days(conn, exists.id)
        elif exists and exists.removed_at is not None:
            # A removed server registered again under its name: its history is its own.
            conn.execute(
                servers.update().where(servers.c.name == name).values(removed_at=None, **values)
            )
        else:
            if exists:
                raise RegistryError(f"a server named {name!r} is already registered")
            conn.execute(servers.insert().values(name=name, created_at=now, **values))
    return get_server(db, name)


def _refuse_same_server(conn: Connection, name: str, url: str, dealer_code: str | None) -> None:
    """A server is its URL and its dealer: registered twice, one customer fed on each
    would be credited twice."""
    from releaf_pipeline.lib.mpsmonitor.endpoint import require_https
    from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError

    rows = conn.execute(
        sa.select(servers.c.name, servers.c.url, servers.c.dealer_code).where(
            servers.c.name != name, servers.c.removed_at.is_(None)
        )
    )
    for other, other_url, other_dealer in rows:
        try:
            same_url = require_https(other_url) == url
        except MPSMonitorError:
            same_url = False
        if same_url or (dealer_code is not None and other_dealer == dealer_code):
            what = f"{url}" if same_url else f"dealer {dealer_code}"
            raise RegistryError(
                f"{what} is already registered as server {other!r}: use that name "
                f"(`releaf server list`), or `releaf server update {other}` to change it"
            )


_SERVER_COLS = [servers.c[f.name] for f in fields(ServerRecord)]
_FEED_COLS = [feeds.c[f.name] for f in fields(FeedRecord) if f.name != "server_name"]


def _server(row: sa.Row) -> ServerRecord:
    return ServerRecord(**row._mapping)


def get_server(db: Db, name: str) -> ServerRecord:
    """The server registered as `name`; RegistryError if there is none."""
    with reading(db) as conn:
        row = conn.execute(sa.select(*_SERVER_COLS).where(servers.c.name == name)).first()
    if row is None:
        raise RegistryError(
            f"no server named {name!r} is registered: see `releaf server list`, "
            "or register it with `releaf server add`"
        )
    return _server(row)


def list_servers(db: Db, *, removed: bool = False) -> list[ServerRecord]:
    """Every registered server, by name (the removed ones too with `removed`)."""
    query = sa.select(*_SERVER_COLS).order_by(servers.c.name)
    if not removed:
        query = query.where(servers.c.removed_at.is_(None))
    with reading(db) as conn:
        rows = conn.execute(query).all()
    return [_server(r) for r in rows]


def server_token(db: Db, cipher: TokenCipher, server_id: int) -> SecretStr:
    """The server's dealer token, decrypted in memory only."""
    with reading(db) as conn:
        sealed = conn.execute(
            sa.select(servers.c.token_sealed).where(servers.c.id == server_id)
        ).scalar_one()
    return cipher.decrypt(sealed)


def adopt_dealer_code(db: Db, server_id: int, dealer_code: str) -> str:
    """Store `dealer_code` as the server's dealer if it has none yet (registered before
    dealer codes were kept); returns the code now stored, which a concurrent first check
    may have set before this one."""
    with writing(db) as conn:
        conn.execute(
            servers.update()
            .where(servers.c.id == server_id, servers.c.dealer_code.is_(None))
            .values(dealer_code=dealer_code)
        )
        return conn.execute(
            sa.select(servers.c.dealer_code).where(servers.c.id == server_id)
        ).scalar_one()


def list_feeds(
    db: Db, feed_ids: list[int] | None = None, *, removed: bool = False
) -> list[FeedRecord]:
    """Registered feeds (all, or those with the given ids), by server and customer code;
    the removed ones only with `removed`."""
    query = (
        sa.select(*_FEED_COLS, servers.c.name.label("server_name"))
        .join(servers, servers.c.id == feeds.c.server_id)
        .order_by(servers.c.name, feeds.c.customer_code)
    )
    if feed_ids is not None:
        query = query.where(feeds.c.id.in_(feed_ids))
    if not removed:
        query = query.where(feeds.c.removed_at.is_(None))
    with reading(db) as conn:
        rows = conn.execute(query).all()
    return [FeedRecord(**r._mapping) for r in rows]


def update_server_connection(db: Db, cipher: TokenCipher, **connection: Any) -> ServerRecord:
    """Point a registered server at a new URL, token and CA bundle (its feeds stay); takes
    the keyword arguments of `add_server`."""
    return add_server(db, cipher, replace=True, **connection)
