"""`releaf simulator`: serve a synthetic MPS Monitor fleet over HTTPS until Ctrl-C.

Options are checked before anything heavy is imported; a bad value, a port in use or a
missing `simulator` extra is one line on stderr, never a traceback (exit status 2 for
bad options, 1 when the server cannot start).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from releaf_pipeline.simulator.config import FleetConfig

__all__ = ["main"]

_PROG = "releaf simulator"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class _UsageError(Exception):
    """A bad command line; its message is argparse's, for one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _whole(text: str, low: int, high: int | None, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _port(text: str) -> int:
    return _whole(text, 0, 65535, "a port number from 0 to 65535 (0: any free port)")


def _customers(text: str) -> int:
    return _whole(text, 0, None, "a whole number, 0 or more")


def _devices(text: str) -> int:
    return _whole(text, 1, None, "a whole number, 1 or more")


def _latency(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text!r}")
    return value


def _today(text: str) -> date:
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"must be a date as YYYY-MM-DD, got {text!r}")


def _parser() -> _Parser:
    parser = _Parser(
        prog=_PROG,
        description="Serve a synthetic MPS Monitor fleet over HTTPS for testing.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=8443, help="port to listen on (0: any)")
    parser.add_argument("--seed", type=int, default=FleetConfig.seed, help="fleet seed")
    parser.add_argument("--customers", type=_customers, default=FleetConfig.customers)
    parser.add_argument(
        "--devices", type=_devices, default=FleetConfig.devices_per_customer, help="per customer"
    )
    parser.add_argument(
        "--today",
        type=_today,
        default=None,
        metavar="YYYY-MM-DD",
        help="the server's clock starts at 05:00 UTC of this date (default: the real date)",
    )
    parser.add_argument("--latency", type=_latency, default=0.0, metavar="SECONDS")
    parser.add_argument(
        "--local-time-publication",
        action="store_true",
        help="publish each day's readings 30 minutes after the day ends in the customer's "
        "time zone (default: at 00:00 UTC)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(".releaf/simulator"),
        metavar="DIR",
        help="where the CA bundle and the server certificate are kept across restarts",
    )
    return parser


def _fail(message: str) -> None:
    print(f"{_PROG}: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run a simulator until Ctrl-C or SIGTERM; the exit status."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        _fail(str(exc))
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0

    # Imported only now: a bad option is refused without loading the HTTP stack.
    from releaf_pipeline.simulator.certs import MissingExtraError
    from releaf_pipeline.simulator.contract import DEFAULT_TOKEN
    from releaf_pipeline.simulator.fleet import Fleet
    from releaf_pipeline.simulator.server import Simulator

    env_token = os.environ.get("RELEAF_DEALER_TOKEN")
    fleet = Fleet(
        FleetConfig(
            seed=args.seed,
            customers=args.customers,
            devices_per_customer=args.devices,
            publish_in_local_time=args.local_time_publication,
        )
    )
    try:
        sim = Simulator(
            fleet,
            token=env_token or DEFAULT_TOKEN,
            today=args.today,
            host=args.host,
            port=args.port,
            latency=args.latency,
            workdir=args.workdir,
        )
    except MissingExtraError as exc:
        _fail(str(exc))
        return 1
    except OSError as exc:
        _fail(f"cannot keep certificates in {args.workdir}: {exc.strerror or exc}")
        return 1
    try:
        sim.start()
    except OSError as exc:
        _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 1

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous: Any = None
    with contextlib.suppress(ValueError):
        # Only possible from the main thread; lets `kill` stop the server cleanly too.
        previous = signal.signal(signal.SIGTERM, _terminate)

    print(f"MPS Monitor simulator listening on {sim.url}")
    print(f"CA bundle: {sim.ca_bundle.resolve()}")
    print(
        "dealer token: from RELEAF_DEALER_TOKEN"
        if env_token
        else f"dealer token: {DEFAULT_TOKEN} (default; set RELEAF_DEALER_TOKEN to change)"
    )
    print(f"now: {sim.now.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    print("customer codes:")
    for code in fleet.customer_codes:
        print(f"  {code}")
    print("Press Ctrl-C to stop.", flush=True)
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


if __name__ == "__main__":
    raise SystemExit(main())
