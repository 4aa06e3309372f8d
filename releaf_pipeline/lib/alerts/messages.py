"""What the operator is told, one message per change of state: a server or a feed that
turns unhealthy or recovers, feed-days that need a person, a month that could not close on
time, a run that failed.

Each message has a key that names the change (a server unhealthy since a moment, a run
that failed): the store keeps it, so a change is said once, however often it is seen. The
text names the server, feed, account and days, and what happens next; it is built from
names, codes, dates and reasons only, never from a token, a key or a URL with a password.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from releaf_pipeline.lib.catchup import span
from releaf_pipeline.lib.dates import days_between
from releaf_pipeline.lib.store.alerts import NewAlert
from releaf_pipeline.lib.store.registry import FeedRecord, ServerRecord

SERVER_UNHEALTHY, SERVER_RECOVERED = "server_unhealthy", "server_recovered"
FEED_STALE, FEED_RECOVERED = "feed_stale", "feed_recovered"
NEEDS_PERSON, MONTH_LATE, RUN_FAILED, TEST = "needs_person", "month_late", "run_failed", "test"
FEEDS_NAMED = 20
"""Feeds a message names one by one; the rest are counted."""


Alert = NewAlert
"""One message: `key` names the change it tells of; `subject` what it is about."""


def feed_name(feed: FeedRecord) -> str:
    """A feed as an operator names it: server/customer code."""
    return f"{feed.server_name}/{feed.customer_code}"


def _feeds_line(feeds: Sequence[FeedRecord]) -> str:
    named = ", ".join(f"{feed_name(f)} (account {f.account})" for f in feeds[:FEEDS_NAMED])
    more = len(feeds) - FEEDS_NAMED
    return named + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Links:
    """Pages of the Dagster UI a message links, when RELEAF_UI_URL is set."""

    ui_url: str | None = None

    def _page(self, path: str) -> str | None:
        return f"{self.ui_url.rstrip('/')}/{path}" if self.ui_url else None

    def fleet(self) -> str | None:
        """The fleet_health asset: every server's and troubled feed's state."""
        return self._page("assets/fleet_health")

    def day(self, day: date) -> str | None:
        """One day of the collection."""
        return self._page(f"assets/meter_readings?view=partitions&partition={day}")

    def month(self, month: str) -> str | None:
        """One month's certificates."""
        return self._page(f"assets/reforestation_certificates?view=partitions&partition={month}-01")

    def run(self, run_id: str) -> str | None:
        """One run."""
        return self._page(f"runs/{run_id}")


def _alert(
    key: str, kind: str, subject: str, title: str, lines: list[str], link: str | None, **event
) -> Alert:
    text = "\n".join([title, *lines, *([f"Dagster: {link}"] if link else [])])
    days = event.pop("days", [])
    payload = {
        "kind": kind,
        "server": event.pop("server", None),
        "feeds": event.pop("feeds", []),
        "accounts": event.pop("accounts", []),
        "days": [d.isoformat() for d in days],
        "since": event.pop("since", None),
        "next": event.pop("next", None),
        "link": link,
        **event,
    }
    return Alert(key, kind, subject, title, text, payload)


