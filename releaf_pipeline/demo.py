"""`releaf demo`: a simulated MPS Monitor fleet, collected and summarised, then the UI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from releaf_pipeline import cli
from releaf_pipeline.lib.markdown import markdown_table
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    RegistryError,
    add_feeds,
    add_server,
    list_feeds,
    update_server_connection,
)
from releaf_pipeline.simulator.fleet import Fleet, FleetConfig
from releaf_pipeline.simulator.server import Simulator

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


def register_demo(sim: Simulator, today: date) -> None:
    """Register (or re-point) the demo server and its feeds."""
    engine = cli._engine()
    cipher = cli._cipher()
    now = datetime.now(UTC)
    ping = cli.verify_server(sim.url, sim.token, sim.ca_bundle.read_text())
    args = dict(
        name=DEMO_SERVER,
        url=sim.url,
        token=sim.token,
        ca_bundle_pem=sim.ca_bundle.read_text(),
        dealer_code=ping.dealer_code,
        now=now,
    )
    try:
        update_server_connection(engine, cipher, **args)
    except RegistryError:
        add_server(engine, cipher, **args)
    known = {f.customer_code for f in list_feeds(engine)}
    specs = [
        s
        for s in demo_feeds(sim.fleet.customer_codes, first_of_previous_month(today))
        if s.customer_code not in known
    ]
    if specs:
        add_feeds(engine, specs, now=now)


def run_demo(home: Path, *, ui: bool, port: int) -> int:
    """Simulate, register, collect last month and this month to date, summarise, serve."""
    today = datetime.now(UTC).date()
    last_month = first_of_previous_month(today)
    fleet = Fleet(
        FleetConfig(
            history_start=last_month - timedelta(days=62), history_end=today + timedelta(days=62)
        )
    )
    with Simulator(fleet, today=today, workdir=home / "simulator") as sim:
        print(f"MPS Monitor simulator at {sim.url} ({len(fleet.customer_codes)} customers)")
        register_demo(sim, today)
        end = today - timedelta(days=1)
        print(f"collecting {last_month} to {end} ...", flush=True)
        result = cli.run_collection(last_month, end, tags={"releaf/trigger": "demo"})
        if not result.success:
            print(f"releaf: demo collection run {result.run_id} failed", file=sys.stderr)
            return 1
        months = sorted({last_month.strftime("%Y-%m"), end.strftime("%Y-%m")})
        rows = []
        for month in months:
            for acct in cli.report_json(month)["accounts"]:
                rows.append((month, acct["account"], acct["pages"], f"{acct['trees']:.2f}"))
        print(markdown_table(["month", "account", "pages", "trees"], rows))
        cli.print_collection_summary(last_month, end)
        if not ui:
            return 0
        print(f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        cmd = [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "releaf_pipeline.definitions",
        ]
        proc = subprocess.Popen(cmd, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=30)
            return 0
