"""The `releaf` command group, and how errors reach the user: one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from releaf_pipeline.app import UserError
from releaf_pipeline.cli import admin, certificates, registry, reports, runs


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    help="MPS Monitor print fleets to PrintReleaf reforestation deposits.",
)
def releaf() -> None:
    """The `releaf` command."""


for module in (registry, runs, reports, certificates, admin):
    module.register(releaf)


def _errors() -> tuple[type[BaseException], ...]:
    # The project's own refusals: each carries the one line a user needs.
    from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
    from releaf_pipeline.lib.secrets import SecretKeyError
    from releaf_pipeline.lib.store.engine import StoreError
    from releaf_pipeline.lib.store.registry import RegistryError
    from releaf_pipeline.settings import SettingsError

    return (UserError, RegistryError, MPSMonitorError, StoreError, SecretKeyError, SettingsError)


def run(argv: Sequence[str] | None = None) -> int:
    """Run `releaf ARGS...`; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = releaf.main(args=args, prog_name="releaf", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        click.echo(f"releaf: error: {exc.format_message()}{hint}", err=True)
        return 2
    except (click.Abort, KeyboardInterrupt):
        click.echo("releaf: interrupted", err=True)
        return 130
    except _errors() as exc:
        click.echo(f"releaf: error: {exc}", err=True)
        return 2
    return int(result or 0)
