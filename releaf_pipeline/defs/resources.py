"""Resources: the store, the MPS Monitor client, the clock, the rules, the certificates and
where alerts go.

Each is configured in `definitions.py` from the settings, so the UI's resource page shows
every value (a secret as the name of the variable that holds it, never its value), and
hands plain objects (an engine, a client, a time) to the code in `lib/`. Nothing here reads
the environment: Dagster resolves an `EnvVar` field when the resource is used.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, PrivateAttr, SecretStr

from releaf_pipeline.lib.alerts.config import AlertSettings, read_alert_settings
from releaf_pipeline.lib.certificates import ForestryProject
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from releaf_pipeline.defs.collection.day_view import Judged
    from releaf_pipeline.lib.mpsmonitor.client import MPSMonitorClient
    from releaf_pipeline.lib.secrets import TokenCipher
    from releaf_pipeline.lib.store.registry import ServerRecord
    from releaf_pipeline.settings import Settings


@cache
def _engine(url: str, may_create: bool = True) -> Engine:
    # One engine (and pool) per process and URL: runs and sensors reuse connections.
    from releaf_pipeline.lib.store.engine import make_engine

    return make_engine(url, may_create=lambda: may_create)


class StoreResource(dg.ConfigurableResource):
    """The pipeline's system of record (SQLAlchemy): `database_url` (empty: SQLite at
    `home/releaf.db`), and the key that seals dealer tokens, `secret_key` (empty: the key
    file `home/releaf.key`)."""

    home: str
    database_url: str = Field(default="", repr=False)
    secret_key: str = Field(default="", repr=False)
    # Whether the instance has history, so a store with no schema is a lost one, not new.
    _instance_has_runs: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Notes whether the instance already has runs (besides the one starting)."""
        instance = context.instance
        if instance is not None:
            others = instance.get_runs_count() - (1 if context.run is not None else 0)
            self._instance_has_runs = others > 0

    def url(self) -> str:
        """The SQLAlchemy URL in use."""
        return self.database_url or f"sqlite:///{Path(self.home).resolve() / 'releaf.db'}"

    def engine(self) -> Engine:
        """The engine, with the schema in place (refused if missing in an instance with runs)."""
        return _engine(self.url(), not self._instance_has_runs)

    def cipher(self) -> TokenCipher:
        """Opens dealer tokens, in memory only; fails at once, before the step writes,
        when the key opens none of the stored tokens."""
        from releaf_pipeline.lib.store.tokens import store_cipher

        return store_cipher(self.engine(), Path(self.home), self.secret_key or None)


class MPSMonitorResource(dg.ConfigurableResource):
    """How the pipeline talks to MPS Monitor servers: `concurrency_per_server` bounds both
    the requests in flight and the feeds in progress per server (1 collects one customer
    after another); time-out, attempts and back-off apply to every request."""

    concurrency_per_server: int = Field(default=16, ge=1, le=1000)
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5

    def settings(self) -> ClientSettings:
        """The client settings these values stand for."""
        return ClientSettings(
            timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base_seconds,
            concurrency=self.concurrency_per_server,
        )

    def client(
        self, server: ServerRecord, token: SecretStr, settings: ClientSettings | None = None
    ) -> MPSMonitorClient:
        """A client of `server` with its dealer token (`async with` it), trusting the CA
        bundle registered for it or the system store; `settings` replaces this resource's
        (a shard's share of the requests in flight, the health check's quick retries)."""
        from releaf_pipeline.lib.collector import default_client_factory

        return default_client_factory(server, token, settings or self.settings())


class ClockResource(dg.ConfigurableResource):
    """The time the pipeline believes it is: `frozen_at` (ISO) when set, else the wall
    clock. Replays set it through run config; `RELEAF_NOW` sets it for every process."""

    frozen_at: str = ""

    def now(self) -> datetime:
        """The current time in UTC."""
        if self.frozen_at:
            value = datetime.fromisoformat(self.frozen_at)
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.now(UTC)


class RulesResource(dg.ConfigurableResource):
    """The operator's rules the assets, checks and sensors apply: how far back the catch-up
    looks, the holidays of feed freshness, feeds per piece of a night, a collection run's
    time limit and the health check's interval."""

    lookback_days: int = Field(default=35, ge=1, le=366)
    holidays: list[str] = []
    feeds_per_piece: int = Field(default=5000, ge=1)
    run_max_seconds: int = Field(default=600, ge=10)
    health_check_seconds: int = Field(default=300, ge=1)

    @classmethod
    def of(cls, settings: Settings) -> RulesResource:
        """The rules as the settings give them."""
        return cls(
            lookback_days=settings.catchup_lookback_days,
            holidays=sorted(d.isoformat() for d in settings.holidays),
            feeds_per_piece=settings.feeds_per_piece,
            run_max_seconds=settings.run_max_seconds,
            health_check_seconds=settings.health_check_seconds,
        )

    def holiday_dates(self) -> frozenset[date]:
        """The holidays, as dates."""
        return frozenset(date.fromisoformat(d) for d in self.holidays)

    def judged(self, today: date) -> Judged:
        """A day's view judged on `today` with the catch-up's look-back."""
        from releaf_pipeline.defs.collection.day_view import Judged

        return Judged(today, self.lookback_days)


class ReforestationResource(dg.ConfigurableResource):
    """The forestry project printed on certificates, where PDFs go, and the grace period
    after which a month closes with what is known."""

    project_name: str
    project_location: str
    certificates_dir: str
    grace_days: int = Field(default=10, ge=0, le=90)

    def project(self) -> ForestryProject:
        """The forestry project named on certificates."""
        return ForestryProject(self.project_name, self.project_location)


class AlertsResource(dg.ConfigurableResource):
    """Where the operator is told of trouble: email over SMTP and a chat webhook (none:
    nothing is said), and the Dagster UI the messages link. The SMTP URL and password and
    the webhook URL are secrets: configured as the variables that hold them."""

    smtp_url: str = Field(default="", repr=False)
    smtp_password: str = Field(default="", repr=False)
    email_from: str = ""
    email_to: str = ""
    webhook_url: str = Field(default="", repr=False)
    webhook_ca_bundle: str = ""
    ui_url: str = ""

    def settings(self) -> AlertSettings:
        """The configured channels."""
        return read_alert_settings(
            {
                "RELEAF_ALERT_SMTP_URL": self.smtp_url,
                "RELEAF_ALERT_SMTP_PASSWORD": self.smtp_password,
                "RELEAF_ALERT_EMAIL_FROM": self.email_from,
                "RELEAF_ALERT_EMAIL_TO": self.email_to,
                "RELEAF_ALERT_WEBHOOK_URL": self.webhook_url,
                "RELEAF_ALERT_WEBHOOK_CA_BUNDLE": self.webhook_ca_bundle,
                "RELEAF_UI_URL": self.ui_url,
            }
        )
