"""Every setting the pipeline reads from the environment, read and validated in one place.

Each process (the CLI, the webserver, the daemon, a run worker) reads the same variables:
the environment's, over those of the home's settings file (`$DAGSTER_HOME/releaf.env`),
so that every process started on one home agrees without being told. A bad value is
refused with one line naming the variable. Nothing else in the project reads the
environment: resources and commands take a `Settings` and hand plain values on.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from dotenv.parser import parse_stream

from releaf_pipeline.lib.alerts.config import AlertSettings, read_alert_settings
from releaf_pipeline.lib.business_days import parse_holidays
from releaf_pipeline.lib.dates import strict_date, strict_int
from releaf_pipeline.lib.pieces import FEEDS_PER_PIECE as PIECE_FEEDS_DEFAULT
from releaf_pipeline.lib.rules import CERTIFICATE_GRACE_DAYS, REREAD_LOOKBACK_DAYS

DEFAULT_HOME = ".releaf"
SETTINGS_FILE = "releaf.env"
"""The home's own settings, KEY=VALUE lines of RELEAF_* variables, under DAGSTER_HOME."""
DEFAULT_PROJECT = "Releaf Reforestation Project"
DEFAULT_LOCATION = "Willamette National Forest, Oregon, USA"

# Every variable, with what it is for: `releaf` and the README list them from here.
VARIABLES = {
    "DAGSTER_HOME": "the Dagster instance, the SQLite store and the key file",
    "RELEAF_DATABASE_URL": "the store, any SQLAlchemy URL",
    "RELEAF_SECRET_KEY": "Fernet key(s) that seal dealer tokens, newest first",
    "RELEAF_DEALER_TOKEN": "the token `releaf server add` registers",
    "RELEAF_CONCURRENCY_PER_SERVER": "requests in flight and feeds in progress per server",
    "RELEAF_NOW": "an ISO date-time the pipeline takes as now",
    "RELEAF_NIGHTLY_CRON": "when the nightly schedule runs (UTC)",
    "RELEAF_HEALTH_CHECK_SECONDS": "how often the server_health schedule pings every server",
    "RELEAF_CATCHUP_SECONDS": "how often the catch_up sensor looks for work",
    "RELEAF_CATCHUP_LOOKBACK_DAYS": "how far back the catch-up sensor looks",
    "RELEAF_CERTIFICATE_GRACE_DAYS": "days after a month's end after which it closes anyway",
    "RELEAF_CERTIFICATES_DIR": "where certificate PDFs are written",
    "RELEAF_FORESTRY_PROJECT": "the forestry project printed on certificates",
    "RELEAF_FORESTRY_LOCATION": "where that project plants",
    "RELEAF_HOLIDAYS": "dates that are not business days for feed freshness",
    "RELEAF_PARTITIONS_START": "the first day of the daily partitions (the month's for monthly)",
    "RELEAF_FRESHNESS_DEADLINE_CRON": "when yesterday's deposits must be there (UTC)",
    "RELEAF_RUN_MAX_SECONDS": "a collection run's time limit before 0.2 s per feed is added",
    "RELEAF_FEEDS_PER_PIECE": "feeds one piece of a night collects at a time (a worker's memory)",
    "RELEAF_EXECUTOR": "where a run's steps execute: in_process, multiprocess, celery or k8s",
    "RELEAF_WORKERS": "steps of a run executed at once by the multiprocess executor",
    "RELEAF_CELERY_BROKER": "the Celery executor's broker URL (Redis)",
    "RELEAF_CELERY_BACKEND": "the Celery executor's result backend URL",
    "RELEAF_ALERT_SECONDS": "how often the alert sensors look for changes and retry",
    "RELEAF_ALERT_SMTP_URL": "alerts by email: smtp://[user:password@]host[:port] or smtps://",
    "RELEAF_ALERT_SMTP_PASSWORD": "the SMTP password, when the URL holds none",
    "RELEAF_ALERT_EMAIL_FROM": "the address alert email comes from",
    "RELEAF_ALERT_EMAIL_TO": "who gets alert email, comma-separated addresses",
    "RELEAF_ALERT_WEBHOOK_URL": "alerts to a chat webhook (https://), POSTed JSON with `text`",
    "RELEAF_ALERT_WEBHOOK_CA_BUNDLE": "a CA bundle (PEM) the webhook's certificate is checked with",
    "RELEAF_UI_URL": "the Dagster UI's address, linked from alerts",
    "RELEAF_DEBUG": "1: commands show the Python traceback of an unexpected error",
}

