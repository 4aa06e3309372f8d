"""Every setting the pipeline reads from the environment, typed and validated in one model.

Each process (the CLI, the webserver, the daemon, a run worker) reads the same variables:
the environment's, over those of the home's settings file (`$DAGSTER_HOME/releaf.env`),
so that every process started on one home agrees without being told. A bad value is
refused with one line naming the variable. Secrets (keys, tokens, URLs that may hold a
password) are `SecretStr`: no repr, log line or exception shows them. Nothing else in the
project reads the environment: `definitions.py` and the CLI take a `Settings` and hand
plain values on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from releaf_pipeline.lib.alerts.config import AlertSettings, read_alert_settings
from releaf_pipeline.lib.business_days import parse_holidays
from releaf_pipeline.lib.dates import strict_date, strict_int
from releaf_pipeline.lib.pieces import FEEDS_PER_PIECE as PIECE_FEEDS_DEFAULT
from releaf_pipeline.lib.rules import CERTIFICATE_GRACE_DAYS, REREAD_LOOKBACK_DAYS
from releaf_pipeline.settings_file import (
    SettingsError,
    debug_requested,
    home_of,
    read_settings_file,
    settings_file,
    write_setting_line,
)

__all__ = [
    "VARIABLES", "Settings", "SettingsError", "debug_requested", "read_settings", "revealed",
]  # fmt: skip

DEFAULT_PARTITIONS_START = date(2025, 1, 1)
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
CRON_FIELDS = "minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7"
DEFAULT_NIGHTLY_CRON = "0 2 * * *"
DEFAULT_FRESHNESS_CRON = "0 8 * * *"
DEFAULT_CELERY_BROKER = "redis://localhost:6379/0"


def _refuse(kind: str, raw: object) -> PydanticCustomError:
    return PydanticCustomError(kind, "{raw}", {"raw": raw})


def _whole(raw: object) -> object:
    if isinstance(raw, str):
        try:
            return strict_int(raw)
        except ValueError:
            raise _refuse("whole_number", raw) from None
    return raw


def _day(raw: object) -> object:
    if isinstance(raw, str):
        try:
            raw = strict_date(raw)
        except ValueError:
            raise _refuse("day", raw) from None
    if isinstance(raw, date) and not EARLIEST <= raw <= LATEST:
        raise _refuse("day_range", raw.isoformat())
    return raw


def _moment(raw: object) -> object:
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise _refuse("moment", raw) from None
        # Within bounds on its own calendar, so that the pipeline's arithmetic on it (the
        # day before, the month after, UTC) never leaves the years datetime can hold.
        if not EARLIEST <= value.date() <= LATEST:
            raise _refuse("moment", raw)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return raw


def _holidays(raw: object) -> object:
    if isinstance(raw, str):
        try:
            return parse_holidays(raw)
        except ValueError as exc:
            raise _refuse("holidays", str(exc)) from None
    return raw


Whole = Annotated[int, BeforeValidator(_whole)]
Seconds = Annotated[Whole, Field(ge=1, le=86_400)]
Day = Annotated[date, BeforeValidator(_day)]
Moment = Annotated[datetime | None, BeforeValidator(_moment)]
Holidays = Annotated[frozenset[date], BeforeValidator(_holidays)]


class Settings(BaseSettings):
    """The pipeline's settings, validated: each field is the variable `RELEAF_<NAME>` (its
    alias), described by its docstring; `shown` is the default as the docs say it."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, validate_default=False,
        alias_generator=lambda name: f"RELEAF_{name.upper()}", use_attribute_docstrings=True,
    )  # fmt: skip

    home: Path = Field(alias="DAGSTER_HOME", json_schema_extra={"shown": "`./.releaf`"})
    """the Dagster instance, the SQLite store `releaf.db` and the key file"""
    database_url: SecretStr = Field(json_schema_extra={"shown": "SQLite in the home"})
    """the store, any SQLAlchemy URL (`postgresql+psycopg2://...`); secret"""
    secret_keys: SecretStr | None = Field(
        None, alias="RELEAF_SECRET_KEY", json_schema_extra={"shown": "the home's `releaf.key`"}
    )
    """Fernet key(s) sealing dealer tokens at rest, newest first; secret"""
    dealer_token: SecretStr | None = Field(None, json_schema_extra={"shown": "a prompt"})
    """the token `releaf server add` registers; secret"""
    concurrency_per_server: Whole = Field(16, ge=1, le=1000)
    """the most requests in flight and feeds in progress per server (halved on each HTTP
    429, growing back slowly)"""
    now: Moment = Field(None, json_schema_extra={"shown": "the wall clock"})
    """an ISO date-time from 2000-01-01 to 2100-12-31 the pipeline takes as now (UTC unless
    it names an offset), to replay a night or test"""
    nightly_cron: str = DEFAULT_NIGHTLY_CRON
    """when the nightly schedule runs (UTC); it collects yesterday. Five cron fields that
    fire at least once a year"""
    health_check_seconds: Seconds = 300
    """how often the `server_health` schedule pings every server (in whole minutes)"""
    catchup_seconds: Seconds = 120
    """how often the `catchup_sensor` looks for work"""
    catchup_lookback_days: Whole = Field(REREAD_LOOKBACK_DAYS, ge=1, le=366)
    """how far back the `catchup_sensor` looks for paused, failed and missing days"""
    grace_days: Whole = Field(
        CERTIFICATE_GRACE_DAYS, ge=0, le=90, alias="RELEAF_CERTIFICATE_GRACE_DAYS"
    )
    """days after a month's end after which it closes with what is known"""
    certificates_dir: Path = Field(json_schema_extra={"shown": "`certificates` in the home"})
    """where certificate PDFs are written"""
    forestry_project: str = "Releaf Reforestation Project"
    """the forestry project printed on certificates"""
    forestry_location: str = "Willamette National Forest, Oregon, USA"
    """where that project plants"""
    holidays: Holidays = frozenset()
    """dates (comma-separated, or a file with one per line) that are not business days"""
    partitions_start: Day = DEFAULT_PARTITIONS_START
    """the first daily partition (the monthly ones start on its month); every process must
    see the same value"""
    freshness_deadline_cron: str = DEFAULT_FRESHNESS_CRON
    """a cron: by when (UTC) yesterday's `daily_deposits` partition must exist"""
    run_max_seconds: Whole = Field(600, ge=10, le=86_400)
    """a collection run's time limit, plus 0.2 s per feed it collects"""
    feeds_per_piece: Whole = Field(PIECE_FEEDS_DEFAULT, ge=1, le=1_000_000)
    """feeds one piece of a night collects at a time (a worker's memory follows it)"""
    executor: Literal["in_process", "multiprocess", "celery", "k8s"] = "in_process"
    """where a run's steps execute; every process that loads the code must see the same"""
    workers: Whole = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 256), ge=1, le=256,
        json_schema_extra={"shown": "the cores"},
    )  # fmt: skip
    """steps at once with `multiprocess`"""
    celery_broker: SecretStr = SecretStr(DEFAULT_CELERY_BROKER)
    """the Celery executor's broker (Redis); secret"""
    celery_backend: SecretStr = Field(json_schema_extra={"shown": "the broker"})
    """the Celery executor's result backend; secret"""
    alert_seconds: Seconds = 60
    """how often the alert sensors look for changes and retry what a channel refused"""
    alert_smtp_url: SecretStr | None = None
    """alerts by email: `smtp://[user:password@]host[:port]` (STARTTLS, 587) or `smtps://`
    (TLS, 465); secret"""
    alert_smtp_password: SecretStr | None = None
    """the SMTP password, when the URL holds none; secret"""
    alert_email_from: str | None = None
    """the address alert email comes from"""
    alert_email_to: str | None = None
    """who gets alert email, comma-separated addresses"""
    alert_webhook_url: SecretStr | None = None
    """alerts to a chat webhook: an `https://` URL POSTed JSON with `text`; secret"""
    alert_webhook_ca_bundle: str | None = None
    """a PEM file of the CA the webhook's certificate is checked against"""
    ui_url: str | None = None
    """the Dagster UI's address (`https://dagster.example.com`): alerts link its pages"""
    _alerts: AlertSettings = PrivateAttr(default_factory=AlertSettings)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        **_others: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:  # fmt: skip
        """Only the values `read_settings` gathers: the environment over the home's file,
        whose lines are refused by number before anything is validated."""
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        home = Path(values["DAGSTER_HOME"])
        values.setdefault("RELEAF_DATABASE_URL", f"sqlite:///{home / 'releaf.db'}")
        values.setdefault("RELEAF_CERTIFICATES_DIR", str(home / "certificates"))
        values.setdefault(
            "RELEAF_CELERY_BACKEND", values.get("RELEAF_CELERY_BROKER", DEFAULT_CELERY_BROKER)
        )
        return values

    @field_validator("nightly_cron", "freshness_deadline_cron")
    @classmethod
    def _fires(cls, cron: str, info: Any) -> str:
        default = cls.model_fields[info.field_name].default
        if cron != default and not fires_yearly(cron):
            # Checked as the daemon reads it (61 2 * * * does not parse, 0 2 31 2 * never
            # fires); the defaults are known to, and most commands need no Dagster import.
            raise _refuse("cron", cron)
        return cron

    @model_validator(mode="after")
    def _alert_channels(self) -> Settings:
        def raw(value: SecretStr | str | None) -> str:
            return value.get_secret_value() if isinstance(value, SecretStr) else value or ""

        try:
            self._alerts = read_alert_settings(
                {f.alias: raw(getattr(self, n)) for n, f in _ALERT_FIELDS.items()}
            )
        except ValueError as exc:
            raise _refuse("alerts", str(exc)) from None
        return self

    @property
    def alerts(self) -> AlertSettings:
        """Where alerts go (RELEAF_ALERT_*, RELEAF_UI_URL): no channel by default."""
        return self._alerts

    def current_time(self) -> datetime:
        """Now, in UTC: `RELEAF_NOW` when set, else the wall clock."""
        return self.now if self.now is not None else datetime.now(UTC)


