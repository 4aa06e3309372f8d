"""The `releaf` command group, and how errors reach the user: one line, never a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from releaf_pipeline.cli import admin, alerts, amend, certificates, registry, reports, runs
from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.settings import debug_requested

_debug = False
# Click 8.2 and later raise it for a group given no command; older ones print the help.
_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    help="MPS Monitor print fleets to PrintReleaf reforestation deposits.",
)
@click.option(
    "--debug",
    is_flag=True,
    help="show the Python traceback of an unexpected error (a bug); also RELEAF_DEBUG=1",
)
def releaf(debug: bool) -> None:
    """The `releaf` command."""
    global _debug
    _debug = debug or debug_requested()
    if not _debug:
        # The library's own warnings (a request retried) are the run's business, in its
        # log; the terminal gets releaf's lines only.
        logging.getLogger("releaf_pipeline.lib").addHandler(logging.NullHandler())


for module in (registry, amend, runs, reports, certificates, alerts, admin):
    module.register(releaf)


def _database_error() -> type[Exception]:
    import sqlalchemy as sa

    return sa.exc.DBAPIError


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str) -> None:
    # The message may quote what a user typed or a server sent: shown safe, never raw.
    from releaf_pipeline.cli.formats import ellipsis
    from releaf_pipeline.lib.safe_text import shown_line

    click.echo(f"releaf: error: {shown_line(_one_line(message), ellipsis=ellipsis())}", err=True)


def _os_error(exc: OSError) -> int:
    """A file or socket refused: said with its path; raised as it is under `--debug`."""
    if _debug:
        raise exc
    where = f": {exc.filename}" if exc.filename else ""
    _fail(f"{exc.strerror or exc}{where}; check the path and its permissions")
    return 1


def run(argv: Sequence[str] | None = None) -> int:
    """Run `releaf ARGS...`; returns the exit status."""
    global _debug
    _debug = debug_requested()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = releaf.main(args=args, prog_name="releaf", standalone_mode=False)
    except _NO_ARGS as exc:
        # `releaf` or `releaf server` alone: what the user wants is the help.
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        return 0
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        _fail(f"{exc.format_message()}{hint}")
        return 2
    except click.ClickException as exc:
        _fail(exc.format_message())
        return exc.exit_code or 1
    except (click.Abort, KeyboardInterrupt):
        click.echo("releaf: interrupted", err=True)
        return 130
    except ReleafError as exc:
        # Every refusal and failure a person can act on: its one line, and its status
        # (a run stopped by SIGINT or SIGTERM exits as a shell's command would).
        _fail(str(exc))
        return exc.exit_code
    except _database_error() as exc:
        # The store failed under a command that had opened it: a full disk, a file made
        # read-only, a database that went away.
        from releaf_pipeline.lib.store.engine import store_failure

        _fail(str(store_failure(exc)))
        return 1
    except BrokenPipeError:
        # The reader went away (`releaf feed list | head -3`): nothing more to say.
        return 141
    except OSError as exc:
        return _os_error(exc)
    except Exception as exc:
        if _debug:
            raise
        _fail(
            f"unexpected {type(exc).__name__}: {exc} - a bug in releaf; "
            "`releaf --debug ...` shows where it happened"
        )
        return 1
    return int(result or 0)
