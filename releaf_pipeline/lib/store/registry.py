"""Registered MPS Monitor servers and customer feeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from releaf_pipeline.lib.certificates import check_account_name
from releaf_pipeline.lib.labels import check_label
from releaf_pipeline.lib.mpsmonitor.contract import MAX_IDENTIFIER_LENGTH, is_identifier
from releaf_pipeline.lib.rules import SCOPES
from releaf_pipeline.lib.secrets import SecretStr, TokenCipher
from releaf_pipeline.lib.store.accounts import set_account_names
from releaf_pipeline.lib.store.codes import customer_key
from releaf_pipeline.lib.store.engine import execute_many
from releaf_pipeline.lib.store.tables import feeds, servers


class RegistryError(ValueError):
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
    engine: Engine,
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
    with engine.begin() as conn:
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
        elif exists and exists.removed_at is not None:
            # A removed server registered again under its name: its history is its own.
            conn.execute(
                servers.update().where(servers.c.name == name).values(removed_at=None, **values)
            )
        else:
            if exists:
                raise RegistryError(f"a server named {name!r} is already registered")
            conn.execute(servers.insert().values(name=name, created_at=now, **values))
    return get_server(engine, name)


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


def _server(row: sa.Row) -> ServerRecord:
    return ServerRecord(
        id=row.id,
        name=row.name,
        url=row.url,
        ca_bundle_pem=row.ca_bundle_pem,
        dealer_code=row.dealer_code,
        created_at=row.created_at,
        healthy=row.healthy,
        health_since=row.health_since,
        health_reason=row.health_reason,
        health_checked_at=row.health_checked_at,
        removed_at=row.removed_at,
    )


_SERVER_COLS = [c for c in servers.c if c.name != "token_sealed"]


def get_server(engine: Engine, name: str) -> ServerRecord:
    """The server registered as `name`; RegistryError if there is none."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_SERVER_COLS).where(servers.c.name == name)).first()
    if row is None:
        raise RegistryError(
            f"no server named {name!r} is registered: see `releaf server list`, "
            "or register it with `releaf server add`"
        )
    return _server(row)


