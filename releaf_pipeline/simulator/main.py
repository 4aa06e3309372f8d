"""`releaf simulator`: serve a synthetic MPS Monitor fleet over HTTPS until Ctrl-C.

Options are checked by click before anything heavy is imported; a bad value, a port in
use or a missing `simulator` extra is one line on stderr, never a traceback (exit status 2
for bad options, 1 when the server cannot start).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from datetime import date
from pathlib import Path
from typing import Any

import click

from releaf_pipeline.lib.dates import strict_date
from releaf_pipeline.simulator.config import FleetConfig


def _today(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    try:
        return None if value is None else strict_date(value)
    except ValueError:
        raise click.BadParameter(f"must be a date as YYYY-MM-DD, got {value!r}") from None


def _seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"must be a number of seconds, 0 or more, got {value}")
    return value


@click.command("simulator", help="run the MPS Monitor simulator over HTTPS until Ctrl-C")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8443,
    show_default=True,
    help="port to listen on (0: any free one)",
)
@click.option("--seed", type=int, default=FleetConfig.seed, show_default=True, help="fleet seed")
@click.option(
    "--customers", type=click.IntRange(min=0), default=FleetConfig.customers, show_default=True
)
@click.option(
    "--devices",
    type=click.IntRange(min=1),
    show_default=True,
    default=FleetConfig.devices_per_customer,
    help="per customer",
)
@click.option(
    "--today",
    callback=_today,
    metavar="YYYY-MM-DD",
    help="the server's clock starts at 05:00 UTC of this date (default: the real date)",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    callback=_seconds,
    metavar="SECONDS",
    help="added to every answer",
)
@click.option(
    "--local-time-publication",
    is_flag=True,
    help="publish each day's readings 30 minutes after the day ends in the "
    "customer's time zone (default: at 00:00 UTC)",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path(".releaf/simulator"),
    show_default=True,
    metavar="DIR",
    help="where the CA bundle and the server certificate are kept across restarts",
)
def simulator(
    host: str,
    port: int,
    seed: int,
    customers: int,
    devices: int,
    today: date | None,
    latency: float,
    local_time_publication: bool,
    workdir: Path,
) -> int:
    # Imported only now: a bad option is refused without loading the HTTP stack.
    from releaf_pipeline.simulator.certs import MissingExtraError
    from releaf_pipeline.simulator.contract import DEFAULT_TOKEN
    from releaf_pipeline.simulator.fleet import Fleet
    from releaf_pipeline.simulator.server import Simulator

    env_token = os.environ.get("RELEAF_DEALER_TOKEN")
    fleet = Fleet(
        FleetConfig(
            seed=seed,
            customers=customers,
            devices_per_customer=devices,
            publish_in_local_time=local_time_publication,
        )
    )
    try:
        sim = Simulator(
            fleet,
            token=env_token or DEFAULT_TOKEN,
            today=today,
            host=host,
            port=port,
            latency=latency,
            workdir=workdir,
        )
    except MissingExtraError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        why = exc.strerror or exc
        raise click.ClickException(f"cannot keep certificates in {workdir}: {why}") from None
    try:
        sim.start()
    except OSError as exc:
        why = exc.strerror or exc
        raise click.ClickException(f"cannot listen on {host}:{port}: {why}") from None

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous: Any = None
    with contextlib.suppress(ValueError):
        # Only possible from the main thread; lets `kill` stop the server cleanly too.
        previous = signal.signal(signal.SIGTERM, _terminate)
    token = (
        "from RELEAF_DEALER_TOKEN"
        if env_token
        else (f"{DEFAULT_TOKEN} (default; set RELEAF_DEALER_TOKEN to change)")
    )
    click.echo(
        f"MPS Monitor simulator listening on {sim.url}\n"
        f"CA bundle: {sim.ca_bundle.resolve()}\ndealer token: {token}\n"
        f"now: {sim.now.strftime('%Y-%m-%dT%H:%M:%SZ')}\ncustomer codes:"
    )
    for code in fleet.customer_codes:
        click.echo(f"  {code}")
    click.echo("Press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
