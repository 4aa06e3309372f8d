"""`releaf`: register servers and feeds, collect, report, and run the demo.

Bad input exits non-zero with one line on stderr and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from releaf_pipeline.lib.accounting import format_trees, trees
from releaf_pipeline.lib.markdown import markdown_table
from releaf_pipeline.lib.mpsmonitor.client import ClientSettings, MPSMonitorClient, require_https
from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError
from releaf_pipeline.lib.mpsmonitor.models import Ping
from releaf_pipeline.lib.paths import DEFAULT_HOME, current_time, default_database_url
from releaf_pipeline.lib.secrets import SecretKeyError, TokenCipher, load_keys
from releaf_pipeline.lib.store.engine import StoreError, make_engine
from releaf_pipeline.lib.store.registry import (
    SCOPES,
    FeedSpec,
    RegistryError,
    add_feeds,
    add_server,
    list_feeds,
    list_servers,
)
from releaf_pipeline.lib.store.reports import month_bounds, month_report

TOKEN_ENV = "RELEAF_DEALER_TOKEN"
FEED_CSV_COLUMNS = ["server", "customer_code", "account", "activation_date", "scope"]


# Written when DAGSTER_HOME has no instance file; the repository's dagster.yaml is richer.
DEFAULT_INSTANCE_YAML = """\
# Dagster instance: SQLite storage in this directory (the default).
telemetry:
  enabled: false
"""


class CliError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def _home() -> Path:
    # Dagster reads DAGSTER_HOME itself, so the default must be put in the environment.
    if not os.environ.get("DAGSTER_HOME", "").strip():
        os.environ["DAGSTER_HOME"] = str(Path.cwd() / DEFAULT_HOME)
    home = Path(os.environ["DAGSTER_HOME"]).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(DEFAULT_INSTANCE_YAML)
    return home


def _engine():  # type: ignore[no-untyped-def]
    return make_engine(default_database_url(_home()))


def _cipher() -> TokenCipher:
    return TokenCipher(load_keys(_home()))


def _now() -> datetime:
    try:
        return current_time()
    except ValueError as exc:
        raise CliError(str(exc)) from None


def parse_date(value: str, what: str = "date") -> date:
    """A YYYY-MM-DD date, or CliError naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{what} must be a date as YYYY-MM-DD, got {value!r}") from None


def _read_token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if sys.stdin.isatty():
        token = getpass.getpass("Dealer token (not echoed): ").strip()
        if token:
            return token
    raise CliError(
        f"no dealer token: set {TOKEN_ENV} or run on a terminal to be prompted "
        "(it is never taken from the command line)"
    )


async def _ping(url: str, token: str, ca_pem: str | None) -> Ping:
    settings = ClientSettings(timeout=10.0, max_attempts=2, backoff_base=0.2)
    async with MPSMonitorClient(url, token, ca_data=ca_pem, settings=settings) as client:
        return await client.ping()


def verify_server(url: str, token: str, ca_pem: str | None) -> Ping:
    """Ping `url` with `token`; CliError saying why when it fails."""
    try:
        return asyncio.run(_ping(url, token, ca_pem))
    except MPSMonitorError as exc:
        raise CliError(f"server check failed ({exc.reason}): {exc}") from None


# ---------------------------------------------------------------- servers


def cmd_server_add(args: argparse.Namespace) -> int:
    url = require_https(args.url)
    ca_pem = None
    if args.ca_bundle:
        path = Path(args.ca_bundle)
        if not path.is_file():
            raise CliError(f"CA bundle {path} does not exist")
        ca_pem = path.read_text()
        if "BEGIN CERTIFICATE" not in ca_pem:
            raise CliError(f"CA bundle {path} holds no PEM certificate")
    token = _read_token()
    engine = _engine()
    if any(s.name == args.name for s in list_servers(engine)):
        raise CliError(f"a server named {args.name!r} is already registered")
    ping = verify_server(url, token, ca_pem)
    server = add_server(
        engine,
        _cipher(),
        name=args.name,
        url=url,
        token=token,
        ca_bundle_pem=ca_pem,
        dealer_code=ping.dealer_code,
        now=_now(),
    )
    print(f"registered server {server.name} at {server.url} (dealer {server.dealer_code})")
    return 0


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


