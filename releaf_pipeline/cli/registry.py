"""`releaf server ...` and `releaf feed ...`: what is registered."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from releaf_pipeline.app import App, UserError, read_ca_bundle, verify_server
from releaf_pipeline.cli.output import emit, iso
from releaf_pipeline.lib.rules import SCOPES

TOKEN_ENV = "RELEAF_DEALER_TOKEN"
JSON = click.option("--json", "as_json", is_flag=True, help="print JSON")


def _read_token(app: App) -> str:
    if app.settings.dealer_token:
        return app.settings.dealer_token
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
    from releaf_pipeline.lib.mpsmonitor.client import require_https
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
    click.echo(
        f"registered server {registered.name} at {registered.url} (dealer {registered.dealer_code})"
    )
    return 0


@server.command("list", help="list registered servers and their health")
@JSON
def server_list(as_json: bool) -> int:
    from releaf_pipeline.lib.store.registry import list_servers

    rows = [
        {
            "name": s.name,
            "url": s.url,
            "dealer_code": s.dealer_code,
            "ca_bundle": bool(s.ca_bundle_pem),
            "healthy": s.healthy,
            "health_since": iso(s.health_since),
            "health_reason": s.health_reason,
        }
        for s in list_servers(App().engine)
    ]
    emit(
        rows,
        as_json=as_json,
        empty="no servers registered: add one with `releaf server add NAME --url URL`",
    )
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
    from releaf_pipeline.lib.store.registry import add_feeds

    try:
        spec = feed_spec(server_name, customer_code, account, activation_date, scope, account_name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    app = App()
    (added,) = add_feeds(app.engine, [spec], now=app.now())
    named = f" ({spec.account_name})" if spec.account_name else ""
    click.echo(
        f"registered feed {added.customer_code} on {added.server_name} -> account "
        f"{added.account}{named} from {added.activation_date} (scope {added.scope})"
    )
    return 0


@feed.command("import", help="register feeds from a CSV (server,customer_code,account,"
              "activation_date,scope[,account_name]), all or none")  # fmt: skip
@click.argument("path")
def feed_import(path: str) -> int:
    from releaf_pipeline.lib.feed_csv import FeedCsvError, read_feed_csv
    from releaf_pipeline.lib.store.registry import RegistryError, add_feeds

    csv_path = Path(path)
    try:
        specs, lines = read_feed_csv(csv_path)
    except FeedCsvError as exc:
        raise UserError(str(exc)) from None
    app = App()
    try:
        added = add_feeds(app.engine, specs, now=app.now())
    except RegistryError as exc:
        line = lines[getattr(exc, "index", 0)]
        raise UserError(f"{csv_path}:{line}: {exc} (nothing was imported)") from None
    click.echo(f"imported {len(added)} feed(s) from {csv_path}")
    return 0


@feed.command("list", help="list feeds")
@JSON
def feed_list(as_json: bool) -> int:
    from releaf_pipeline.lib.store.health import feed_health_states
    from releaf_pipeline.lib.store.registry import list_feeds

    app = App()
    health = feed_health_states(app.engine)
    rows = []
    for f in list_feeds(app.engine):
        state = health.get(f.id)
        rows.append(
            {
                "server": f.server_name,
                "customer_code": f.customer_code,
                "account": f.account,
                "activation_date": f.activation_date.isoformat(),
                "scope": f.scope,
                "synced_through": iso(f.synced_through),
                "healthy": state.healthy if state else None,
                "health_since": iso(state.since_day) if state else None,
                "last_data": iso(state.last_data) if state else None,
                "health_reason": state.reason if state else None,
            }
        )
    emit(
        rows,
        as_json=as_json,
        empty="no feeds registered: add one with `releaf feed add` or `releaf feed import`",
    )
    return 0


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    group.add_command(server)
    group.add_command(feed)