def _iso(moment: date | datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def server_unhealthy(
    server: ServerRecord, feeds: Sequence[FeedRecord], paused: Sequence[date], links: Links
) -> Alert:
    """A server failed its health check: its feeds are paused until it passes again."""
    next_step = (
        f"its feeds are paused and checked again on every health check; once {server.name} "
        "passes, the catch-up re-collects every day they missed"
    )
    lines = [
        f"Why: {server.health_reason or 'no reason given'}",
        f"Since: {_iso(server.health_since)}",
        f"Paused feeds ({len(feeds)}): {_feeds_line(feeds) or 'none'}",
        *([f"Days paused so far: {span(paused)}"] if paused else []),
        f"Next: {next_step}",
    ]
    return _alert(
        f"server:{server.id}:unhealthy:{_iso(server.health_since)}", SERVER_UNHEALTHY,
        f"server:{server.id}", f"releaf: server {server.name} is unhealthy", lines,
        links.fleet(), server=server.name, feeds=[feed_name(f) for f in feeds],
        accounts=sorted({f.account for f in feeds}), days=sorted(paused),
        since=_iso(server.health_since), next=next_step,
    )  # fmt: skip


def server_recovered(
    server: ServerRecord, paused: dict[FeedRecord, list[date]], links: Links
) -> Alert:
    """A server passes its health check again: the days its feeds missed are re-collected."""
    days = sorted({d for ds in paused.values() for d in ds})
    if days:
        next_step = f"the catch-up re-collects {span(days)} for the feeds above on its next tick"
        detail = [f"  {feed_name(f)} (account {f.account}): {span(ds)}" for f, ds in paused.items()]
        lines = ["Paused days to be re-collected:", *detail]
    else:
        next_step = "its feeds are collected nightly again; no day is waiting"
        lines = []
    lines += [f"Since: {_iso(server.health_since)}", f"Next: {next_step}"]
    return _alert(
        f"server:{server.id}:recovered:{_iso(server.health_since)}", SERVER_RECOVERED,
        f"server:{server.id}", f"releaf: server {server.name} is healthy again", lines,
        links.fleet(), server=server.name, feeds=[feed_name(f) for f in paused],
        accounts=sorted({f.account for f in paused}), days=days,
        since=_iso(server.health_since), next=next_step,
    )  # fmt: skip


def feed_stale(
    feed: FeedRecord, since_day: date, last_data: date | None, reason: str | None, links: Links
) -> Alert:
    """A feed has had no new data for 3 business days."""
    gap_from = last_data + timedelta(days=1) if last_data else feed.activation_date
    next_step = (
        f"once its devices report again, the pipeline reads back from {gap_from}; if the "
        "customer's data collection agent is offline, ask the customer to restart it"
    )
    lines = [
        f"Feed: {feed_name(feed)}, account {feed.account}",
        f"Why: {reason or 'no new data'}",
        f"Last data: {last_data or 'none yet'}",
        f"Next: {next_step}",
    ]
    return _alert(
        f"feed:{feed.id}:stale:{since_day}", FEED_STALE, f"feed:{feed.id}",
        f"releaf: feed {feed_name(feed)} has had no new data since {last_data}", lines,
        links.day(since_day), server=feed.server_name, feeds=[feed_name(feed)],
        accounts=[feed.account], days=[since_day], since=since_day.isoformat(), next=next_step,
        gap_from=gap_from.isoformat(),
    )  # fmt: skip


def feed_recovered(
    feed: FeedRecord,
    since_day: date,
    gap_from: date,
    pending: tuple[date, date] | None,
    links: Links,
) -> Alert:
    """A stale feed has data again: the days it missed (from `gap_from`) are read back,
    by the catch-up when `pending`, else already by the night that saw the data."""
    last = pending[1] if pending is not None else since_day
    days = days_between(gap_from, last)
    if pending is not None:
        next_step = f"the catch-up reads back {pending[0]}..{pending[1]} on its next tick"
    else:
        next_step = (
            f"read back through {last} by the collection that saw the data; collected nightly"
        )
    lines = [
        f"Feed: {feed_name(feed)}, account {feed.account}",
        f"Days read back: {gap_from}..{last}",
        f"Next: {next_step}",
    ]
    return _alert(
        f"feed:{feed.id}:recovered:{since_day}", FEED_RECOVERED, f"feed:{feed.id}",
        f"releaf: feed {feed_name(feed)} has new data again", lines, links.day(since_day),
        server=feed.server_name, feeds=[feed_name(feed)], accounts=[feed.account],
        days=days, since=since_day.isoformat(), next=next_step,
    )  # fmt: skip


def needs_person(
    feed: FeedRecord, days: Sequence[date], cause: str, reason: str, step: str, links: Links
) -> Alert:
    """Feed-days the pipeline will not collect on its own: a person must act (`step`)."""
    first = min(days)
    lines = [
        f"Feed: {feed_name(feed)}, account {feed.account}",
        f"Days: {span(days)}",
        f"Why: {reason}",
        f"What to do: {step}",
    ]
    return _alert(
        f"feed:{feed.id}:person:{cause}:{first}", NEEDS_PERSON, f"feed:{feed.id}",
        f"releaf: feed {feed_name(feed)} needs a person for {span(days)}", lines,
        links.day(first), server=feed.server_name, feeds=[feed_name(feed)],
        accounts=[feed.account], days=sorted(days), since=first.isoformat(), next=step,
    )  # fmt: skip


def month_late(
    month: str, waits: Sequence[tuple[str, str]], grace_until: date, links: Links
) -> Alert:
    """A month whose certificates could not be issued on its first night."""
    next_step = (
        f"issued as soon as what it waits for is in; on {grace_until} at the latest, with "
        "what is known then (later pages carry into the next certificate)"
    )
    lines = [
        f"Accounts waiting ({len(waits)}):",
        *(f"  {account}: {why}" for account, why in waits[:FEEDS_NAMED]),
        *([f"  and {len(waits) - FEEDS_NAMED} more"] if len(waits) > FEEDS_NAMED else []),
        f"Next: {next_step}",
    ]
    return _alert(
        f"month:{month}:late", MONTH_LATE, f"month:{month}",
        f"releaf: the certificates of {month} could not be issued on time", lines,
        links.month(month), accounts=[a for a, _ in waits], since=grace_until.isoformat(),
        next=next_step, month=month,
    )  # fmt: skip


def run_failed(
    run_id: str, job: str, failure: str, days: tuple[date, date] | None, links: Links
) -> Alert:
    """A run that failed, with its step and one-line error."""
    covered = [] if days is None else [days[0], days[1]]
    span_text = "" if days is None else f" for {_range(*days)}"
    next_step = (
        "collection runs are retried by the catch-up sensor on its next tick; if the error "
        "repeats, fix its cause and re-run from the Dagster UI"
    )
    lines = [f"Run: {run_id} ({job}{span_text})", f"Error: {failure}", f"Next: {next_step}"]
    return _alert(
        f"run:{run_id}:failed", RUN_FAILED, f"run:{run_id}",
        f"releaf: run of {job}{span_text} failed", lines, links.run(run_id),
        days=covered, next=next_step, run_id=run_id, job=job, error=failure,
    )  # fmt: skip


def test_message(now: datetime) -> Alert:
    """What `releaf alerts test` sends."""
    title = "releaf: test message"
    lines = [f"Sent at {now.isoformat()} by `releaf alerts test`: this channel works."]
    return _alert(
        f"test:{now.isoformat()}", TEST, "test", title, lines, None, since=now.isoformat()
    )


def _range(first: date, last: date) -> str:
    return f"{first}" if first == last else f"{first}..{last}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret replaced: a reason a server gave is shown as
    it came, and must never carry a token on."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text