def cmd_server_list(args: argparse.Namespace) -> int:
    servers = list_servers(_engine())
    rows = [
        {
            "name": s.name,
            "url": s.url,
            "dealer_code": s.dealer_code,
            "ca_bundle": bool(s.ca_bundle_pem),
            "healthy": s.healthy,
            "health_since": _iso(s.health_since),
            "health_reason": s.health_reason,
        }
        for s in servers
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no servers registered: add one with `releaf server add NAME --url URL`")
    else:
        print(markdown_table(list(rows[0]), [list(r.values()) for r in rows]))
    return 0


# ---------------------------------------------------------------- feeds


def _spec(server: str, code: str, account: str, activation: str, scope: str) -> FeedSpec:
    if scope not in SCOPES:
        raise CliError(f"scope must be 'all' or 'managed', got {scope!r}")
    return FeedSpec(
        server=server.strip(),
        customer_code=code.strip(),
        account=account.strip(),
        activation_date=parse_date(activation.strip(), "activation date"),
        scope=scope,
    )


def cmd_feed_add(args: argparse.Namespace) -> int:
    spec = _spec(args.server, args.customer_code, args.account, args.activation_date, args.scope)
    try:
        (feed,) = add_feeds(_engine(), [spec], now=_now())
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    print(
        f"registered feed {feed.customer_code} on {feed.server_name} -> account {feed.account} "
        f"from {feed.activation_date} (scope {feed.scope})"
    )
    return 0


def cmd_feed_import(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.is_file():
        raise CliError(f"{path} does not exist")
    specs: list[FeedSpec] = []
    lines: list[int] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if header != FEED_CSV_COLUMNS:
            raise CliError(
                f"{path}:1: the header must be {','.join(FEED_CSV_COLUMNS)}, got {','.join(header)}"
            )
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise CliError(f"{path}:{line}: expected {len(FEED_CSV_COLUMNS)} columns")
            try:
                specs.append(_spec(*(row[c] for c in FEED_CSV_COLUMNS)))
            except CliError as exc:
                raise CliError(f"{path}:{line}: {exc}") from None
            lines.append(line)
    if not specs:
        raise CliError(f"{path} has no feed rows")
    try:
        added = add_feeds(_engine(), specs, now=_now())
    except RegistryError as exc:
        line = lines[getattr(exc, "index", 0)]
        raise CliError(f"{path}:{line}: {exc} (nothing was imported)") from None
    print(f"imported {len(added)} feed(s) from {path}")
    return 0


def cmd_feed_list(args: argparse.Namespace) -> int:
    from releaf_pipeline.lib.store.health import feed_health_states

    engine = _engine()
    feeds = list_feeds(engine)
    health = feed_health_states(engine)
    rows = [
        {
            "server": f.server_name,
            "customer_code": f.customer_code,
            "account": f.account,
            "activation_date": f.activation_date.isoformat(),
            "scope": f.scope,
            "synced_through": _iso(f.synced_through),
            "healthy": health[f.id].healthy if f.id in health else None,
            "health_since": _iso(health[f.id].since_day) if f.id in health else None,
            "last_data": _iso(health[f.id].last_data) if f.id in health else None,
            "health_reason": health[f.id].reason if f.id in health else None,
        }
        for f in feeds
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no feeds registered: add one with `releaf feed add` or `releaf feed import`")
    else:
        print(markdown_table(list(rows[0]), [list(r.values()) for r in rows]))
    return 0


# ---------------------------------------------------------------- collect


def open_instance() -> Any:
    """The Dagster instance at DAGSTER_HOME.

    Opening an instance creates and stamps its storage the first time; two commands
    started at once on a fresh DAGSTER_HOME would both do it and leave it broken, so the
    opening is serialised on a lock file next to it.
    """
    import fcntl

    import dagster as dg

    lock_path = _home() / ".instance.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return dg.DagsterInstance.get()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_collection(
    start: date, end: date, *, feeds: Sequence[str] = (), tags: dict[str, str] | None = None
) -> Any:
    """Materialize meter_readings and daily_deposits for [start, end] in one run,
    recorded in the Dagster instance at DAGSTER_HOME."""
    from releaf_pipeline.defs.partitions import PARTITIONS_START

    _home()
    first = date.fromisoformat(PARTITIONS_START)
    yesterday = _now().date() - timedelta(days=1)
    if end < start:
        raise CliError(f"--end {end} is before --start {start}")
    if start < first:
        raise CliError(f"--start {start} is before the first partition, {first}")
    if end > yesterday:
        raise CliError(
            f"--end {end} is not over yet: the latest day that can be collected is {yesterday}"
        )
    import warnings

    import dagster as dg

    # BackfillPolicy is marked beta; the terminal user cannot act on that warning.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from releaf_pipeline.definitions import defs

    job = defs.resolve_job_def("collection")
    run_tags = {
        ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: end.isoformat(),
        "releaf/trigger": "cli",
        **(tags or {}),
    }
    run_config = {
        "ops": {"meter_readings": {"config": {"feeds": list(feeds)}}},
        # The terminal gets the summary; the full event log is in the Dagster UI.
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    with open_instance() as instance:
        return job.execute_in_process(
            instance=instance, tags=run_tags, run_config=run_config, raise_on_error=False
        )


def print_collection_summary(start: date, end: date) -> None:
    """Feeds by status and pages per account for the range, from the store."""
    from releaf_pipeline.lib.store.collection import feed_day_statuses
    from releaf_pipeline.lib.store.tables import deposits

    engine = _engine()
    feeds = {f.id: f for f in list_feeds(engine)}
    problems: dict[int, tuple[str, str]] = {}
    for row in feed_day_statuses(engine, start, end, problems_only=True):
        problems[row.feed_id] = (row.status, row.reason or "")
    import sqlalchemy as sa

    with engine.connect() as conn:
        per_account = conn.execute(
            sa.select(deposits.c.account, sa.func.sum(deposits.c.pages))
            .where(deposits.c.day.between(start, end))
            .group_by(deposits.c.account)
            .order_by(deposits.c.account)
        ).all()
    print(f"pages per account, {start} to {end}:")
    print(
        markdown_table(
            ["account", "pages", "trees"],
            [(a, int(p), format_trees(trees(int(p)))) for a, p in per_account],
        )
    )
    for fid, (status, reason) in sorted(problems.items()):
        f = feeds[fid]
        print(f"feed {f.customer_code} on {f.server_name}: {status}: {reason}", file=sys.stderr)


def _collect_and_report(
    what: str, start: date, end: date, feeds: Sequence[str] = (), tags: dict | None = None
) -> int:
    result = run_collection(start, end, feeds=feeds, tags=tags)
    if not result.success:
        print(f"releaf: {what} run {result.run_id} failed; see the Dagster UI", file=sys.stderr)
        return 1
    print(f"{what} run {result.run_id}: {start} to {end}")
    print_collection_summary(start, end)
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    start = parse_date(args.start, "--start")
    end = parse_date(args.end, "--end") if args.end else start
    return _collect_and_report("collection", start, end)


def cmd_backfill(args: argparse.Namespace) -> int:
    start = parse_date(args.start, "--start")
    end = parse_date(args.end, "--end")
    names = args.feed or []
    feeds = list_feeds(_engine())
    known = {f.customer_code for f in feeds} | {f"{f.server_name}/{f.customer_code}" for f in feeds}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CliError(f"no feed {', '.join(unknown)}: see `releaf feed list`")
    tags = {"releaf/trigger": "backfill"}
    return _collect_and_report("backfill", start, end, names, tags)


def cmd_nightly(args: argparse.Namespace) -> int:
    day = parse_date(args.date, "--date")
    _home()

    from releaf_pipeline.replay import replay_night

    with open_instance() as instance:
        night = replay_night(day, instance)
    print(f"night after {day} (as of {night.at.isoformat()}): {night.server_health}")
    print(
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


# ---------------------------------------------------------------- report


def report_json(month: str) -> dict[str, Any]:
    """`releaf report --json` for `month`."""
    from releaf_pipeline.lib.store.certificates import list_certificates

    month_bounds(month)
    engine = _engine()
    accounts = month_report(engine, month)
    certs = {
        c.certificate.account: c.certificate.id for c in list_certificates(engine, month=month)
    }
    return {
        "month": month,
        "accounts": [
            {
                "account": a.account,
                "pages": a.pages,
                "trees": float(format_trees(trees(a.pages))),
                "days": {d.isoformat(): p for d, p in sorted(a.days.items())},
                "certificate": certs.get(a.account),
            }
            for a in accounts
        ],
    }


def cmd_report(args: argparse.Namespace) -> int:
    try:
        data = report_json(args.month)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if not data["accounts"]:
        print(f"no deposits in {args.month}")
        return 0
    waiting = _month_waiting(args.month)
    print(f"pages and trees per account, {args.month}:")
    print(
        markdown_table(
            ["account", "pages", "trees", "days", "certificate"],
            [
                (
                    a["account"],
                    a["pages"],
                    f"{a['trees']:.2f}",
                    len(a["days"]),
                    a["certificate"] or "not issued",
                )
                for a in data["accounts"]
            ],
        )
    )
    for account, why in waiting:
        print(f"{account} waits: {why}")
    return 0


def _month_waiting(month: str) -> list[tuple[str, str]]:
    """(account, what its month waits for) of accounts whose month is not certified yet."""
    from releaf_pipeline.lib.monthly_close import close_status

    today = _now().date()
    out = []
    for s in close_status(_engine(), month, today, grace_days=_grace_days()):
        if s.certified:
            continue
        if s.closed_by == "grace":
            out.append((s.account, f"{s.waiting}; the grace period is over: the next close "
                        "issues its certificate with what is known"))  # fmt: skip
        elif s.closable:
            out.append((s.account, "nothing: the next close issues its certificate"))
        else:
            out.append((s.account, s.waiting))
    return out


def _grace_days() -> int:
    from releaf_pipeline.defs.settings import int_env
    from releaf_pipeline.lib.monthly_close import DEFAULT_GRACE_DAYS

    return int_env("RELEAF_CERTIFICATE_GRACE_DAYS", DEFAULT_GRACE_DAYS)


# ---------------------------------------------------------------- certificates


def _cert_json(issued: Any) -> dict[str, Any]:
    c = issued.certificate
    return {
        "id": c.id,
        "account": c.account,
        "month": issued.month,
        "period_start": c.period_start.isoformat(),
        "period_end": c.period_end.isoformat(),
        "pages": c.pages,
        "adjustment_pages": c.adjustment_pages,
        "credited_pages": c.credited_pages,
        "trees": float(format_trees(c.trees)),
        "project": c.project_name,
        "project_location": c.project_location,
        "issued_on": c.issued_on.isoformat(),
        "closed_by": issued.closed_by,
        "pdf": issued.pdf_path,
    }


def cmd_certificates_list(args: argparse.Namespace) -> int:
    from releaf_pipeline.lib.store.certificates import list_certificates

    if args.month:
        try:
            month_bounds(args.month)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    rows = [_cert_json(c) for c in list_certificates(_engine(), month=args.month)]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no certificates issued" + (f" for {args.month}" if args.month else ""))
    else:
        print(
            markdown_table(
                ["id", "account", "month", "pages", "adjustment", "trees", "issued", "pdf"],
                [
                    (
                        r["id"],
                        r["account"],
                        r["month"],
                        r["pages"],
                        r["adjustment_pages"],
                        f"{r['trees']:.2f}",
                        r["issued_on"],
                        r["pdf"],
                    )
                    for r in rows
                ],
            )
        )
    return 0


def cmd_certificates_show(args: argparse.Namespace) -> int:
    from releaf_pipeline.lib.certificates import certificate_text
    from releaf_pipeline.lib.store.certificates import get_certificate

    issued = get_certificate(_engine(), args.id)
    if issued is None:
        raise CliError(f"no certificate {args.id!r}: see `releaf certificates list`")
    for line in certificate_text(issued.certificate):
        print(line)
    print(f"closed by: {issued.closed_by}")
    print(f"PDF: {issued.pdf_path}")
    return 0


# ---------------------------------------------------------------- secrets and schema


def cmd_secrets_new_key(args: argparse.Namespace) -> int:
    from releaf_pipeline.lib.secrets import new_key

    print(new_key())
    return 0


def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    from releaf_pipeline.lib.secrets import KEY_ENV, key_file, new_key, prepend_key_file
    from releaf_pipeline.lib.store.registry import reseal_tokens

    home = _home()
    engine = _engine()
    if os.environ.get(KEY_ENV, "").strip():
        keys = load_keys(home)
        if len(keys) < 2:
            raise CliError(
                f"{KEY_ENV} holds one key: set it to 'NEW,OLD' on every process first "
                "(make NEW with `releaf secrets new-key`), then run this to re-encrypt"
            )
        count = reseal_tokens(engine, TokenCipher(keys))
        print(
            f"re-encrypted {count} token(s) under the first key of {KEY_ENV}; "
            "once every process has it, drop the old key from the variable"
        )
        return 0
    # Both keys stay in the file while tokens are re-encrypted, so every process that
    # reads it meanwhile can open old and new tokens alike: no downtime.
    keys = prepend_key_file(home, new_key().encode())
    count = reseal_tokens(engine, TokenCipher(keys))
    print(f"new key in {key_file(home)}; re-encrypted {count} token(s) under it")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from releaf_pipeline.lib.store.migrate import current_revision, head_revision, upgrade

    url = default_database_url(_home())
    engine = sa.create_engine(url)
    before = current_revision(engine)
    try:
        upgrade(engine)
    except sa.exc.OperationalError as exc:
        raise CliError(f"cannot migrate the store: {exc.orig}; check RELEAF_DATABASE_URL") from None
    after = current_revision(engine)
    shown = engine.url.render_as_string(hide_password=True)
    if before == after:
        print(f"store {shown} is at the newest schema ({after})")
    else:
        print(
            f"store {shown} migrated from {before or 'empty'} to {after} (head {head_revision()})"
        )
    return 0


# ---------------------------------------------------------------- demo and simulator


def cmd_demo(args: argparse.Namespace) -> int:
    from releaf_pipeline.demo import run_demo

    return run_demo(_home(), ui=not args.no_ui, port=args.port)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The `releaf` argument parser."""
    parser = argparse.ArgumentParser(
        prog="releaf",
        description="MPS Monitor print fleets to PrintReleaf reforestation deposits.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    server = sub.add_parser("server", help="register and list MPS Monitor servers")
    server_sub = server.add_subparsers(dest="server_command", required=True)
    p = server_sub.add_parser(
        "add", help=f"register a server (dealer token from ${TOKEN_ENV} or a prompt)"
    )
    p.add_argument("name")
    p.add_argument("--url", required=True, help="https:// URL of the server")
    p.add_argument("--ca-bundle", help="PEM file of the CA that signed the server's certificate")
    p.set_defaults(func=cmd_server_add)
    p = server_sub.add_parser("list", help="list registered servers and their health")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_server_list)

    feed = sub.add_parser("feed", help="register and list customer feeds")
    feed_sub = feed.add_subparsers(dest="feed_command", required=True)
    p = feed_sub.add_parser("add", help="register one feed")
    p.add_argument("--server", required=True)
    p.add_argument("--customer-code", required=True)
    p.add_argument("--account", required=True, help="PrintReleaf account")
    p.add_argument("--activation-date", required=True, help="YYYY-MM-DD")
    p.add_argument("--scope", required=True, choices=SCOPES)
    p.set_defaults(func=cmd_feed_add)
    p = feed_sub.add_parser(
        "import", help=f"register feeds from a CSV ({','.join(FEED_CSV_COLUMNS)}), all or none"
    )
    p.add_argument("path")
    p.set_defaults(func=cmd_feed_import)
    p = feed_sub.add_parser("list", help="list feeds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feed_list)

    p = sub.add_parser("collect", help="collect a range of days in one Dagster run")
    p.add_argument("--start", required=True, help="YYYY-MM-DD")
    p.add_argument("--end", help="YYYY-MM-DD, inclusive (default: --start)")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser(
        "backfill", help="collect a range again in one run, for all feeds or the ones named"
    )
    p.add_argument("--start", required=True, help="YYYY-MM-DD")
    p.add_argument("--end", required=True, help="YYYY-MM-DD, inclusive")
    p.add_argument(
        "--feed", action="append", metavar="CODE", help="customer code (SERVER/CODE); repeatable"
    )
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser(
        "nightly",
        help="replay the night after DATE: health checks, DATE's collection, every catch-up",
    )
    p.add_argument("--date", required=True, help="YYYY-MM-DD: the day the night collects")
    p.set_defaults(func=cmd_nightly)

    p = sub.add_parser("report", help="pages and trees per account for a month")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    certs = sub.add_parser("certificates", help="issued Certificates of Reforestation")
    certs_sub = certs.add_subparsers(dest="certificates_command", required=True)
    p = certs_sub.add_parser("list", help="list certificates")
    p.add_argument("--month", help="YYYY-MM")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_certificates_list)
    p = certs_sub.add_parser("show", help="one certificate's text and PDF path")
    p.add_argument("id")
    p.set_defaults(func=cmd_certificates_show)

    secrets = sub.add_parser("secrets", help="the key that seals dealer tokens")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    p = secrets_sub.add_parser("new-key", help="print a fresh key (for RELEAF_SECRET_KEY)")
    p.set_defaults(func=cmd_secrets_new_key)
    p = secrets_sub.add_parser("rotate", help="re-encrypt every token under a new key")
    p.set_defaults(func=cmd_secrets_rotate)

    db = sub.add_parser("db", help="the store's schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    p = db_sub.add_parser("upgrade", help="apply schema migrations (also done on first use)")
    p.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("demo", help="simulated fleet, collected, summarised, then the UI")
    p.add_argument("--no-ui", action="store_true", help="stop after the summary")
    p.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    p.set_defaults(func=cmd_demo)

    # Its options are the simulator's own: main() hands everything after the word over.
    sub.add_parser("simulator", help="run the MPS Monitor simulator over HTTPS", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `releaf` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulator"]:
        from releaf_pipeline.simulator.server import main as simulator_main

        return simulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, RegistryError, MPSMonitorError, StoreError, SecretKeyError) as exc:
        print(f"releaf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