def fires_yearly(cron: str) -> bool:
    """Whether a cron expression parses as the daemon reads it and fires within a year."""
    fields = cron.split()
    if len(fields) != 5 or any(not f or not set(f) <= set("0123456789*/,-") for f in fields):
        return False
    # Dagster's own parser, imported only when a cron differs from the default, so that
    # most commands load no Dagster.
    from releaf_pipeline.dagster_internals import is_valid_cron, next_cron_tick

    # From the start of a year after a February without a 29th: a cron of 29 February
    # alone fires four years later, not within the year.
    start = datetime(2025, 3, 1, tzinfo=UTC)
    if not is_valid_cron(cron):
        return False
    try:
        tick = next_cron_tick(cron, start)
    except ValueError:
        return False  # the vendored croniter's "failed to find" a date: it names none
    return (tick - start).days < 366


_ALERT_FIELDS = {n: f for n, f in Settings.model_fields.items() if (f.alias or "").startswith(
    ("RELEAF_ALERT_", "RELEAF_UI_URL")
) and n != "alert_seconds"}  # fmt: skip
_DESCRIPTIONS = {
    f.alias: " ".join((f.description or "").split()) for f in Settings.model_fields.values()
}
VARIABLES = {
    **_DESCRIPTIONS,
    "RELEAF_DEBUG": "`1`: a command that hits an unexpected error shows its Python traceback",
}
"""Every variable, with what it is for: the docs' settings table lists them from here."""
FILE_VARIABLES = frozenset(VARIABLES) - {"DAGSTER_HOME", "RELEAF_DEBUG"}
"""What the settings file may set: not the home it is in, nor one command's debugging."""


