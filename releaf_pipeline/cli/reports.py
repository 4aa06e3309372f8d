"""`releaf report`: pages and trees per account for a month, and what a month waits for."""

from __future__ import annotations

import json

import click

from releaf_pipeline.app import App
from releaf_pipeline.cli.formats import count
from releaf_pipeline.cli.output import check_month, print_table, say
from releaf_pipeline.lib.trees import format_trees


def month_waiting(app: App, month: str) -> list[tuple[str, str]]:
    """(account, what its month waits for) of accounts whose month is not certified yet."""
    from releaf_pipeline.lib.monthly_close import GRACE, close_status

    out = []
    today = app.now().date()
    for s in close_status(app.engine, month, today, grace_days=app.settings.grace_days):
        if s.certified:
            continue
        if s.closed_by == GRACE:
            out.append((s.account, f"{s.waiting}; the grace period is over: the next close "
                        "issues its certificate with what is known"))  # fmt: skip
        elif s.closable:
            out.append((s.account, "nothing: the next close issues its certificate"))
        else:
            out.append((s.account, s.waiting))
    return out


@click.command("report", help="pages and trees per account for a month")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def report(month: str, as_json: bool) -> int:
    from releaf_pipeline.lib.reports import month_json

    check_month(month)
    app = App()
    data = month_json(app.engine, month)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return 0
    if not data["accounts"]:
        click.echo(f"no deposits in {month}")
        return 0
    click.echo(f"pages and trees per account, {month}:")
    print_table(
        ["account", "pages", "trees", "days", "certificate"],
        [(a["account"], count(a["pages"]), format_trees(a["trees"], grouped=True),
          count(len(a["days"])), a["certificate"] or "not issued")
         for a in data["accounts"]],
    )  # fmt: skip
    for account, why in month_waiting(app, month):
        say(f"{account} waits: {why}")
    return 0


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    group.add_command(report)
