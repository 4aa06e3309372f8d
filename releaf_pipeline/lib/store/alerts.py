"""What the operator was told, and whether each channel took it.

An alert is stored once, under the key of the change it tells of: recording the same key
again does nothing, so a change is never said twice, whoever sees it (the daemon's sensor,
a replayed night, both at once). Each configured channel gets a delivery: pending until the
channel takes it, `sending` while one process holds it (so two never send it both), then
`sent`, or `given_up` after a day of failures. The caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from releaf_pipeline.lib.store.tables import alert_deliveries, alerts

PENDING, SENDING, SENT, GIVEN_UP = "pending", "sending", "sent", "given_up"
GIVE_UP_AFTER = timedelta(days=1)
"""How long a channel is retried before a message on it is given up."""
SENDING_STALE = timedelta(minutes=10)
"""A delivery held this long by a process that never said how it went is pending again."""


@dataclass(frozen=True)
class NewAlert:
    """An alert to record: `key` names the change it tells of, `subject` what it is about
    ("server:3"), `event` the webhook's object."""

    key: str
    kind: str
    subject: str
    title: str
    text: str
    event: dict


def record_alert(
    conn: sa.Connection, alert: NewAlert, channels: Sequence[str], now: datetime
) -> bool:
    """Store `alert` with a pending delivery on each channel; False (and nothing stored)
    when its key was recorded before."""
    if said(conn, alert.key):
        return False
    try:
        with conn.begin_nested():
            alert_id = conn.execute(
                alerts.insert().values(
                    key=alert.key,
                    kind=alert.kind,
                    subject=alert.subject,
                    title=alert.title,
                    text=alert.text,
                    event=json.dumps(alert.event, sort_keys=True),
                    created_at=now,
                )
            ).inserted_primary_key[0]
            for channel in channels:
                conn.execute(
                    alert_deliveries.insert().values(
                        alert_id=alert_id,
                        channel=channel,
                        state=PENDING,
                        attempts=0,
                        updated_at=now,
                    )
                )
    except sa.exc.IntegrityError:
        # Another process recorded the same change a moment ago.
        return False
    return True


def said(conn: sa.Connection, key: str) -> bool:
    """Whether the change `key` names was recorded."""
    return conn.execute(sa.select(alerts.c.id).where(alerts.c.key == key)).first() is not None


def last_alerts(conn: sa.Connection, subject_prefix: str) -> dict[str, tuple[str, dict]]:
    """subject -> (kind, event) of the latest alert about it, for subjects starting with
    `subject_prefix` ("server:", "feed:")."""
    latest = (
        sa.select(alerts.c.subject, sa.func.max(alerts.c.id).label("id"))
        .where(alerts.c.subject.startswith(subject_prefix))
        .group_by(alerts.c.subject)
        .subquery()
    )
    rows = conn.execute(
        sa.select(alerts.c.subject, alerts.c.kind, alerts.c.event).join(
            latest, alerts.c.id == latest.c.id
        )
    )
    return {r.subject: (r.kind, json.loads(r.event)) for r in rows}


@dataclass(frozen=True)
class Delivery:
    """One alert on one channel, to be sent."""

    alert_id: int
    channel: str
    attempts: int
    title: str
    text: str
    event: dict
    created_at: datetime


def claim_pending(conn: sa.Connection, channel: str, now: datetime) -> list[Delivery]:
    """Take the pending deliveries on `channel`, oldest first, for this process: each is
    `sending` until `finish` says how it went. One a process held too long (it died) is
    taken again; one pending past GIVE_UP_AFTER is given up instead."""
    d, a = alert_deliveries, alerts
    conn.execute(
        d.update()
        .where(d.c.channel == channel, d.c.state == SENDING, d.c.updated_at < now - SENDING_STALE)
        .values(state=PENDING)
    )
    expired = sa.select(a.c.id).where(a.c.created_at < now - GIVE_UP_AFTER)
    conn.execute(
        d.update()
        .where(d.c.channel == channel, d.c.state == PENDING, d.c.alert_id.in_(expired))
        .values(state=GIVEN_UP, updated_at=now)
    )
    rows = conn.execute(
        sa.select(d.c.alert_id, d.c.attempts, a.c.title, a.c.text, a.c.event, a.c.created_at)
        .join(a, a.c.id == d.c.alert_id)
        .where(d.c.channel == channel, d.c.state == PENDING)
        .order_by(d.c.alert_id)
    ).all()
    out = []
    for r in rows:
        taken = conn.execute(
            d.update()
            .where(d.c.alert_id == r.alert_id, d.c.channel == channel, d.c.state == PENDING)
            .values(state=SENDING, updated_at=now)
        ).rowcount
        if taken == 1:
            out.append(Delivery(**{**r._mapping, "channel": channel, "event": json.loads(r.event)}))
    return out


