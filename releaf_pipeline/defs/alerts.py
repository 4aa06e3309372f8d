"""The alert sensors: the operator is told by email and a chat webhook, once per change.

`alerts` looks at the health state the pipeline keeps (servers, feeds, feed-days left to
a person, months that missed their close); `run_failure_alerts` is a run-status sensor on
every job of the location. Both run under the daemon, so their ticks show in the UI; both
record each message in the store before sending it, so a change is said once however many
ticks (or replayed nights) see it. A channel that keeps failing fails the sensor's tick,
naming the channel, with its messages kept for the next tick: it never fails a run.

Dagster's `make_email_on_run_failure_sensor` is not used: it sends HTML once with no
retry, always logs in, and keeps no record of what it sent; the same `run_failure_sensor`
it is built on is used here instead. `dagster-slack` posts with a bot token, not to a
webhook, so the webhook is sent with httpx.
"""

from __future__ import annotations

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.resources import (
    AlertsResource,
    ClockResource,
    ReforestationResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.launch import requested_days
from releaf_pipeline.lib.alerts.detect import health_changes, late_months, person_needed
from releaf_pipeline.lib.alerts.messages import Alert, Links, run_failed
from releaf_pipeline.lib.alerts.outbox import Told, tell
from releaf_pipeline.run_watch import run_failure

ALERTS_SENSOR = "alerts"
RUN_FAILURE_ALERTS = "run_failure_alerts"
NOT_CONFIGURED = (
    "no alert channel is configured: set RELEAF_ALERT_SMTP_URL (with RELEAF_ALERT_EMAIL_FROM "
    "and RELEAF_ALERT_EMAIL_TO) or RELEAF_ALERT_WEBHOOK_URL"
)


class AlertChannelFailing(Exception):
    """A channel refused messages after its retries; they wait for the next tick."""


def secrets_to_hide(store: StoreResource, alerts: AlertsResource) -> list[str]:
    """Every secret a message must never carry: the dealer tokens, the keys that seal
    them, the database's password and the channels' own secrets."""
    import sqlalchemy as sa

    from releaf_pipeline.lib.secrets import SecretKeyError
    from releaf_pipeline.lib.store.tokens import sealed_tokens

    channels = alerts.settings()
    out = [k.strip() for k in store.secret_key.split(",")]
    out.append(sa.engine.make_url(store.url()).password or "")
    if channels.smtp is not None and channels.smtp.password is not None:
        out.append(channels.smtp.password.get_secret_value())
    if channels.webhook is not None:
        out.append(channels.webhook.url.get_secret_value())
    try:
        cipher = store.cipher()
    except SecretKeyError:
        return out  # no token can be opened here, so none can be in a reason either
    for token in sealed_tokens(store.engine()):
        if cipher.opens(token.sealed):
            out.append(cipher.decrypt(token.sealed).get_secret_value())
    return out


def told_summary(told: Told) -> str:
    """The tick in one line: how many alerts it recorded, and each message it sent with
    the channels that took it."""
    if not told.sent:
        return f"{len(told.recorded)} new alert(s); nothing to send"
    by_title: dict[str, list[str]] = {}
    for title, channel, _answer in told.sent:
        by_title.setdefault(title, []).append(channel)
    sent = "; ".join(f"{t} ({', '.join(c)})" for t, c in by_title.items())
    return f"{len(told.recorded)} new alert(s); sent: {sent}"


def _tell(
    context: dg.SensorEvaluationContext | dg.RunFailureSensorContext,
    store: StoreResource,
    alerts: AlertsResource,
    clock: ClockResource,
    found: list[Alert],
) -> Told:
    told = tell(
        store.engine(),
        alerts.settings(),
        found,
        clock.now(),
        secrets=lambda: secrets_to_hide(store, alerts),
    )
    for line in told.lines():
        safe_log(context).info(line)
    if told.failing:
        # Each error names its channel already.
        waiting = "; ".join(told.failing.values())
        raise AlertChannelFailing(
            f"alert channel(s) failing, messages kept for the next tick: {waiting}"
        )
    return told


def current_alerts(
    store: StoreResource,
    alerts: AlertsResource,
    clock: ClockResource,
    rules: RulesResource,
    grace_days: int,
) -> list[Alert]:
    """Everything the health state says now (each is sent once; the store knows which)."""
    engine = store.engine()
    today = clock.now().date()
    lookback = rules.lookback_days
    links = Links(alerts.settings().ui_url)
    found = health_changes(engine, today, lookback_days=lookback, links=links)
    found += person_needed(engine, today, lookback_days=lookback, links=links)
    found += late_months(engine, today, grace_days=grace_days, links=links)
    return found


@dg.sensor(
    name=ALERTS_SENSOR,
    minimum_interval_seconds=SETTINGS_AT_LOAD.alert_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Tells the operator by email and webhook, once per change: a server or feed that "
        "turns unhealthy or recovers, feed-days that need a person, a month that could not "
        "close on time. Retries what a channel refused; fails its tick while one does."
    ),
)
def alerts_sensor(
    context: dg.SensorEvaluationContext,
    store: StoreResource,
    alerts: AlertsResource,
    clock: ClockResource,
    reforestation: ReforestationResource,
    rules: RulesResource,
) -> dg.SkipReason:
    """Record what changed, then send every message waiting."""
    if not alerts.settings().configured:
        return dg.SkipReason(NOT_CONFIGURED)
    found = current_alerts(store, alerts, clock, rules, reforestation.grace_days)
    return dg.SkipReason(told_summary(_tell(context, store, alerts, clock, found)))


def failed_run_alert(instance: dg.DagsterInstance, run: dg.DagsterRun, ui_url: str | None) -> Alert:
    """The message for a failed run: its job, days, first failed step and error."""
    days = requested_days(dict(run.tags)) if run.job_name == "collection" else None
    failure = run_failure(instance, run.run_id)
    partition = run.tags.get("dagster/partition")
    job = run.job_name if days or not partition else f"{run.job_name} {partition[:7]}"
    return run_failed(run.run_id, job, failure, days, Links(ui_url))


@dg.run_failure_sensor(
    name=RUN_FAILURE_ALERTS,
    minimum_interval_seconds=SETTINGS_AT_LOAD.alert_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Tells the operator by email and webhook of every run that fails (collection, "
        "monthly close, health check), with its step and one-line error; once per run."
    ),
)
def run_failure_alerts(
    context: dg.RunFailureSensorContext,
    store: StoreResource,
    alerts: AlertsResource,
    clock: ClockResource,
) -> dg.SkipReason:
    """Record the failed run's message, then send every message waiting."""
    settings = alerts.settings()
    if not settings.configured:
        return dg.SkipReason(NOT_CONFIGURED)
    found = [failed_run_alert(context.instance, context.dagster_run, settings.ui_url)]
    return dg.SkipReason(told_summary(_tell(context, store, alerts, clock, found)))
