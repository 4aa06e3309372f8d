"""Resources: the store, the MPS Monitor client settings, the clock, the certificates and
where alerts go.

Each hands plain objects (an engine, client settings, a time) to the code in `lib/`,
which never reads the environment itself. Empty fields take their value from the
settings (`releaf_pipeline.settings`), so one environment configures every process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from releaf_pipeline.lib.alerts.config import AlertSettings
from releaf_pipeline.lib.certificates import ForestryProject
from releaf_pipeline.lib.mpsmonitor.settings import ClientSettings
from releaf_pipeline.settings import Settings, read_settings, revealed

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from releaf_pipeline.lib.secrets import TokenCipher


@cache
def _engine(url: str, may_create: bool = True) -> Engine:
    # One engine (and pool) per process and URL: runs and sensors reuse connections.
    from releaf_pipeline.lib.store.engine import make_engine

    return make_engine(url, may_create=lambda: may_create)


class StoreResource(dg.ConfigurableResource):
    """The pipeline's system of record (SQLAlchemy).

    `database_url` empty means `RELEAF_DATABASE_URL`, else SQLite at
    `$DAGSTER_HOME/releaf.db`. Dealer tokens are sealed with the key from
    `RELEAF_SECRET_KEY`, else `$DAGSTER_HOME/releaf.key`.
    """

    database_url: str = ""
    home: str = ""
    # Whether the instance has history, so a store with no schema is a lost one, not new.
    _instance_has_runs: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Notes whether the instance already has runs (besides the one starting)."""
        instance = context.instance
        if instance is not None:
            others = instance.get_runs_count() - (1 if context.run is not None else 0)
            self._instance_has_runs = others > 0

    def settings(self) -> Settings:
        """The settings this resource falls back on."""
        return read_settings()

    def home_path(self) -> Path:
        """The directory holding the SQLite store and the key file."""
        return Path(self.home) if self.home else self.settings().home

    def url(self) -> str:
        """The SQLAlchemy URL in use."""
        if self.database_url:
            return self.database_url
        if self.home:
            return f"sqlite:///{Path(self.home).resolve() / 'releaf.db'}"
        return self.settings().database_url.get_secret_value()

    def engine(self) -> Engine:
        """The engine, with the schema in place (refused if missing in an instance with runs)."""
        return _engine(self.url(), not self._instance_has_runs)

    def cipher(self) -> TokenCipher:
        """Opens dealer tokens, in memory only; fails at once, before the step writes,
        when the key opens none of the stored tokens."""
        from releaf_pipeline.lib.secrets import open_cipher
        from releaf_pipeline.lib.store.tokens import sealed_tokens

        sealed = [t.sealed for t in sealed_tokens(self.engine())]
        return open_cipher(self.home_path(), revealed(self.settings().secret_keys), sealed)


class MPSMonitorResource(dg.ConfigurableResource):
    """How the pipeline talks to MPS Monitor servers.

    `concurrency_per_server` bounds both the requests in flight and the feeds in progress
    per server (1 collects one customer after another); 0 means
    `RELEAF_CONCURRENCY_PER_SERVER` (16 by default).
    """

    concurrency_per_server: int = 0
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5

    def settings(self) -> ClientSettings:
        """The client settings these values stand for."""
        concurrency = self.concurrency_per_server or read_settings().concurrency_per_server
        if concurrency < 1:
            raise dg.Failure(f"concurrency_per_server must be at least 1, got {concurrency}")
        return ClientSettings(
            timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base_seconds,
            concurrency=concurrency,
        )


class ClockResource(dg.ConfigurableResource):
    """The time the pipeline believes it is: `frozen_at` (ISO) when set, else `RELEAF_NOW`,
    else the wall clock. Replays set the first through run config; tests either."""

    frozen_at: str = ""

    def now(self) -> datetime:
        """The current time in UTC."""
        if self.frozen_at:
            value = datetime.fromisoformat(self.frozen_at)
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return read_settings().current_time()


class ReforestationResource(dg.ConfigurableResource):
    """The forestry project printed on certificates, where PDFs go, and the grace period
    after which a month closes with what is known. Empty values come from
    `RELEAF_FORESTRY_PROJECT`, `RELEAF_FORESTRY_LOCATION`, `RELEAF_CERTIFICATES_DIR`
    (default `$DAGSTER_HOME/certificates`) and `RELEAF_CERTIFICATE_GRACE_DAYS` (10).
    """

    project_name: str = ""
    project_location: str = ""
    certificates_dir: str = ""
    grace_days: int | None = None

    def project(self) -> ForestryProject:
        """The forestry project named on certificates."""
        settings = read_settings()
        return ForestryProject(
            self.project_name or settings.forestry_project,
            self.project_location or settings.forestry_location,
        )

    def grace(self) -> int:
        """Days after a month's end after which it closes with what is known."""
        return self.grace_days if self.grace_days is not None else read_settings().grace_days

    def directory(self, store: StoreResource) -> Path:
        """Where certificate PDFs are written."""
        if self.certificates_dir:
            return Path(self.certificates_dir)
        if store.home:
            return Path(store.home) / "certificates"
        return read_settings().certificates_dir


class AlertsResource(dg.ConfigurableResource):
    """Where the operator is told of trouble: email over SMTP and a chat webhook, as
    `RELEAF_ALERT_SMTP_URL`, `RELEAF_ALERT_EMAIL_FROM`, `RELEAF_ALERT_EMAIL_TO` and
    `RELEAF_ALERT_WEBHOOK_URL` configure them (none: nothing is said), and the Dagster UI
    messages link (`RELEAF_UI_URL`). Its secrets come from the environment only, never
    from run config."""

    def settings(self) -> AlertSettings:
        """The configured channels."""
        return read_settings().alerts
