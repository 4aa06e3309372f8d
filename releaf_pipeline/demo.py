"""`releaf demo`: a simulated MPS Monitor fleet, collected and summarised, then the UI."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releaf_pipeline.app import (
    App,
    UserError,
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
from releaf_pipeline.settings import write_setting

if TYPE_CHECKING:
    from releaf_pipeline.simulator.fleet import Fleet

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


def start_partitions_at(home: Path, first: date) -> Path:
    """Make the partitions start on the demo's first day in the home's settings file, so
    that every process on the home agrees (this one, the daemon and webserver it starts,
    and a `dg dev` or `releaf` started later); it must happen before the definitions are
    loaded. Returns the settings file."""
    if "releaf_pipeline.defs.partitions" in sys.modules:
        from releaf_pipeline.defs.partitions import PARTITIONS_START

        if first.isoformat() != PARTITIONS_START:
            raise RuntimeError("the demo sets the partitions' start before loading them")
    path = write_setting(home, PARTITIONS_START_VARIABLE, first.isoformat())
    # The environment wins over the file: one inherited from the shell must not make this
    # process and its children disagree with it.
    os.environ[PARTITIONS_START_VARIABLE] = first.isoformat()
    return path


OFFLINE_CUSTOMER = 3
"""The customer whose site is offline at the end of the demo's window (acct-charlie)."""


def demo_fleet(last_month: date, today: date) -> Fleet:
    """The demo's fleet: the seeded scenarios (a DCA offline across the month before's end,
    a meter reset, devices added mid-month) around the demo's window, and one site whose
    DCA went offline a week ago and has not uploaded since, so that the last days' freshness
    checks fail as a newcomer should see them fail."""
    from releaf_pipeline.simulator.config import CustomerOutage, FleetConfig
    from releaf_pipeline.simulator.fleet import Fleet

    yesterday = today - timedelta(days=1)
    offline = CustomerOutage(
        OFFLINE_CUSTOMER, yesterday - timedelta(days=OFFLINE_DAYS), today + timedelta(days=7)
    )
    return Fleet(
        FleetConfig(
            history_start=last_month - timedelta(days=62),
            history_end=today + timedelta(days=62),
            customer_outages=(offline,),
        )
    )


OFFLINE_DAYS = 7
"""How long before yesterday the offline site's last reading is: more than the 3 business
days after which a feed is stale, whatever the day of the week."""


def close_month(app: App, month: date) -> Any:
    """Run the monthly close of `month` now, with no grace period: the demo closes the last
    full month with what it collected, where production waits for it to be complete (or
    for the grace period)."""
    import dagster as dg

    from releaf_pipeline.definitions import defs
    from releaf_pipeline.launch import MONTHLY_CLOSE_JOB, TRIGGER_TAG, Launcher

    # Run config replaces a configured resource's whole config, so every field is given.
    configured = defs.resources["reforestation"].model_dump()
    config = dg.RunConfig(resources={"reforestation": {"config": {**configured, "grace_days": 0}}})
    with Launcher(app.instance) as launcher:
        return launcher.execute(
            defs, MONTHLY_CLOSE_JOB, run_config=config, tags={TRIGGER_TAG: "demo"},
            partition_key=month.isoformat(),
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


def _console_script(name: str) -> str:
    """A Dagster command installed beside this Python (the virtualenv's), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


class DagsterServices:
    """The Dagster daemon and webserver the demo runs on its home, each in a process group
    of its own (with the code servers and run workers it starts), stopped together."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.workspace = write_workspace(home)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start_daemon(self) -> Path:
        """Start `dagster-daemon run`: the schedule, the sensors, the run queue and the
        backfills. Its log goes to a file in the home, which is returned."""
        log_path = self.home / "dagster-daemon.log"
        with log_path.open("ab") as log:
            cmd = [_console_script("dagster-daemon"), "run", "-w", str(self.workspace)]
            self.procs.append(
                subprocess.Popen(
                    cmd,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return log_path

    def start_webserver(self, port: int) -> subprocess.Popen[bytes]:
        """Start `dagster-webserver` on loopback at `port`, its log on this terminal."""
        cmd = [
            _console_script("dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
            "-w", str(self.workspace),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=self.env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        """Stop every process started, each with what it started (runs still going are
        then failed by run monitoring, as after any restart)."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()


def check_port_free(port: int) -> None:
    """Refuse, before the story starts, a UI port something else already listens on."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise UserError(
                f"port {port} on 127.0.0.1 is in use: stop what listens there, or give "
                "another port (releaf demo --port N, make demo PORT=N)"
            ) from None


def run_demo(app: App, *, ui: bool, port: int, table: Table) -> int:
    """Simulate, register, collect last month and this month to date, close last month and
    print its certificates, with the Dagster daemon running as in production; then serve
    the UI beside it until Ctrl-C."""
    from releaf_pipeline.simulator.server import Simulator

    if ui:
        check_port_free(port)
    today = app.now().date()
    last_month = first_of_previous_month(today)
    home = app.settings.home
    settings_path = start_partitions_at(home, last_month)
    fleet = demo_fleet(last_month, today)
    # The instance file first: the daemon must not create the instance without it.
    _ = app.instance
    services = DagsterServices(home, {**os.environ, "DAGSTER_HOME": str(home)})
    # A SIGTERM (a closed terminal, `kill`) stops the daemon and webserver too, as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with Simulator(fleet, today=today, workdir=home / "simulator") as sim:
            print(f"MPS Monitor simulator at {sim.url} ({len(fleet.customer_codes)} customers)")
            print(f"partitions from {last_month} (RELEAF_PARTITIONS_START in {settings_path})")
            # Started before the feeds exist, so that its first sensor ticks find nothing
            # to catch up that the demo's own collection is about to do.
            log = services.start_daemon()
            print(f"Dagster daemon running (log: {log})")
            code = _story(app, sim, fleet, today, last_month, table)
            if code or not ui:
                return code
            print(f"Dagster UI on http://127.0.0.1:{port} with the daemon (Ctrl-C to stop)",
                  flush=True)  # fmt: skip
            webserver = services.start_webserver(port)
            try:
                return webserver.wait()
            except KeyboardInterrupt:
                return 0
    finally:
        services.stop()
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _story(app: App, sim: Any, fleet: Fleet, today: date, last_month: date, table: Table) -> int:
    """Register, collect, print the summary, close last month and print its certificates;
    returns the exit status."""
    from releaf_pipeline.lib.store.certificates import list_certificates

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
            rows.append(
                (month, acct["account"], f"{acct['pages']:,}", format_trees(trees(acct["pages"])))
            )
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
          f"{c.certificate.credited_pages:,}", format_trees(c.certificate.trees),
          c.pdf_file(app.settings.certificates_dir))
         for c in issued],
    )  # fmt: skip
    return 0
