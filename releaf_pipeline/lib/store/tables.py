"""The store's tables (SQLAlchemy Core): the system of record of the pipeline.

Only the fields the contract allows are kept about devices: DeviceID, Managed,
InitialCount, LatestCount, LifeCount, and the life count read per device and date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

# An index or constraint left unnamed is named by this convention (a check constraint
# must be named: see migrations/README.md); named ones keep the names they were made with.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator):
    """A moment stored in UTC and read back time-zone aware, on SQLite as on Postgres."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


servers = sa.Table(
    "servers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("url", sa.String(500), nullable=False),
    # Fernet-sealed dealer token: never stored or logged in plain text.
    sa.Column("token_sealed", sa.Text, nullable=False),
    # PEM text of the CA bundle the server's certificate is verified against (public data).
    sa.Column("ca_bundle_pem", sa.Text, nullable=True),
    sa.Column("dealer_code", sa.String(100), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("healthy", sa.Boolean, nullable=True),
    sa.Column("health_since", UTCDateTime(), nullable=True),
    sa.Column("health_reason", sa.Text, nullable=True),
    sa.Column("health_checked_at", UTCDateTime(), nullable=True),
    # Removed by an operator: not checked any more; kept for its feeds' history.
    sa.Column("removed_at", UTCDateTime(), nullable=True),
)

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("server_id", sa.Integer, sa.ForeignKey("servers.id"), nullable=False),
    sa.Column("customer_code", sa.String(100), nullable=False),
    # The customer code as it is compared (`customer_key`): codes compare without regard
    # to case, so `aaaa1111` and `AAAA1111` are one customer. Always filled by the registry;
    # nullable only because SQLite cannot add NOT NULL to a table others point at.
    sa.Column("customer_key", sa.String(100), nullable=True),
    sa.Column("account", sa.String(200), nullable=False),
    sa.Column("activation_date", sa.Date, nullable=False),
    sa.Column("scope", sa.String(10), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Readings are mirrored without gaps from activation - 31 days through this date.
    sa.Column("synced_through", sa.Date, nullable=True),
    # The earliest day whose deposit inputs (readings, scope, activation) changed since
    # the deposits were last computed; NULL when the deposits are up to date.
    sa.Column("dirty_from", sa.Date, nullable=True),
    # Bumped by every change of the deposit inputs, so that the deposit computation only
    # marks the feed clean when nothing changed while it was computing.
    sa.Column("inputs_version", sa.Integer, nullable=False, server_default="0"),
    # Paused by an operator (not collected until resumed), or removed (kept for history).
    sa.Column("paused_at", UTCDateTime(), nullable=True),
    sa.Column("removed_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("server_id", "customer_code", name="uq_feed_server_customer"),
    sa.CheckConstraint("scope in ('all', 'managed')", name="ck_feed_scope"),
    # Lookups by code (a bare CODE, the same customer through another server record).
    sa.Index("ix_feeds_customer_key", "customer_key"),
    # One active feed per customer and server. A removed feed keeps its history and its
    # code (the registry refuses to add it again: `feed resume` brings it back), but the
    # index leaves it out, so a store whose codes differed only in case can be mended by
    # removing all but one of them.
    sa.Index(
        "uq_feeds_server_customer_key",
        "server_id",
        "customer_key",
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    ),
)

feed_accounts = sa.Table(
    "feed_accounts",
    metadata,
    # Which account a feed's deposits go to, from which day: the account of a day is that
    # of the latest row dated on or before it (of the earliest row before them all). A
    # feed with no row deposits on `feeds.account`. Recomputed deposits read it, so a
    # late reading never moves pages back to an account the feed has left.
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("from_day", sa.Date, primary_key=True),
    sa.Column("account", sa.String(200), nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("device_id", sa.String(100), primary_key=True),
    # IsManaged as last seen by Device/List (scope per day is in device_scope).
    sa.Column("managed", sa.Boolean, nullable=False),
    sa.Column("initial_count", sa.BigInteger, nullable=True),
    sa.Column("latest_count", sa.BigInteger, nullable=True),
    sa.Column("life_count", sa.BigInteger, nullable=False, default=0),
    # The date of the device's latest mirrored reading: where the next night re-reads from.
    sa.Column("latest_day", sa.Date, nullable=True),
    # The date of the reading LatestCount was taken from when the deposits were last
    # computed: the next computation's starting count when it starts after that day.
    sa.Column("counted_day", sa.Date, nullable=True),
    # Whether the latest Device/List of the feed's customer listed the device.
    sa.Column("listed", sa.Boolean, nullable=False, server_default=sa.false()),
    # Whether any Device/List of the customer ever listed it: only then is it the
    # customer's device and are its readings counted (a Counter/List row for a device
    # never listed is kept but set aside).
    sa.Column("ever_listed", sa.Boolean, nullable=False, server_default=sa.false()),
)

device_scope = sa.Table(
    "device_scope",
    metadata,
    # Rule 1's history: the IsManaged that the first collection covering each day saw, as
    # non-overlapping runs of days [first_day, last_day] per device.
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("device_id", sa.String(100), primary_key=True),
    sa.Column("first_day", sa.Date, primary_key=True),
    sa.Column("last_day", sa.Date, nullable=False),
    sa.Column("managed", sa.Boolean, nullable=False),
)

readings = sa.Table(
    "readings",
    metadata,
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("device_id", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("life_count", sa.BigInteger, nullable=False),
    # A run counts a range of days' readings across every feed.
    sa.Index("ix_readings_day", "day"),
)

COLLECTED, PAUSED, FAILED = "collected", "paused", "failed"
"""A feed-day's status: collected, paused (its server failed its health check) or failed."""

feed_days = sa.Table(
    "feed_days",
    metadata,
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # A failure's kind (an error's `kind`: "timeout", "customer_not_found"...): whether a
    # retry can fix it is decided on this, never on the reason's text.
    sa.Column("failure_kind", sa.String(40), nullable=True),
    sa.CheckConstraint(
        f"status in ('{COLLECTED}', '{PAUSED}', '{FAILED}')", name="ck_feed_day_status"
    ),
    # The catch-up sensor looks for paused and failed days across every feed.
    sa.Index("ix_feed_days_day_status", "day", "status"),
)

deposits = sa.Table(
    "deposits",
    metadata,
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("account", sa.String(200), nullable=False, index=True),
    sa.Column("pages", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Reports and each partition's own figures read deposits by day.
    sa.Index("ix_deposits_day", "day"),
)

stale_days = sa.Table(
    "stale_days",
    metadata,
    # Days whose view in Dagster (an asset's figures and check results for the day) no
    # longer matches the store: written with the change that made it so, removed once the
    # day is published again. One row per change; a day may be listed many times.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("asset", sa.String(40), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Index("ix_stale_days_asset", "asset", "id"),
)

shown_days = sa.Table(
    "shown_days",
    metadata,
    # What Dagster last showed of each day, part by part: the asset's figures and each
    # check's result, as a digest, with the publication (run or runless report) whose
    # materialization the part belongs to. A day marked stale whose parts all match what
    # the store would show now is not published again.
    sa.Column("asset", sa.String(40), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("part", sa.String(64), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("publication", sa.String(64), nullable=False),
)

step_outputs = sa.Table(
    "step_outputs",
    metadata,
    # What one step of a run hands to the next (the night's pieces, each piece's summary),
    # as JSON: the steps may run on different workers, which all share the store.
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("step_key", sa.String(255), primary_key=True),
    sa.Column("output", sa.String(64), primary_key=True),
    sa.Column("mapping_key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("written_at", UTCDateTime(), nullable=False, index=True),
)

alerts = sa.Table(
    "alerts",
    metadata,
    # One change the operator is told of. Its key names the change (a server unhealthy
    # since a moment, a run that failed): a second insert of it fails, so it is said once.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    # What it is about ("server:3", "feed:12", "month:2026-11", "run:<id>").
    sa.Column("subject", sa.String(300), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    # The webhook's `event` object, as JSON.
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    # An alert on one channel: pending until the channel takes it, then sent; given up
    # after a day of failures.
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), primary_key=True),
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

anomalies = sa.Table(
    "anomalies",
    metadata,
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("device_id", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kind", sa.String(30), primary_key=True),
    sa.Column("previous_count", sa.BigInteger, nullable=True),
    sa.Column("count", sa.BigInteger, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("detected_at", UTCDateTime(), nullable=False),
)

feed_health = sa.Table(
    "feed_health",
    metadata,
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
    sa.Column("healthy", sa.Boolean, nullable=False),
    # The evaluation day from which the current state holds.
    sa.Column("since_day", sa.Date, nullable=False),
    # L: the latest reading date of any in-scope device, as of the last evaluated day.
    sa.Column("last_data", sa.Date, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("evaluated_day", sa.Date, nullable=False),
    # Set when the feed turns healthy again: these days are collected again.
    sa.Column("recollect_from", sa.Date, nullable=True),
    sa.Column("recollect_to", sa.Date, nullable=True),
)

health_events = sa.Table(
    "health_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # "server" or "feed"
    sa.Column("subject", sa.String(10), nullable=False),
    sa.Column("subject_id", sa.Integer, nullable=False),
    sa.Column("healthy", sa.Boolean, nullable=False),
    # Feeds change state on an evaluation day; servers at a moment.
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_health_events_subject", "subject", "subject_id"),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("account", sa.String(200), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("pages", sa.BigInteger, nullable=False),
    sa.Column("adjustment_pages", sa.BigInteger, nullable=False),
    sa.Column("project_name", sa.String(200), nullable=False),
    sa.Column("project_location", sa.String(200), nullable=False),
    sa.Column("issued_on", sa.Date, nullable=False),
    # "complete": every feed collected and fresh; "grace": issued with what was known.
    sa.Column("closed_by", sa.String(10), nullable=False),
    sa.Column("pdf_path", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # The account's display name when the certificate was issued: a later rename does not
    # reach a certificate already issued (NULL: it had none, the slug is printed).
    sa.Column("account_name", sa.Text, nullable=True),
    sa.UniqueConstraint("account", "month", name="uq_certificate_account_month"),
)

accounts = sa.Table(
    "accounts",
    metadata,
    # What is known of an account beyond its slug; an account needs no row to have feeds.
    sa.Column("account", sa.Text, primary_key=True),
    # The name certificates print; NULL: they print the slug.
    sa.Column("display_name", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)


def device_readings(*conditions: sa.ColumnElement[bool]) -> sa.Join:
    """`devices` joined to their `readings` meeting `conditions`, walked device by device.

    Each device's readings are then a range of the readings' primary key (feed, device,
    day), so a query bounded in days costs what it returns, however long the history.
    The `+ 0` keeps SQLite from moving a feed filter on `devices` over to `readings` and
    scanning every reading of the feed instead.
    """
    return devices.join(
        readings,
        sa.and_(
            readings.c.feed_id == devices.c.feed_id + sa.literal_column("0"),
            readings.c.device_id == devices.c.device_id,
            *conditions,
        ),
    )
