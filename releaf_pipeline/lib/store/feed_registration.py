"""Registering feeds: each spec checked (a registered server, the contract's identifiers,
a scope), one feed per customer however its code is cased, all rows or none, in one
transaction whose cost grows with the rows, not with the feeds already registered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.certificates import check_account_name
from releaf_pipeline.lib.labels import check_label
from releaf_pipeline.lib.mpsmonitor.contract import MAX_IDENTIFIER_LENGTH, is_identifier
from releaf_pipeline.lib.rules import SCOPES
from releaf_pipeline.lib.store.accounts import set_account_names
from releaf_pipeline.lib.store.codes import customer_key
from releaf_pipeline.lib.store.engine import Db, execute_many, writing
from releaf_pipeline.lib.store.registry import FeedRecord, FeedSpec, RegistryError, list_feeds
from releaf_pipeline.lib.store.tables import feeds, servers


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


def add_feeds(db: Db, specs: list[FeedSpec], *, now: datetime) -> list[FeedRecord]:
    """Register feeds, all or none: the first bad spec raises and nothing is stored.

    Customer codes compare without regard to case: a code that differs from a registered
    one (or another spec's) only in case is the same customer, and refused like it.
    The display names the specs give are set on their accounts in the same transaction.
    A RegistryError for spec i carries `index = i` so a caller can name the line.
    """
    names: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    with writing(db) as conn:
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
    return [f for f in list_feeds(db) if (f.server_name, customer_key(f.customer_code)) in new]
