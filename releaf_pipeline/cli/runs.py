"""`releaf collect`, `backfill` and `nightly`: runs of the pipeline from a terminal."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING

import click

from releaf_pipeline.app import (
    App,
    UserError,
    check_night,
    collection_request,
    collection_summary,
    night_problems,
    run_collection,
)
from releaf_pipeline.cli.formats import count, moment
from releaf_pipeline.cli.output import parse_date, print_table, say
from releaf_pipeline.lib.trees import format_trees, trees

if TYPE_CHECKING:
    import dagster as dg

    from releaf_pipeline.replay import NightRun


def _summary(app: App, start: date, end: date) -> None:
    """Pages per account for the range, and every feed that was not collected, with why."""
    summary = collection_summary(app, start, end)
    click.echo(f"pages per account, {start} to {end}:")
    if summary.pages:
        print_table(
            ["account", "pages", "trees"],
            [(a, count(p), format_trees(trees(p), grouped=True)) for a, p in summary.pages],
        )
    else:
        click.echo("no pages deposited")
    for line in summary.problems:
        say(line, err=True)


class _Progress:
    """The run's state on one terminal line, rewritten in place: only for a terminal."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.shown = ""
        self.tty = sys.stderr.isatty()

    def __call__(self, run: dg.DagsterRun) -> None:
        from releaf_pipeline.launch import run_progress

        if not self.tty:
            return
        progress = run_progress(run.tags)
        state = run.status.value.lower()
        line = f"{self.what} run {run.run_id[:8]}: {state}"
        if progress and state == "started":
            line += f", {progress[0]} of {progress[1]} feeds done"
        if line != self.shown:
            click.echo(f"\r\033[K{line}", nl=False, err=True)
            self.shown = line

    def clear(self) -> None:
        """Take the progress line off the terminal."""
        if self.shown:
            click.echo("\r\033[K", nl=False, err=True)
            self.shown = ""


def _notice(line: str) -> None:
    say(f"releaf: {line}", err=True)


def _collect(
    what: str,
    start: date,
    end: date,
    feeds: tuple[str, ...],
    trigger: str,
    server: str | None = None,
) -> int:
    app = App()
    request = collection_request(app, start, end, feeds=feeds, server=server, trigger=trigger)
    app.check_key()
    progress = _Progress(what)
    try:
        result = run_collection(app, request, progress=progress, notice=_notice)
    finally:
        progress.clear()
    if not result.success:
        say(
            f"releaf: error: {what} run {result.run_id} failed: {result.failure}; "
            "its log is in the Dagster UI",
            err=True,
        )
        return 1
    click.echo(f"{what} run {result.run_id}: {start} to {end}")
    _summary(app, start, end)
    return 0


def _failed_run(run: NightRun) -> str:
    """The stderr line of a run of the night that failed."""
    days = (
        "" if not run.start else f" {run.start}" + (f"..{run.end}" if run.end != run.start else "")
    )
    return (
        f"run {run.run_id} ({run.trigger}{days}) failed: {run.failure}; "
        "its log is in the Dagster UI"
    )


@click.command("collect", help="collect a range of days in one Dagster run")
@click.option("--start", required=True, help="YYYY-MM-DD")
@click.option("--end", help="YYYY-MM-DD, inclusive (default: --start)")
def collect(start: str, end: str | None) -> int:
    first = parse_date(start, "--start")
    last = parse_date(end, "--end") if end else first
    return _collect("collection", first, last, (), "cli")


@click.command("backfill", help="collect a range again in one run, for all feeds or the ones named")
@click.option("--start", required=True, help="YYYY-MM-DD")
@click.option("--end", required=True, help="YYYY-MM-DD, inclusive")
@click.option(
    "--feed", "feeds", multiple=True, metavar="CODE", help="customer code (SERVER/CODE); repeatable"
)
@click.option(
    "--server",
    metavar="NAME",
    help="the server of the feeds named: each --feed is then its customer code (for a code "
    "or server name that holds a slash)",
)
def backfill(start: str, end: str, feeds: tuple[str, ...], server: str | None) -> int:
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if server is not None and not feeds:
        raise UserError("--server names the server of the --feed options: give --feed CODE")
    return _collect("backfill", first, last, feeds, "backfill", server)


@click.command(
    "nightly",
    help="replay the night after DATE: health checks, DATE's collection, every catch-up; "
    "exits 1, with one line per problem on stderr, when it leaves feeds paused or failed",
)
@click.option("--date", "day", required=True, help="YYYY-MM-DD: the day the night collects")
def nightly(day: str) -> int:
    night_of = parse_date(day, "--date")
    app = App()
    # Refused before the replay starts: its first step writes the servers' health.
    check_night(app, night_of)
    app.check_key()
    from releaf_pipeline.replay import replay_night

    night = replay_night(night_of, app.instance, cron=app.settings.nightly_cron, notice=_notice)
    say(f"night after {night_of} (as of {moment(night.at)}): {night.server_health}")
    if night.runs:
        print_table(
            ["run", "trigger", "from", "to", "result"],
            [(r.run_id[:8], r.trigger, r.start, r.end, "ok" if r.success else "FAILED")
             for r in night.runs],
        )  # fmt: skip
    else:
        click.echo("nothing to run")
    for line in night.alerts:
        say(f"alerts: {line}")
    for line in night.alert_failures:
        # Said, and not a problem of the night: the messages wait for the next tick.
        say(f"warning: {line}", err=True)
    problems = [_failed_run(r) for r in night.runs if not r.success]
    problems += night_problems(app, night)
    for line in problems:
        say(line, err=True)
    return 1 if problems else 0


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    for command in (collect, backfill, nightly):
        group.add_command(command)