def finish(
    conn: sa.Connection,
    delivery: Delivery,
    now: datetime,
    *,
    answer: str | None = None,
    error: str | None = None,
    tries: int = 1,
) -> None:
    """Record how a claimed delivery went: sent with the channel's `answer`, or pending
    again with its `error` (tried `tries` more times)."""
    d = alert_deliveries
    values: dict = {"attempts": d.c.attempts + tries, "updated_at": now}
    if error is None:
        values.update(state=SENT, answer=answer, last_error=None)
    else:
        values.update(state=PENDING, last_error=error)
    conn.execute(
        d.update()
        .where(d.c.alert_id == delivery.alert_id, d.c.channel == delivery.channel)
        .values(**values)
    )


def release(conn: sa.Connection, deliveries: Sequence[Delivery], now: datetime) -> None:
    """Hand claimed deliveries that were not tried back, pending."""
    d = alert_deliveries
    for x in deliveries:
        conn.execute(
            d.update()
            .where(d.c.alert_id == x.alert_id, d.c.channel == x.channel, d.c.state == SENDING)
            .values(state=PENDING, updated_at=now)
        )


@dataclass(frozen=True)
class AlertRecord:
    """A recorded alert and its state on each channel: channel -> (state, attempts,
    answer or last error)."""

    id: int
    kind: str
    title: str
    created_at: datetime
    deliveries: dict[str, tuple[str, int, str | None]]


def recent_alerts(conn: sa.Connection, limit: int = 20) -> list[AlertRecord]:
    """The latest `limit` alerts, newest first."""
    rows = conn.execute(sa.select(alerts).order_by(alerts.c.id.desc()).limit(limit)).all()
    ids = [r.id for r in rows]
    deliveries: dict[int, dict[str, tuple[str, int, str | None]]] = {}
    for d in conn.execute(sa.select(alert_deliveries).where(alert_deliveries.c.alert_id.in_(ids))):
        said_back = d.answer if d.state == SENT else d.last_error
        deliveries.setdefault(d.alert_id, {})[d.channel] = (d.state, d.attempts, said_back)
    return [
        AlertRecord(r.id, r.kind, r.title, r.created_at, deliveries.get(r.id, {})) for r in rows
    ]


@dataclass(frozen=True)
class ChannelState:
    """How a channel is doing: messages waiting on it, given up, and its last word."""

    channel: str
    waiting: int
    given_up: int
    last_sent: datetime | None
    last_error: str | None
    failing_since: datetime | None
    """The oldest waiting message that failed at least once: since when it fails."""

    @property
    def failing(self) -> bool:
        """Whether the channel fails to take messages."""
        return self.failing_since is not None


def channel_states(conn: sa.Connection, channels: Sequence[str]) -> list[ChannelState]:
    """Each channel's state, from its deliveries."""
    d, a = alert_deliveries, alerts
    out = []
    for channel in channels:
        mine = d.c.channel == channel
        counts = dict(
            conn.execute(
                sa.select(d.c.state, sa.func.count()).where(mine).group_by(d.c.state)
            ).all()
        )
        last_sent = conn.execute(
            sa.select(sa.func.max(d.c.updated_at)).where(mine, d.c.state == SENT)
        ).scalar()
        failing = conn.execute(
            sa.select(a.c.created_at, d.c.last_error)
            .join(a, a.c.id == d.c.alert_id)
            .where(mine, d.c.state.in_([PENDING, SENDING]), d.c.last_error.is_not(None))
            .order_by(d.c.updated_at.desc())
        ).all()
        out.append(
            ChannelState(
                channel,
                waiting=counts.get(PENDING, 0) + counts.get(SENDING, 0),
                given_up=counts.get(GIVEN_UP, 0),
                last_sent=last_sent,
                last_error=failing[0].last_error if failing else None,
                failing_since=min(f.created_at for f in failing) if failing else None,
            )
        )
    return out