# What the settings file may set: not the home it is in, nor the debugging of one command.
FILE_VARIABLES = frozenset(VARIABLES) - {"DAGSTER_HOME", "RELEAF_DEBUG"}

DEFAULT_PARTITIONS_START = date(2025, 1, 1)

# The bounds of each setting: a value outside them is a typo, or would overflow a date.
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
LOOKBACK_DAYS = (1, 366)
GRACE_DAYS = (0, 90)
CONCURRENCY = (1, 1000)
SECONDS = (1, 86_400)
RUN_MAX_SECONDS = (10, 86_400)
FEEDS_PER_PIECE = (1, 1_000_000)
WORKERS = (1, 256)
EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")
DEFAULT_EXECUTOR = "in_process"
DEFAULT_CELERY_BROKER = "redis://localhost:6379/0"
CRON_FIELDS = "minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7"
DEFAULT_NIGHTLY_CRON = "0 2 * * *"
DEFAULT_FRESHNESS_CRON = "0 8 * * *"


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The pipeline's settings, validated."""

    home: Path
    # Secret, or may hold one (a database URL's password): never in the repr, which
    # logs, tracebacks and debuggers show.
    database_url: str = field(repr=False)
    secret_keys: str | None = field(repr=False)
    dealer_token: str | None = field(repr=False)
    concurrency_per_server: int
    now: datetime | None
    nightly_cron: str
    health_check_seconds: int
    catchup_seconds: int
    catchup_lookback_days: int
    grace_days: int
    certificates_dir: Path
    forestry_project: str
    forestry_location: str
    holidays: frozenset[date]
    partitions_start: date
    freshness_deadline_cron: str
    run_max_seconds: int
    feeds_per_piece: int
    executor: str
    workers: int
    celery_broker: str
    celery_backend: str
    alert_seconds: int = 60
    alerts: AlertSettings = field(default_factory=AlertSettings)
    """Where alerts go (RELEAF_ALERT_*, RELEAF_UI_URL): no channel by default."""

    def current_time(self) -> datetime:
        """Now, in UTC: `RELEAF_NOW` when set, else the wall clock."""
        return self.now if self.now is not None else datetime.now(UTC)


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _whole(env: Mapping[str, str], name: str, default: int, bounds: tuple[int, int]) -> int:
    raw = _text(env, name)
    if not raw:
        return default
    low, high = bounds
    try:
        value = strict_int(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be a whole number from {low:,} to {high:,}, got {raw!r}"
        ) from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be from {low:,} to {high:,}, got {value:,}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = _text(env, name) or default
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _moment(env: Mapping[str, str], name: str) -> datetime | None:
    raw = _text(env, name)
    if not raw:
        return None
    refusal = (
        f"{name} must be an ISO date-time from {EARLIEST} to {LATEST} such as "
        f"2026-11-02T02:00:00+00:00, got {raw!r}"
    )
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(refusal) from None
    # Within bounds on its own calendar, so that the pipeline's arithmetic on it (the day
    # before, the month after, UTC) never leaves the years datetime can hold.
    if not EARLIEST <= value.date() <= LATEST:
        raise SettingsError(refusal)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cron(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _text(env, name) or default
    refusal = SettingsError(
        f"{name} must be a cron expression of five fields ({CRON_FIELDS}) that fires at "
        f"least once a year, such as {default!r}, got {raw!r}"
    )
    fields = raw.split()
    allowed = set("0123456789*/,-")
    if len(fields) != 5 or any(not f or not set(f) <= allowed for f in fields):
        raise refusal
    if raw != default and not _fires_yearly(raw):
        # Checked as the daemon reads it (61 2 * * * does not parse, 0 2 31 2 * never
        # fires); the defaults are known to, and most commands need no Dagster import.
        raise refusal
    return raw


def _fires_yearly(cron: str) -> bool:
    # As the daemon reads a cron: Dagster's own parser (imported here only, when a cron
    # differs from the default, so that most commands load no Dagster).
    from releaf_pipeline.dagster_internals import is_valid_cron, next_cron_tick

    # From the start of a year after a February without a 29th: a cron of 29 February
    # alone fires four years later, not within the year.
    start = datetime(2025, 3, 1, tzinfo=UTC)
    if not is_valid_cron(cron):
        return False
    try:
        tick = next_cron_tick(cron, start)
    except ValueError:
        # The vendored croniter's "failed to find" a date: it names none that exists.
        return False
    return (tick - start).days < 366


def _first_day(env: Mapping[str, str], name: str, default: date) -> date:
    raw = _text(env, name)
    if not raw:
        return default
    try:
        value = strict_date(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a date as YYYY-MM-DD, got {raw!r}") from None
    if not EARLIEST <= value <= LATEST:
        raise SettingsError(f"{name} must be from {EARLIEST} to {LATEST}, got {raw!r}")
    return value


def debug_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether `RELEAF_DEBUG` asks for tracebacks; read on its own, so that a command
    whose other settings are wrong can still say so."""
    env = os.environ if env is None else env
    return _text(env, "RELEAF_DEBUG").lower() in {"1", "true", "yes"}


def home_of(env: Mapping[str, str]) -> Path:
    """The home `env` names (`DAGSTER_HOME`, else `./.releaf`), as an absolute path."""
    return Path(_text(env, "DAGSTER_HOME") or Path.cwd() / DEFAULT_HOME).resolve()


def settings_file(home: Path) -> Path:
    """Where the home keeps its own settings."""
    return home / SETTINGS_FILE


def read_settings_file(path: Path) -> dict[str, str]:
    """The RELEAF_* variables a settings file sets ({} when there is none).

    Lines are KEY=VALUE, as a shell or a .env file writes them (quotes, `export` and `#`
    comments allowed). Anything else, or a name that is not a setting, is refused with
    the file and line, so that a typo never goes silently unused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} cannot be read ({exc}): fix or remove it") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error or (binding.key is not None and binding.value is None):
            raise SettingsError(f"{path} line {line}: write it as RELEAF_NAME=VALUE")
        if binding.key is None:
            continue  # a blank line or a comment
        if binding.key not in FILE_VARIABLES:
            raise SettingsError(
                f"{path} line {line}: {binding.key} is not a setting it may hold: the "
                "names are those of the README's settings table but DAGSTER_HOME and RELEAF_DEBUG"
            )
        values[binding.key] = binding.value or ""
    return values


def write_setting(home: Path, name: str, value: str) -> Path:
    """Set `name` to `value` in the home's settings file, keeping its other lines; returns
    the file. Every process that reads settings on this home sees it from then on, but
    where the environment sets the variable."""
    if name not in FILE_VARIABLES:
        raise ValueError(f"{name} is not a setting the file may hold")
    path = settings_file(home)
    kept = [
        b.original.string
        for b in parse_stream(
            io.StringIO(path.read_text(encoding="utf-8") if path.exists() else "")
        )
        if b.key != name
    ]
    text = "".join(kept)
    if text and not text.endswith("\n"):
        text += "\n"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{text}{name}={value}\n", encoding="utf-8")
    return path


def read_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings in `env` (the process environment by default) over those of the home's
    settings file, validated. A variable set and not empty in `env` wins."""
    env = os.environ if env is None else env
    home = home_of(env)
    if home.exists() and not home.is_dir():
        raise SettingsError(f"DAGSTER_HOME {home} is a file: point DAGSTER_HOME at a directory")
    path = settings_file(home)
    from_file = read_settings_file(path)
    from_env = _set(env)
    values = {**from_file, **from_env, "DAGSTER_HOME": str(home)}
    try:
        return _settings(tuple((name, values.get(name, "")) for name in VARIABLES))
    except SettingsError as exc:
        # Every refusal starts with the variable's name: say where a bad value was written.
        name = str(exc).split(" ", 1)[0].rstrip(":")
        if name in from_file and name not in from_env:
            raise SettingsError(f"{path}: {exc}") from None
        raise


def _set(env: Mapping[str, str]) -> dict[str, str]:
    return {name: env[name] for name in VARIABLES if _text(env, name)}


@cache
def _settings(values: tuple[tuple[str, str], ...]) -> Settings:
    # One validation per distinct environment: a long-lived process pays it once, and a
    # test that changes a variable gets the new value.
    env = dict(values)
    home = home_of(env)
    database_url = _text(env, "RELEAF_DATABASE_URL") or f"sqlite:///{home / 'releaf.db'}"
    certificates = _text(env, "RELEAF_CERTIFICATES_DIR")
    try:
        holidays = parse_holidays(_text(env, "RELEAF_HOLIDAYS"))
    except ValueError as exc:
        raise SettingsError(f"RELEAF_HOLIDAYS: {exc}") from None
    try:
        alerts = read_alert_settings(env)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(
        home=home,
        database_url=database_url,
        secret_keys=_text(env, "RELEAF_SECRET_KEY") or None,
        dealer_token=_text(env, "RELEAF_DEALER_TOKEN") or None,
        concurrency_per_server=_whole(env, "RELEAF_CONCURRENCY_PER_SERVER", 16, CONCURRENCY),
        now=_moment(env, "RELEAF_NOW"),
        nightly_cron=_cron(env, "RELEAF_NIGHTLY_CRON", DEFAULT_NIGHTLY_CRON),
        health_check_seconds=_whole(env, "RELEAF_HEALTH_CHECK_SECONDS", 300, SECONDS),
        catchup_seconds=_whole(env, "RELEAF_CATCHUP_SECONDS", 120, SECONDS),
        catchup_lookback_days=_whole(
            env, "RELEAF_CATCHUP_LOOKBACK_DAYS", REREAD_LOOKBACK_DAYS, LOOKBACK_DAYS
        ),
        grace_days=_whole(env, "RELEAF_CERTIFICATE_GRACE_DAYS", CERTIFICATE_GRACE_DAYS, GRACE_DAYS),
        certificates_dir=Path(certificates) if certificates else home / "certificates",
        forestry_project=_text(env, "RELEAF_FORESTRY_PROJECT") or DEFAULT_PROJECT,
        forestry_location=_text(env, "RELEAF_FORESTRY_LOCATION") or DEFAULT_LOCATION,
        holidays=holidays,
        partitions_start=_first_day(env, "RELEAF_PARTITIONS_START", DEFAULT_PARTITIONS_START),
        freshness_deadline_cron=_cron(
            env, "RELEAF_FRESHNESS_DEADLINE_CRON", DEFAULT_FRESHNESS_CRON
        ),
        run_max_seconds=_whole(env, "RELEAF_RUN_MAX_SECONDS", 600, RUN_MAX_SECONDS),
        feeds_per_piece=_whole(env, "RELEAF_FEEDS_PER_PIECE", PIECE_FEEDS_DEFAULT, FEEDS_PER_PIECE),
        executor=_choice(env, "RELEAF_EXECUTOR", DEFAULT_EXECUTOR, EXECUTORS),
        workers=_whole(env, "RELEAF_WORKERS", min(os.cpu_count() or 1, WORKERS[1]), WORKERS),
        celery_broker=_text(env, "RELEAF_CELERY_BROKER") or DEFAULT_CELERY_BROKER,
        celery_backend=_text(env, "RELEAF_CELERY_BACKEND")
        or _text(env, "RELEAF_CELERY_BROKER")
        or DEFAULT_CELERY_BROKER,
        alert_seconds=_whole(env, "RELEAF_ALERT_SECONDS", 60, SECONDS),
        alerts=alerts,
    )