def list_servers(engine: Engine, *, removed: bool = False) -> list[ServerRecord]:
    """Every registered server, by name (the removed ones too with `removed`)."""
    query = sa.select(*_SERVER_COLS).order_by(servers.c.name)
    if not removed:
        query = query.where(servers.c.removed_at.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [_server(r) for r in rows]


def server_token(engine: Engine, cipher: TokenCipher, server_id: int) -> SecretStr:
    """The server's dealer token, decrypted in memory only."""
    with engine.connect() as conn:
        sealed = conn.execute(
            sa.select(servers.c.token_sealed).where(servers.c.id == server_id)
        ).scalar_one()
    return cipher.decrypt(sealed)


def adopt_dealer_code(engine: Engine, server_id: int, dealer_code: str) -> str:
    """Store `dealer_code` as the server's dealer if it has none yet (registered before
    dealer codes were kept); returns the code now stored, which a concurrent first check
    may have set before this one."""
    with engine.begin() as conn:
        conn.execute(
            servers.update()
            .where(servers.c.id == server_id, servers.c.dealer_code.is_(None))
            .values(dealer_code=dealer_code)
        )
        return conn.execute(
            sa.select(servers.c.dealer_code).where(servers.c.id == server_id)
        ).scalar_one()


def _check_values(spec: FeedSpec, server_ids: dict[str, int]) -> None:
    if spec.server not in server_ids:
        raise RegistryError(
            f"no server named {spec.server!r} is registered: see `releaf server list`"
        )
    for value, what in ((spec.customer_code, "customer code"), (spec.account, "account")):
        try:
            if check_label(value, what) != value:
                raise ValueError(f"the {what} {value!r} has spaces at its ends")
        except ValueError as exc:
            raise RegistryError(str(exc)) from None
    if not is_identifier(spec.customer_code):
        # The server could never answer for it: its codes are the contract's identifiers.
        raise RegistryError(
            f"the customer code must be 1 to {MAX_IDENTIFIER_LENGTH} printable ASCII "
            "characters without spaces, as MPS Monitor writes it"
        )
    if spec.scope not in SCOPES:
        raise RegistryError(f"scope must be 'all' or 'managed', got {spec.scope!r}")


@dataclass(frozen=True)
class _Registered:
    """A feed of a customer, as the checks of a new feed of it need it."""

    server_id: int
    server: str
    dealer_code: str | None
    code: str
    account: str
    removed: bool


_KEYS_PER_QUERY = 500


def _registered(conn: Connection, keys: set[str]) -> dict[str, list[_Registered]]:
    """The feeds of the customers with these keys, removed ones included, by key: one
    indexed query per batch of keys, so an import costs what its rows do."""
    found: dict[str, list[_Registered]] = {}
    ordered = sorted(keys)
    for i in range(0, len(ordered), _KEYS_PER_QUERY):
        rows = conn.execute(
            sa.select(
                feeds.c.customer_key,
                feeds.c.server_id,
                servers.c.name,
                servers.c.dealer_code,
                feeds.c.customer_code,
                feeds.c.account,
                feeds.c.removed_at,
            )
            .join(servers, servers.c.id == feeds.c.server_id)
            .where(feeds.c.customer_key.in_(ordered[i : i + _KEYS_PER_QUERY]))
        )
        for key, sid, server, dealer, code, account, removed_at in rows:
            found.setdefault(key, []).append(
                _Registered(sid, server, dealer, code, account, removed_at is not None)
            )
    return found


def _as_registered(code: str, registered: str) -> str:
    """How a code was registered, when it differs from the one given only in case."""
    if code == registered:
        return ""
    return f" (as {registered}: codes that differ only in case are one customer)"


def _check_customer(
    spec: FeedSpec, server_id: int, dealer: str | None, others: list[_Registered]
) -> None:
    """Refuse a second feed of a customer already fed: on the same server (even a removed
    one, which `feed resume` brings back with its history), or through another server
    record of the same dealer, whose pages would be credited twice."""
    code = spec.customer_code
    for other in others:
        if other.server_id != server_id:
            continue
        shown = _as_registered(code, other.code)
        if other.removed:
            raise RegistryError(
                f"customer {code} on server {spec.server!r} was removed{shown}: "
                f"`releaf feed resume {other.server}/{other.code}` brings it back with "
                "its history"
            )
        raise RegistryError(
            f"customer {code} on server {spec.server!r} already feeds account "
            f"{other.account!r}{shown}: one customer feeds one account"
        )
    for other in others:
        if other.removed or dealer is None or other.dealer_code != dealer:
            continue
        raise RegistryError(
            f"customer {code} of the same dealer already feeds account {other.account!r} "
            f"through server {other.server!r}{_as_registered(code, other.code)}: one "
            "customer feeds one account"
        )


def _name_account(names: dict[str, str], account: str, given: str) -> None:
    try:
        name = check_account_name(given)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    # Which of two names should win is a guess: ask for one.
    known = names.setdefault(account, name)
    if known != name:
        raise RegistryError(f"account {account!r} is given two names, {known!r} and {name!r}")


def add_feeds(engine: Engine, specs: list[FeedSpec], *, now: datetime) -> list[FeedRecord]:
    """Register feeds, all or none: the first bad spec raises and nothing is stored.

    Customer codes compare without regard to case: a code that differs from a registered
    one (or another spec's) only in case is the same customer, and refused like it.
    The display names the specs give are set on their accounts in the same transaction.
    A RegistryError for spec i carries `index = i` so a caller can name the line.
    """
    names: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    with engine.begin() as conn:
        active = sa.select(servers.c.name, servers.c.id, servers.c.dealer_code).where(
            servers.c.removed_at.is_(None)
        )
        server_rows = conn.execute(active).all()
        server_ids = {name: sid for name, sid, _ in server_rows}
        dealers = {sid: dealer for _, sid, dealer in server_rows}
        keys = [customer_key(spec.customer_code) for spec in specs]
        registered = _registered(conn, set(keys))
        # This call's own feeds, checked like the registered ones as they are added.
        added: dict[str, list[_Registered]] = {}
        for i, (spec, key) in enumerate(zip(specs, keys, strict=True)):
            try:
                _check_values(spec, server_ids)
                sid = server_ids[spec.server]
                earlier = [f for f in added.get(key, ()) if f.server_id == sid]
                if earlier:
                    raise RegistryError(
                        f"customer {spec.customer_code} on server {spec.server!r} appears "
                        f"twice{_as_registered(spec.customer_code, earlier[0].code)}"
                    )
                others = registered.get(key, []) + added.get(key, [])
                _check_customer(spec, sid, dealers[sid], others)
                if spec.account_name is not None:
                    _name_account(names, spec.account, spec.account_name)
            except RegistryError as exc:
                exc.index = i  # type: ignore[attr-defined]
                raise
            added.setdefault(key, []).append(
                _Registered(
                    sid, spec.server, dealers[sid], spec.customer_code, spec.account, removed=False
                )
            )
            rows.append(
                {
                    "server_id": sid,
                    "customer_code": spec.customer_code,
                    "customer_key": key,
                    "account": spec.account,
                    "activation_date": spec.activation_date,
                    "scope": spec.scope,
                    "created_at": now,
                    "inputs_version": 0,
                }
            )
        execute_many(conn, feeds.insert(), rows)
        set_account_names(conn, names, now=now)
    new = {(spec.server, key) for spec, key in zip(specs, keys, strict=True)}
    return [f for f in list_feeds(engine) if (f.server_name, customer_key(f.customer_code)) in new]


def list_feeds(
    engine: Engine, feed_ids: list[int] | None = None, *, removed: bool = False
) -> list[FeedRecord]:
    """Registered feeds (all, or those with the given ids), by server and customer code;
    the removed ones only with `removed`."""
    query = (
        sa.select(feeds, servers.c.name.label("server_name"))
        .join(servers, servers.c.id == feeds.c.server_id)
        .order_by(servers.c.name, feeds.c.customer_code)
    )
    if feed_ids is not None:
        query = query.where(feeds.c.id.in_(feed_ids))
    if not removed:
        query = query.where(feeds.c.removed_at.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        FeedRecord(
            id=r.id,
            server_id=r.server_id,
            server_name=r.server_name,
            customer_code=r.customer_code,
            account=r.account,
            activation_date=r.activation_date,
            scope=r.scope,
            synced_through=r.synced_through,
            dirty_from=r.dirty_from,
            inputs_version=r.inputs_version,
            paused_at=r.paused_at,
            removed_at=r.removed_at,
        )
        for r in rows
    ]


def update_server_connection(
    engine: Engine, cipher: TokenCipher, **connection: Any
) -> ServerRecord:
    """Point a registered server at a new URL, token and CA bundle (its feeds stay); takes
    the keyword arguments of `add_server`."""
    return add_server(engine, cipher, replace=True, **connection)


class AmbiguousFeedError(RegistryError):
    """A feed was named in a way that fits more than one feed."""


def find_feeds(
    feeds: list[FeedRecord],
    names: Sequence[str],
    ids: Sequence[int] = (),
    *,
    server: str | None = None,
) -> tuple[list[FeedRecord], list[str]]:
    """The feeds named, in `feeds` order, and the names and ids that match none.

    A name is a customer code, compared without regard to case, or `SERVER/CODE`; with
    `server` it is a code of that server's only. A name that fits more than one feed (a
    code fed on two servers, a `SERVER/CODE` that splits two ways because a server name
    or a code holds a slash) raises AmbiguousFeedError naming each and how to write it.
    """
    by_key: dict[tuple[str, str], list[FeedRecord]] = {}
    by_code: dict[str, list[FeedRecord]] = {}
    for f in feeds:
        key = customer_key(f.customer_code)
        by_key.setdefault((f.server_name, key), []).append(f)
        by_code.setdefault(key, []).append(f)

    def fits(name: str) -> list[FeedRecord]:
        if server is not None:
            return by_key.get((server, customer_key(name)), [])
        found = list(by_code.get(customer_key(name), []))
        # Every slash may end the server's name.
        at = name.find("/")
        while at > 0:
            found += by_key.get((name[:at], customer_key(name[at + 1 :])), [])
            at = name.find("/", at + 1)
        return list({f.id: f for f in found}.values())

    wanted: set[int] = set()
    unknown: list[str] = []
    for name in names:
        found = fits(name)
        if len(found) > 1:
            raise AmbiguousFeedError(_ambiguous(name, found, fits))
        if found:
            wanted.add(found[0].id)
        else:
            unknown.append(name)
    known_ids = {f.id for f in feeds}
    unknown += [str(i) for i in ids if i not in known_ids]
    wanted |= set(ids) & known_ids
    return [f for f in feeds if f.id in wanted], unknown


def _ambiguous(name: str, found: list[FeedRecord], fits: Any) -> str:
    """The one line for a name that fits several feeds: each, and how to name it alone."""
    same = {(f.server_id, customer_key(f.customer_code)) for f in found}
    if len(same) == 1:
        # Only a store from before codes were compared so holds these (one removed).
        return (
            f"{name} names {len(found)} feeds of one customer on server {found[0].server_name!r} "
            f"({', '.join(f.customer_code for f in found)}), whose codes differ only in case; "
            "one customer has one active feed"
        )

    def spelling(f: FeedRecord) -> str:
        qualified = f"{f.server_name}/{f.customer_code}"
        if [g.id for g in fits(qualified)] == [f.id]:
            return qualified
        return f"--server {f.server_name} with {f.customer_code}"

    which = ", ".join(f"customer {f.customer_code} on server {f.server_name}" for f in found)
    how = " or ".join(spelling(f) for f in found)
    return f"{name} names {len(found)} feeds ({which}): name one alone, as {how}"
