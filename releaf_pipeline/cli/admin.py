"""`releaf secrets`, `db`, `demo` and `simulator`: keys, schema, and the bundled demo."""

from __future__ import annotations

from collections.abc import Callable

import click

from releaf_pipeline.app import App, UserError, store_url_checked
from releaf_pipeline.cli.output import WholeNumber
from releaf_pipeline.simulator.main import simulator


@click.group("secrets", help="the key that seals dealer tokens")
def secrets() -> None:
    """Keys."""


@secrets.command("new-key", help="print a fresh key (for RELEAF_SECRET_KEY)")
def new_key() -> int:
    from releaf_pipeline.lib.secrets import new_key as make_key

    click.echo(make_key())
    return 0


# A hook for the kill-and-rerun test of `secrets rotate` only, not a setting:
# N:FILE makes the rotation's Nth step write its name to FILE and wait there to be killed.
_TEST_PAUSE = "RELEAF_TEST_HOOK_PAUSE_ROTATION"


def _test_pause() -> Callable[[str], None]:
    import os
    import time
    from pathlib import Path

    at, _, path = os.environ.get(_TEST_PAUSE, "").partition(":")
    steps = iter(range(1, 1_000_000))

    def pause(step: str) -> None:
        if at and next(steps) == int(at):
            Path(path).write_text(step)
            while True:
                time.sleep(60)

    return pause


@secrets.command(
    "rotate",
    help="re-encrypt every token under a new key; run it again if it was interrupted",
)
def rotate() -> int:
    from releaf_pipeline.lib.rotation import rotate_configured, rotate_key_file
    from releaf_pipeline.lib.secrets import KEY_ENV, key_file, load_keys
    from releaf_pipeline.settings import revealed

    app = App()
    home = app.settings.home
    pause = _test_pause()
    if app.settings.secret_keys:
        keys = load_keys(home, revealed(app.settings.secret_keys))
        if len(keys) < 2:
            raise UserError(
                f"{KEY_ENV} holds one key: set it to 'NEW,OLD' on every process first "
                "(make NEW with `releaf secrets new-key`), then run this to re-encrypt"
            )
        count = rotate_configured(app.engine, keys, pause=pause)
        click.echo(
            f"re-encrypted {count} token(s) under the first key of {KEY_ENV}; every token "
            "is sealed under it: once every process has it, drop the old key from the variable"
        )
        return 0
    done = rotate_key_file(app.engine, home, pause=pause)
    old = (
        f"; {done.keys - 1} older key(s) kept for tokens sealed meanwhile" if done.keys > 1 else ""
    )
    click.echo(f"new key in {key_file(home)}; re-encrypted {done.resealed} token(s) under it{old}")
    return 0


@click.group("db", help="the store's schema")
def db() -> None:
    """Schema."""


@db.command("upgrade", help="apply schema migrations (also done on first use)")
def upgrade() -> int:
    import sqlalchemy as sa

    from releaf_pipeline.lib.store.engine import store_failure
    from releaf_pipeline.lib.store.migrate import current_revision, head_revision
    from releaf_pipeline.lib.store.migrate import upgrade as migrate

    with store_url_checked():
        engine = sa.create_engine(App().settings.database_url.get_secret_value())
    shown = engine.url.render_as_string(hide_password=True)
    try:
        before = current_revision(engine)
        migrate(engine)
        after = current_revision(engine)
    except sa.exc.DBAPIError as exc:
        raise store_failure(exc, engine, doing="migrate") from None
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"store {shown} is at the newest schema ({after})")
    else:
        click.echo(
            f"store {shown} migrated from {before or 'empty'} to {after} (head {head_revision()})"
        )
    return 0


@db.command("check", help="run the database's own integrity check on the store")
def check() -> int:
    from releaf_pipeline.lib.store.check import check_store
    from releaf_pipeline.lib.store.engine import inspect_engine

    # The store as it is: opening it the usual way would migrate it first.
    with store_url_checked():
        engine = inspect_engine(App().settings.database_url.get_secret_value())
    try:
        result = check_store(engine)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    click.echo(f"store {shown} ({result.database}, schema {result.revision})")
    for ran in result.checks:
        click.echo(f"  checked: {ran}")
    for skipped in result.not_checked:
        click.echo(f"  not checked: {skipped}")
    if result.ok:
        click.echo("no problem found")
        return 0
    for problem in result.problems:
        click.echo(f"  problem: {problem}")
    raise UserError(
        f"{len(result.problems)} problem(s) found in the store: restore it from a backup, "
        "or run `releaf db upgrade` if the schema is behind"
    )


@click.command("demo", help="simulated fleet, collected, summarised, then the UI")
@click.option("--no-ui", is_flag=True, help="stop after the summary")
@click.option("--port", type=WholeNumber(1, 65535), default=3000, help="Dagster UI port")
def demo(no_ui: bool, port: int) -> int:
    from releaf_pipeline.cli.output import print_table
    from releaf_pipeline.demo import run_demo

    return run_demo(App(), ui=not no_ui, port=port, table=print_table)


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    for command in (secrets, db, demo, simulator):
        group.add_command(command)
