"""`releaf collect`, `backfill` and `nightly`: runs of the pipeline from a terminal."""

from __future__ import annotations

from datetime import date

import click

from releaf_pipeline.app import App, collection_request, collection_summary, run_collection
from releaf_pipeline.cli.output import parse_date
from releaf_pipeline.lib.markdown import markdown_table


def _summary(app: App, start: date, end: date) -> None:
    """Pages per account for the range, and every feed that was not collected, with why."""
    from releaf_pipeline.lib.trees import format_trees, trees

    summary = collection_summary(app, start, end)
    click.echo(f"pages per account, {start} to {end}:")
    click.echo(
        markdown_table(
            ["account", "pages", "trees"],
            [(a, p, format_trees(trees(p))) for a, p in summary.pages],
        )
    )
    for line in summary.problems:
        click.echo(line, err=True)


def _collect(what: str, start: date, end: date, feeds: tuple[str, ...], trigger: str) -> int:
    app = App()
    request = collection_request(app, start, end, feeds=feeds, trigger=trigger)
    result = run_collection(app, request)
    if not result.success:
        click.echo(f"releaf: {what} run {result.run_id} failed; see the Dagster UI", err=True)
        return 1
    click.echo(f"{what} run {result.run_id}: {start} to {end}")
    _summary(app, start, end)
    return 0


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
def backfill(start: str, end: str, feeds: tuple[str, ...]) -> int:
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    return _collect("backfill", first, last, feeds, "backfill")


@click.command(
    "nightly", help="replay the night after DATE: health checks, DATE's collection, every catch-up"
)
@click.option("--date", "day", required=True, help="YYYY-MM-DD: the day the night collects")
def nightly(day: str) -> int:
    from releaf_pipeline.replay import replay_night

    night_of = parse_date(day, "--date")
    app = App()
    night = replay_night(night_of, app.instance, cron=app.settings.nightly_cron)
    click.echo(f"night after {night_of} (as of {night.at.isoformat()}): {night.server_health}")
    click.echo(
        markdown_table(
            ["run", "trigger", "from", "to", "result"],
            [
                (r.run_id[:8], r.trigger, r.start, r.end, "ok" if r.success else "FAILED")
                for r in night.runs
            ],
        )
        if night.runs
        else "nothing to run"
    )
    return 0 if all(r.success for r in night.runs) else 1


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    for command in (collect, backfill, nightly):
        group.add_command(command)
