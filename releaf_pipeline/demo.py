"""`releaf demo`: a simulated MPS Monitor fleet, collected and summarised, then the UI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from releaf_pipeline.app import (
    App,
    collection_request,
    collection_summary,
    run_collection,
    verify_server,
)
from releaf_pipeline.lib.reports import month_json
from releaf_pipeline.lib.store.feed_registration import add_feeds
from releaf_pipeline.lib.store.registry import (
    FeedSpec,
    RegistryError,
    add_server,
    list_feeds,
    update_server_connection,
)
from releaf_pipeline.lib.trees import format_trees, trees

DEMO_SERVER = "demo-mpsmonitor"

Table = Callable[[Sequence[str], Sequence[Sequence[object]]], None]
"""Prints rows under headers, as the terminal shows tables."""


def first_of_previous_month(today: date) -> date:
    """The first day of the month before `today`'s."""
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


DEMO_ACCOUNT_NAMES = {
    "acct-alpha": "Alpha Logistics Ltd.",
    "acct-bravo": "Bravo Dental Group",
    "acct-charlie": "Charlie & Sons Printing",
}


def demo_feeds(codes: list[str], last_month: date) -> list[FeedSpec]:
    """Two feeds into one account, a mid-month activation and a managed-only feed."""
    plan = [
        ("acct-alpha", last_month, "all"),
        ("acct-alpha", last_month, "managed"),
        ("acct-bravo", last_month.replace(day=15), "all"),
        ("acct-charlie", last_month, "managed"),
    ]
    return [
        FeedSpec(DEMO_SERVER, code, account, activation, scope, DEMO_ACCOUNT_NAMES[account])
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


PARTITIONS_START_VARIABLE = "RELEAF_PARTITIONS_START"


def start_partitions_at(first: date) -> None:
    """Make the partitions start on the demo's first day, for this process and the UI it
    starts; it must happen before the definitions are loaded."""
    if "releaf_pipeline.defs.partitions" in sys.modules:
        from releaf_pipeline.defs.partitions import PARTITIONS_START

        if first.isoformat() != PARTITIONS_START:
            raise RuntimeError("the demo sets the partitions' start before loading them")
    os.environ[PARTITIONS_START_VARIABLE] = first.isoformat()


def close_month(app: App, month: date) -> Any:
    """Run the monthly close of `month` now, with no grace period: the demo closes the last
    full month with what it collected, where production waits for it to be complete (or
    for the grace period)."""
    import dagster as dg

    from releaf_pipeline.definitions import defs
    from releaf_pipeline.launch import MONTHLY_CLOSE_JOB, TRIGGER_TAG, execute

    config = dg.RunConfig(resources={"reforestation": {"config": {"grace_days": 0}}})
    return execute(
        defs, MONTHLY_CLOSE_JOB, app.instance, run_config=config,
        tags={TRIGGER_TAG: "demo"}, partition_key=month.isoformat(),
    )  # fmt: skip


def write_workspace(home: Path) -> Path:
    """The workspace the demo's UI loads: the code location under the name its runs have."""
    from releaf_pipeline.launch import CODE_LOCATION, DEFINITIONS_MODULE

    path = home / "workspace.yaml"
    path.write_text(
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {DEFINITIONS_MODULE}\n"
        f"      location_name: {CODE_LOCATION}\n"
    )
    return path


def run_demo(app: App, *, ui: bool, port: int, table: Table) -> int:
    """Simulate, register, collect last month and this month to date, close last month and
    print its certificates, then serve the UI."""
    from releaf_pipeline.lib.store.certificates import list_certificates
    from releaf_pipeline.simulator import Fleet, FleetConfig, Simulator

    today = app.now().date()
    last_month = first_of_previous_month(today)
    start_partitions_at(last_month)
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
                rows.append((month, acct["account"], f"{acct['pages']:,}", f"{acct['trees']:.2f}"))
        table(["month", "account", "pages", "trees"], rows)
        summary = collection_summary(app, last_month, end)
        print(f"pages per account, {last_month} to {end}:")
        table(
            ["account", "pages", "trees"],
            [(a, f"{p:,}", format_trees(trees(p))) for a, p in summary.pages],
        )
        for line in summary.problems:
            print(line, file=sys.stderr)

        closing = last_month.strftime("%Y-%m")
        print(f"closing {closing} ...", flush=True)
        if not close_month(app, last_month).success:
            print(f"releaf: the demo's close of {closing} failed: see the run in the UI",
                  file=sys.stderr)  # fmt: skip
            return 1
        issued = list_certificates(app.engine, month=closing)
        print(f"Certificates of Reforestation for {closing}:")
        table(
            ["certificate", "account", "name", "pages", "trees", "pdf"],
            [(c.certificate.id, c.certificate.account, c.certificate.account_name or "",
              f"{c.certificate.credited_pages:,}", format_trees(c.certificate.trees), c.pdf_path)
             for c in issued],
        )  # fmt: skip
        if not ui:
            return 0
        print(f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        cmd = [
            sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port),
            "-w", str(write_workspace(home)),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=30)
            return 0
