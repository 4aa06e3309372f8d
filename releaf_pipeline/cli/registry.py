"""`releaf server ...` and `releaf feed ...`: what is registered."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from releaf_pipeline.app import (
    App,
    UserError,
    check_activation,
    read_ca_bundle,
    record_fleet_health,
    verify_server,
)
from releaf_pipeline.cli.formats import CA_HEADER, ca_fingerprint, ca_sha256, moment
from releaf_pipeline.cli.output import emit, iso, say
from releaf_pipeline.lib.rules import SCOPES

if TYPE_CHECKING:
    from releaf_pipeline.lib.fleet_health import FleetHealth

TOKEN_ENV = "RELEAF_DEALER_TOKEN"
JSON = click.option("--json", "as_json", is_flag=True, help="print JSON")


def _fleet(app: App) -> FleetHealth:
    """Every server and feed as the pipeline sees them today."""
    from releaf_pipeline.lib.fleet_health import assess_fleet

    return assess_fleet(
        app.engine,
        app.now().date(),
        check_seconds=app.settings.health_check_seconds,
        lookback_days=app.settings.catchup_lookback_days,
    )


def _read_token(app: App) -> str:
    if app.settings.dealer_token:
        return app.settings.dealer_token.get_secret_value()
    if sys.stdin.isatty():
        token = getpass.getpass("Dealer token (not echoed): ").strip()
        if token:
            return token
    raise UserError(
        f"no dealer token: set {TOKEN_ENV} or run on a terminal to be prompted "
        "(it is never taken from the command line)"
    )


@click.group("server", help="register and list MPS Monitor servers")
def server() -> None:
    """Servers."""


@server.command("add", help=f"register a server (dealer token from ${TOKEN_ENV} or a prompt)")
@click.argument("name")
@click.option("--url", required=True, help="https:// URL of the server")
@click.option("--ca-bundle", help="PEM file of the CA that signed the server's certificate")
def server_add(name: str, url: str, ca_bundle: str | None) -> int:
    from releaf_pipeline.lib.mpsmonitor.endpoint import require_https
    from releaf_pipeline.lib.store.registry import add_server, list_servers

    url = require_https(url)
    ca_pem = read_ca_bundle(Path(ca_bundle)) if ca_bundle else None
    app = App()
    token = _read_token(app)
    if any(s.name == name for s in list_servers(app.engine)):
        raise UserError(f"a server named {name!r} is already registered")
    ping = verify_server(url, token, ca_pem)
    registered = add_server(
        app.engine, app.cipher, name=name, url=url, token=token, ca_bundle_pem=ca_pem,
        dealer_code=ping.dealer_code, now=app.now(),
    )  # fmt: skip
    record_fleet_health(app)
    say(
        f"registered server {registered.name} at {registered.url} (dealer {registered.dealer_code})"
    )
    return 0


@server.command(
    "list",
    help="list registered servers: health, since when, why, what happens next; the CA "
    "bundle shows as the SHA-256 of its first certificate (what `openssl x509 -noout "
    "-fingerprint -sha256` prints), or as the system trust store",
)
@JSON
def server_list(as_json: bool) -> int:
    app = App()
    fleet = _fleet(app)
    rows = [
        {
            "name": s.server.name,
            "url": s.server.url,
            "dealer_code": s.server.dealer_code,
            "ca_bundle": bool(s.server.ca_bundle_pem),
            "healthy": s.server.healthy,
            "health_since": iso(s.server.health_since),
            "health_reason": s.server.health_reason,
            # Added after the keys above, which stay as they were.
            "ca_bundle_sha256": ca_sha256(s.server.ca_bundle_pem),
            "state": s.state,
            "next": s.next,
        }
        for s in fleet.servers
    ]
    emit(
        rows,
        as_json=as_json,
        empty="no servers registered: add one with `releaf server add NAME --url URL`",
        headers=["server", "url", "dealer", CA_HEADER, "health", "since", "why", "next"],
        cells=[
            (s.server.name, s.server.url, s.server.dealer_code or "",
             ca_fingerprint(s.server.ca_bundle_pem), s.state, moment(s.since), s.why, s.next)
            for s in fleet.servers
        ],
    )  # fmt: skip
    return 0


@click.group("feed", help="register and list customer feeds")
def feed() -> None:
    """Feeds."""


@feed.command("add", help="register one feed")
@click.option("--server", "server_name", required=True)
@click.option("--customer-code", required=True)
@click.option("--account", required=True, help="PrintReleaf account")
@click.option("--activation-date", required=True, help="YYYY-MM-DD")
@click.option("--scope", required=True, type=click.Choice(SCOPES))
@click.option(
    "--account-name",
    help="the account's name on its certificates (at most 100 characters); replaces the "
    "name it had, and without it the account keeps its name",
)
def feed_add(
    server_name: str,
    customer_code: str,
    account: str,
    activation_date: str,
    scope: str,
    account_name: str | None,
) -> int:
    from releaf_pipeline.lib.feed_csv import feed_spec
    from releaf_pipeline.lib.store.feed_registration import add_feeds

    try:
        spec = feed_spec(server_name, customer_code, account, activation_date, scope, account_name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    app = App()
    check_activation(app, spec.activation_date)
    (added,) = add_feeds(app.engine, [spec], now=app.now())
    record_fleet_health(app)
    named = f" ({spec.account_name})" if spec.account_name else ""
    say(
        f"registered feed {added.customer_code} on {added.server_name} -> account "
        f"{added.account}{named} from {added.activation_date} (scope {added.scope})"
    )
    return 0


@feed.command("import", help="register feeds from a CSV (server,customer_code,account,"
              "activation_date,scope[,account_name]), all or none")  # fmt: skip
@click.argument("path")
def feed_import(path: str) -> int:
    from releaf_pipeline.lib.feed_csv import FeedCsvError, read_feed_csv
    from releaf_pipeline.lib.store.feed_registration import add_feeds
    from releaf_pipeline.lib.store.registry import RegistryError

    csv_path = Path(path)
    if csv_path.is_dir():
        raise UserError(f"{csv_path} is a directory: give the CSV file of feeds")
    if csv_path.is_file() and b"\0" in csv_path.read_bytes():
        # Text never holds NUL; Python's csv module would pass it on into the codes.
        raise UserError(f"{csv_path} is not a CSV text file (it holds NUL bytes)")
    try:
        specs, lines = read_feed_csv(csv_path)
    except FeedCsvError as exc:
        raise UserError(str(exc)) from None
    app = App()
    for spec, line in zip(specs, lines, strict=True):
        try:
            check_activation(app, spec.activation_date)
        except UserError as exc:
            raise UserError(f"{csv_path}:{line}: {exc} (nothing was imported)") from None
    try:
        added = add_feeds(app.engine, specs, now=app.now())
    except RegistryError as exc:
        line = lines[getattr(exc, "index", 0)]
        raise UserError(f"{csv_path}:{line}: {exc} (nothing was imported)") from None
    record_fleet_health(app)
    say(f"imported {len(added)} feed(s) from {csv_path}")
    return 0


@feed.command("list", help="list feeds: how far they are collected, their state, why, next")
@JSON
def feed_list(as_json: bool) -> int:
    from releaf_pipeline.lib.store.health import feed_health_states

    app = App()
    fleet = _fleet(app)
    freshness = feed_health_states(app.engine)
    rows, cells = [], []
    for f in fleet.feeds:
        feed, fresh = f.feed, freshness.get(f.feed.id)
        rows.append(
            {
                "server": feed.server_name,
                "customer_code": feed.customer_code,
                "account": feed.account,
                "activation_date": feed.activation_date.isoformat(),
                "scope": feed.scope,
                "synced_through": iso(feed.synced_through),
                # Freshness alone, as before: whether its devices report.
                "healthy": fresh.healthy if fresh else None,
                "health_since": iso(fresh.since_day) if fresh else None,
                "last_data": iso(fresh.last_data) if fresh else None,
                "health_reason": fresh.reason if fresh else None,
                # Added: the feed as the fleet sees it (its server's health, paused and
                # failed days, freshness) and what the pipeline does next.
                "state": f.state,
                "state_since": iso(f.since),
                "state_reason": f.why or None,
                "next": f.next,
            }
        )
        cells.append(
            (feed.server_name, feed.customer_code, feed.account, feed.scope,
             moment(feed.activation_date), moment(feed.synced_through),
             moment(fresh.last_data) if fresh else "", f.state, moment(f.since), f.why, f.next)
        )  # fmt: skip
    emit(
        rows,
        as_json=as_json,
        empty="no feeds registered: add one with `releaf feed add` or `releaf feed import`",
        headers=["server", "customer", "account", "scope", "active from", "collected through",
                 "last data", "state", "since", "why", "next"],
        cells=cells,
    )  # fmt: skip
    return 0


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    group.add_command(server)
    group.add_command(feed)
