"""`releaf server update|remove` and `releaf feed pause|resume|remove|update`: changing
what was registered. History stays: readings, deposits and certificates are kept."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from releaf_pipeline.app import (
    App,
    UserError,
    check_activation,
    publish_days,
    read_ca_bundle,
    record_fleet_health,
    verify_server,
)
from releaf_pipeline.cli.output import parse_date, say
from releaf_pipeline.cli.registry import TOKEN_ENV, feed, server
from releaf_pipeline.lib.rules import SCOPES

if TYPE_CHECKING:
    from releaf_pipeline.lib.store.registry import FeedRecord


def _token_or_stored(app: App, server_id: int) -> tuple[str, bool]:
    """The new dealer token (from the variable or a prompt), or the stored one when none
    is given; and whether it is new."""
    import getpass
    import sys

    if app.settings.dealer_token:
        return app.settings.dealer_token.get_secret_value(), True
    if sys.stdin.isatty():
        given = getpass.getpass("New dealer token (not echoed; Enter keeps the current one): ")
        if given.strip():
            return given.strip(), True
    from releaf_pipeline.lib.store.registry import server_token

    return server_token(app.engine, app.cipher, server_id).get_secret_value(), False


@server.command(
    "update",
    help=f"point a server at a new URL, CA bundle or dealer token (from ${TOKEN_ENV} or a "
    "prompt); the server is checked with them before they replace the old ones",
)
@click.argument("name")
@click.option("--url", help="new https:// URL")
@click.option("--ca-bundle", help="new PEM file of the CA that signed the server's certificate")
@click.option(
    "--dealer-code",
    help="the dealer code the server now answers as, when the dealer's code legitimately changed",
)
def server_update(
    name: str, url: str | None, ca_bundle: str | None, dealer_code: str | None
) -> int:
    from releaf_pipeline.lib.mpsmonitor.endpoint import require_https
    from releaf_pipeline.lib.server_identity import another_dealer
    from releaf_pipeline.lib.store.registry import get_server, update_server_connection

    new_url = require_https(url) if url is not None else None
    ca_pem = read_ca_bundle(Path(ca_bundle)) if ca_bundle else None
    app = App()
    current = get_server(app.engine, name)
    token, new_token = _token_or_stored(app, current.id)
    target = new_url or current.url
    bundle = ca_pem if ca_bundle else current.ca_bundle_pem
    if not (new_url or ca_bundle or new_token or dealer_code):
        raise UserError(
            f"nothing to change for server {name}: give --url, --ca-bundle, --dealer-code or "
            f"a new token in {TOKEN_ENV}"
        )
    ping = verify_server(target, token, bundle)
    if dealer_code is not None and ping.dealer_code != dealer_code:
        raise UserError(
            f"the server answers for dealer {ping.dealer_code}, not {dealer_code} as given "
            "by --dealer-code: nothing was changed"
        )
    new_dealer = another_dealer(current.dealer_code, ping.dealer_code)
    if new_dealer and dealer_code is None:
        raise UserError(
            f"the server answers for dealer {ping.dealer_code}, not {current.dealer_code} as "
            f"registered for {name}: register another dealer as a new server, or, if the "
            f"dealer's code legitimately changed, add --dealer-code {ping.dealer_code}"
        )
    # A new token need not be opened by the key: giving tokens again is the way back
    # from a lost key.
    cipher = app.sealing_cipher if new_token else app.cipher
    update_server_connection(
        app.engine, cipher, name=name, url=target, token=token, ca_bundle_pem=bundle,
        dealer_code=ping.dealer_code, now=app.now(),
    )  # fmt: skip
    publish_days(app)
    record_fleet_health(app)
    changed = [
        what
        for what, done in (
            ("URL", new_url),
            ("CA bundle", ca_bundle),
            ("dealer token", new_token),
            ("dealer code", new_dealer),
        )
        if done
    ]
    say(
        f"updated server {name} ({', '.join(changed) or 'nothing new'}); it answered as dealer "
        f"{ping.dealer_code} and is healthy"
    )
    return 0


@server.command("remove", help="stop checking a server; refused while feeds use it")
@click.argument("name")
def server_remove(name: str) -> int:
    from releaf_pipeline.lib.store.lifecycle import remove_server

    app = App()
    remove_server(app.engine, name, now=app.now())
    record_fleet_health(app)
    say(f"removed server {name}; its feeds' history stays")
    return 0


def _one_feed(app: App, code: str, server: str | None, *, removed: bool = False) -> FeedRecord:
    from releaf_pipeline.lib.store.feed_names import find_feeds
    from releaf_pipeline.lib.store.registry import list_feeds

    found, _ = find_feeds(list_feeds(app.engine, removed=removed), [code], server=server)
    if not found:
        where = f" on server {server}" if server is not None else ""
        raise UserError(f"no feed {code}{where}: see `releaf feed list`")
    return found[0]


CODE = click.argument("code", metavar="CODE")
SERVER = click.option(
    "--server",
    metavar="NAME",
    help="the feed's server: CODE is then that server's customer code (for a CODE or "
    "server name that holds a slash)",
)
CODE_HELP = " (CODE, or SERVER/CODE where codes repeat across servers)"


@feed.command("pause", help="stop collecting a feed until it is resumed" + CODE_HELP)
@CODE
@SERVER
def feed_pause(code: str, server: str | None) -> int:
    from releaf_pipeline.lib.store.lifecycle import pause_feed

    app = App()
    target = _one_feed(app, code, server)
    if pause_feed(app.engine, target, now=app.now()):
        record_fleet_health(app)
        say(f"paused feed {target.customer_code} on {target.server_name}")
    else:
        say(f"feed {target.customer_code} on {target.server_name} was paused already")
    publish_days(app)
    return 0


@feed.command(
    "resume",
    help="collect a paused or removed feed again; the days it missed are collected by the "
    "nights' re-read window and the catch-up, within their look-back" + CODE_HELP,
)
@CODE
@SERVER
def feed_resume(code: str, server: str | None) -> int:
    from releaf_pipeline.lib.store.lifecycle import resume_feed

    app = App()
    target = _one_feed(app, code, server, removed=True)
    if resume_feed(app.engine, target, now=app.now()):
        record_fleet_health(app)
        say(f"resumed feed {target.customer_code} on {target.server_name}")
    else:
        say(f"feed {target.customer_code} on {target.server_name} was not paused")
    publish_days(app)
    return 0


@feed.command(
    "remove", help="stop a feed for good; its readings, deposits and certificates stay" + CODE_HELP
)
@CODE
@SERVER
def feed_remove(code: str, server: str | None) -> int:
    from releaf_pipeline.lib.store.lifecycle import remove_feed

    app = App()
    if _removed_case_twin(app, code, server):
        return 0
    target = _one_feed(app, code, server)
    remove_feed(app.engine, target, now=app.now())
    publish_days(app)
    record_fleet_health(app)
    say(
        f"removed feed {target.customer_code} on {target.server_name}; its history stays "
        f"(`releaf feed resume {target.server_name}/{target.customer_code}` brings it back)"
    )
    return 0


def _removed_case_twin(app: App, code: str, server: str | None) -> bool:
    """Remove the feed named, on the store as it is, when the store cannot be upgraded
    because it feeds a customer twice under codes that differ only in case and the feed
    named is one of them; then upgrade it. False when the store opens as usual."""
    from releaf_pipeline.lib.store.codes import CaseTwinsError, remove_case_twin
    from releaf_pipeline.lib.store.engine import inspect_engine

    try:
        _ = app.engine
        return False
    except CaseTwinsError as exc:
        named = exc.named(code, server)
        if len(named) != 1:
            raise
        twin = named[0]
    store = inspect_engine(app.settings.database_url.get_secret_value())
    try:
        remove_case_twin(store, twin, now=app.now())
    finally:
        store.dispose()
    say(f"removed feed {twin.code} on {twin.server}; its history stays")
    _ = app.engine  # the upgrade, or the one line naming the customers still fed twice
    click.echo("the store is upgraded: each customer has one active feed on a server")
    return True


@feed.command(
    "update",
    help="change a feed's account, scope or activation date, where the deposits already "
    "made allow it (a certificate is never rewritten)" + CODE_HELP,
)
@CODE
@SERVER
@click.option("--account", help="new PrintReleaf account")
@click.option("--scope", type=click.Choice(SCOPES))
@click.option("--activation-date", help="YYYY-MM-DD")
@click.option(
    "--from",
    "account_from",
    help="YYYY-MM-DD: the new account gets the feed's deposits from this day on (default: "
    "from activation)",
)
def feed_update(
    code: str,
    server: str | None,
    account: str | None,
    scope: str | None,
    activation_date: str | None,
    account_from: str | None,
) -> int:
    from releaf_pipeline.lib.labels import check_label
    from releaf_pipeline.lib.store.lifecycle import update_feed

    if account is None and scope is None and activation_date is None:
        raise UserError("nothing to change: give --account, --scope or --activation-date")
    if account is not None:
        try:
            account = check_label(account, "account")
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if account_from is not None and account is None:
        raise UserError("--from says from when the new account counts: give --account too")
    activation = parse_date(activation_date, "--activation-date") if activation_date else None
    moved_from = parse_date(account_from, "--from") if account_from else None
    app = App()
    if activation is not None:
        check_activation(app, activation)
    target = _one_feed(app, code, server)
    said = update_feed(
        app.engine, target, now=app.now(), account=account, scope=scope,
        activation_date=activation, account_from=moved_from,
    )  # fmt: skip
    publish_days(app)
    if said:
        record_fleet_health(app)
    if not said:
        say(f"feed {target.customer_code} on {target.server_name} already is so")
    for line in said:
        say(f"feed {target.customer_code} on {target.server_name}: {line}")
    return 0


def register(group: click.Group) -> None:
    """These commands live in the `server` and `feed` groups, added by `registry`."""
