"""`releaf demo`: a simulated MPS Monitor fleet, collected and summarised, then the UI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

from releaf_pipeline.app import (
    App,
    collection_request,
    collection_summary,
    run_collection,
    verify_server,
)
from releaf_pipeline.lib.markdown import markdown_table
from releaf_pipeline.lib.reports import month_json
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    RegistryError,
    add_feeds,
    add_server,
    list_feeds,
    update_server_connection,
)
from releaf_pipeline.lib.trees import format_trees, trees

DEMO_SERVER = "demo-mpsmonitor"


def first_of_previous_month(today: date) -> date:
    """The first day of the month before `today`'s."""
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def demo_feeds(codes: list[str], last_month: date) -> list[FeedSpec]:
    """Two feeds into one account, a mid-month activation and a managed-only feed."""
    plan = [
        ("acct-alpha", last_month, "all"),
        ("acct-alpha", last_month, "managed"),
        ("acct-bravo", last_month.replace(day=15), "all"),
        ("acct-charlie", last_month, "managed"),
    ]
    return [
        FeedSpec(DEMO_SERVER, code, account, activation, scope)
        for code, (account, activation, scope) in zip(codes, plan, strict=False)
    ]


def register_demo(app: App, url: str, token: str, ca_pem: str, codes: list[str]) -> None:
    """Register (or re-point) the demo server and its feeds."""
    now = app.now()
    ping = verify_server(url, token, ca_pem)
    args = dict(
        name=DEMO_SERVER, url=url, token=token, ca_bundle_pem=ca_pem,
        dealer_code=ping.dealer_code, now=now,
    )  # fmt: skip
    try:
        update_server_connection(app.engine, app.cipher, **args)
    except RegistryError:
        add_server(app.engine, app.cipher, **args)
    known = {f.customer_code for f in list_feeds(app.engine)}
    specs = [
        s
        for s in demo_feeds(codes, first_of_previous_month(now.date()))
        if s.customer_code not in known
    ]
    if specs:
        add_feeds(app.engine, specs, now=now)


def run_demo(app: App, *, ui: bool, port: int) -> int:
    """Simulate, register, collect last month and this month to date, summarise, serve."""
    from releaf_pipeline.simulator import Fleet, FleetConfig, Simulator

    today = app.now().date()
    last_month = first_of_previous_month(today)
    fleet = Fleet(
        FleetConfig(
            history_start=last_month - timedelta(days=62), history_end=today + timedelta(days=62)
        )
    )
    home = app.settings.home
    with Simulator(fleet, today=today, workdir=home / "simulator") as sim:
        print(f"MPS Monitor simulator at {sim.url} ({len(fleet.customer_codes)} customers)")
        register_demo(app, sim.url, sim.token, sim.ca_bundle.read_text(), fleet.customer_codes)
        end = today - timedelta(days=1)
        print(f"collecting {last_month} to {end} ...", flush=True)
        request = collection_request(app, last_month, end, trigger="demo")
        result = run_collection(app, request)
        if not result.success:
            print(f"releaf: demo collection run {result.run_id} failed", file=sys.stderr)
            return 1
        months = sorted({last_month.strftime("%Y-%m"), end.strftime("%Y-%m")})
        rows = []
        for month in months:
            for acct in month_json(app.engine, month)["accounts"]:
                rows.append((month, acct["account"], acct["pages"], f"{acct['trees']:.2f}"))
        print(markdown_table(["month", "account", "pages", "trees"], rows))
        summary = collection_summary(app, last_month, end)
        print(f"pages per account, {last_month} to {end}:")
        print(
            markdown_table(
                ["account", "pages", "trees"],
                [(a, p, format_trees(trees(p))) for a, p in summary.pages],
            )
        )
        for line in summary.problems:
            print(line, file=sys.stderr)
        if not ui:
            return 0
        print(f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        cmd = [
            sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port),
            "-m", "releaf_pipeline.definitions",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=30)
            return 0
