"""Resources: the store, the MPS Monitor client settings and the clock."""

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import Engine

from releaf_pipeline.defs.settings import env_str, int_env
from releaf_pipeline.lib.monthly_close import DEFAULT_GRACE_DAYS, ForestryProject
from releaf_pipeline.lib.mpsmonitor.client import ClientSettings
from releaf_pipeline.lib.paths import current_time, default_database_url, releaf_home
from releaf_pipeline.lib.secrets import TokenCipher, load_keys
from releaf_pipeline.lib.store.engine import make_engine


@cache
def _engine(url: str) -> Engine:
    # One engine (and pool) per process and URL: runs and sensors reuse connections.
    return make_engine(url)


DEFAULT_PROJECT = "Releaf Reforestation Project"
DEFAULT_LOCATION = "Willamette National Forest, Oregon, USA"


class StoreResource(dg.ConfigurableResource):
    """The pipeline's system of record (SQLAlchemy).

    `database_url` empty means `RELEAF_DATABASE_URL`, else SQLite at
    `$DAGSTER_HOME/releaf.db`. Dealer tokens are sealed with the key from
    `RELEAF_SECRET_KEY`, else `$DAGSTER_HOME/releaf.key` (created 0600 on first use).
    """

    database_url: str = ""
    home: str = ""

    def home_path(self) -> Path:
        """The directory holding the SQLite store and the key file."""
        return Path(self.home) if self.home else releaf_home()

    def url(self) -> str:
        """The SQLAlchemy URL in use."""
        return self.database_url or default_database_url(self.home_path())

    def engine(self) -> Engine:
        """The engine, with the schema in place."""
        return _engine(self.url())

    def cipher(self) -> TokenCipher:
        """Opens dealer tokens, in memory only."""
        return TokenCipher(load_keys(self.home_path()))


class MPSMonitorResource(dg.ConfigurableResource):
    """How the pipeline talks to MPS Monitor servers.

    `concurrency_per_server` bounds both the requests in flight and the feeds in
    progress per server (1 collects one customer after another).
    """

    concurrency_per_server: int = 16
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5

    def settings(self) -> ClientSettings:
        """The client settings these values stand for."""
        if self.concurrency_per_server < 1:
            raise dg.Failure(
                f"concurrency_per_server must be at least 1, got {self.concurrency_per_server}"
            )
        return ClientSettings(
            timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base_seconds,
            concurrency=self.concurrency_per_server,
        )


class ClockResource(dg.ConfigurableResource):
    """The time the pipeline believes it is: `frozen_at` (ISO) when set, else
    `RELEAF_NOW`, else the wall clock. Tests and replays set one of the first two."""

    frozen_at: str = ""

    def now(self) -> datetime:
        """The current time in UTC."""
        if self.frozen_at:
            value = datetime.fromisoformat(self.frozen_at)
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return current_time()


class ReforestationResource(dg.ConfigurableResource):
    """The forestry project printed on certificates, where PDFs go, and the grace period
    after which a month closes with what is known.

    Empty values are read when used from `RELEAF_FORESTRY_PROJECT`,
    `RELEAF_FORESTRY_LOCATION`, `RELEAF_CERTIFICATES_DIR` (default `<home>/certificates`)
    and `RELEAF_CERTIFICATE_GRACE_DAYS` (default 10).
    """

    project_name: str = ""
    project_location: str = ""
    certificates_dir: str = ""
    grace_days: int | None = None

    def project(self) -> ForestryProject:
        """The forestry project named on certificates."""
        return ForestryProject(
            self.project_name or env_str("RELEAF_FORESTRY_PROJECT", DEFAULT_PROJECT),
            self.project_location or env_str("RELEAF_FORESTRY_LOCATION", DEFAULT_LOCATION),
        )

    def grace(self) -> int:
        """Days after a month's end after which it closes with what is known."""
        if self.grace_days is not None:
            return self.grace_days
        return int_env("RELEAF_CERTIFICATE_GRACE_DAYS", DEFAULT_GRACE_DAYS)

    def directory(self, store: StoreResource) -> Path:
        """Where certificate PDFs are written."""
        chosen = self.certificates_dir or env_str("RELEAF_CERTIFICATES_DIR", "")
        return Path(chosen) if chosen else store.home_path() / "certificates"