def refusal(error: Mapping[str, Any]) -> str:
    """One line for one of pydantic's errors, naming the variable and what it must be."""
    name = str(error["loc"][0]) if error["loc"] else "a setting"
    field = next((f for f in Settings.model_fields.values() if f.alias == name), None)
    low, high = _bounds(field)
    kind, ctx = error["type"], error.get("ctx") or {}
    raw = ctx.get("raw")
    if kind == "whole_number":
        return f"{name} must be a whole number from {low:,} to {high:,}, got {raw!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{name} must be from {low:,} to {high:,}, got {int(error['input']):,}"
    if kind == "literal_error":
        return (
            f"{name} must be one of {ctx['expected'].replace(chr(39), '')}, got {error['input']!r}"
        )
    if kind == "day":
        return f"{name} must be a date as YYYY-MM-DD, got {raw!r}"
    if kind == "day_range":
        return f"{name} must be from {EARLIEST} to {LATEST}, got {raw!r}"
    if kind == "moment":
        return (
            f"{name} must be an ISO date-time from {EARLIEST} to {LATEST} such as "
            f"2026-11-02T02:00:00+00:00, got {raw!r}"
        )
    if kind == "cron":
        default = field.default if field is not None else ""
        return (
            f"{name} must be a cron expression of five fields ({CRON_FIELDS}) that fires at "
            f"least once a year, such as {default!r}, got {raw!r}"
        )
    if kind == "holidays":
        return f"{name}: {raw}"
    if kind == "alerts":
        return str(raw)
    # Never the input: it may be a secret.
    return f"{name}: {error['msg']}"


def _bounds(field: Any) -> tuple[int, int]:
    low, high = 0, 0
    for rule in getattr(field, "metadata", ()):
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high


def read_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings in `env` (the process environment by default) over those of the home's
    settings file, validated. A variable set and not empty in `env` wins."""
    env = os.environ if env is None else env
    home = home_of(env)
    if home.exists() and not home.is_dir():
        raise SettingsError(f"DAGSTER_HOME {home} is a file: point DAGSTER_HOME at a directory")
    path = settings_file(home)
    from_file = read_settings_file(path, FILE_VARIABLES)
    from_env = {n: env[n] for n in FILE_VARIABLES if env.get(n, "").strip()}
    values = {**from_file, **from_env}
    try:
        return _settings(
            str(home), tuple(sorted((n, v.strip()) for n, v in values.items() if v.strip()))
        )
    except SettingsError as exc:
        # Every refusal starts with the variable's name: say where a bad value was written.
        name = str(exc).split(" ", 1)[0].rstrip(":")
        if name in from_file and name not in from_env:
            raise SettingsError(f"{path}: {exc}") from None
        raise


@cache
def _settings(home: str, values: tuple[tuple[str, str], ...]) -> Settings:
    # One validation per distinct environment: a long-lived process pays it once, and a
    # test that changes a variable gets the new value.
    try:
        return Settings(DAGSTER_HOME=home, **dict(values))
    except ValidationError as exc:
        raise SettingsError(refusal(exc.errors()[0])) from None


def write_setting(home: Path, name: str, value: str) -> Path:
    """Set `name` to `value` in the home's settings file, keeping its other lines; returns
    the file. Every process that reads settings on this home sees it from then on, but
    where the environment sets the variable."""
    if name not in FILE_VARIABLES:
        raise ValueError(f"{name} is not a setting the file may hold")
    return write_setting_line(home, name, value)


def revealed(secret: SecretStr | None) -> str | None:
    """A secret's value, where it is used and nowhere else (None when unset)."""
    return secret.get_secret_value() if secret is not None else None
