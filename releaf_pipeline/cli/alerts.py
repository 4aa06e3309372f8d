"""`releaf alerts`: try the alert channels, and see what was said and whether it arrived."""

from __future__ import annotations

import json

import click

from releaf_pipeline.app import App, UserError
from releaf_pipeline.cli.formats import moment
from releaf_pipeline.cli.output import WholeNumber, print_table, say

NOT_CONFIGURED = (
    "no alert channel is configured: set RELEAF_ALERT_SMTP_URL (with RELEAF_ALERT_EMAIL_FROM "
    "and RELEAF_ALERT_EMAIL_TO) or RELEAF_ALERT_WEBHOOK_URL, see the README's settings"
)


@click.group("alerts", help="the operator's alerts: email and a chat webhook")
def alerts() -> None:
    """`releaf alerts ...`."""


@alerts.command("test", help="send a test message on every configured channel")
def test() -> int:
    from releaf_pipeline.lib.alerts.message import DeliveryError, Message
    from releaf_pipeline.lib.alerts.messages import test_message
    from releaf_pipeline.lib.alerts.outbox import channels, send_retried, sender

    app = App()
    settings = app.settings.alerts
    if not settings.configured:
        raise UserError(NOT_CONFIGURED)
    alert = test_message(app.now())
    message = Message(alert.title, alert.text, alert.event)
    rows, failed = [], []
    for key, channel in channels(settings).items():
        try:
            answer, _ = send_retried(sender(channel), message)
        except DeliveryError as exc:
            rows.append((key, channel.name, "FAILED"))
            failed.append(f"{key}: {exc}")
            continue
        rows.append((key, channel.name, answer))
    print_table(["channel", "to", "answer"], rows)
    for line in failed:
        say(line, err=True)
    return 1 if failed else 0


@alerts.command(
    "list", help="recent alerts, their delivery on each channel, and each channel's state"
)
@click.option("--limit", type=WholeNumber(1, 10_000), default=20, show_default=True,
              help="how many of the latest alerts")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def list_alerts(limit: int, as_json: bool) -> int:
    from releaf_pipeline.lib.alerts.outbox import channels
    from releaf_pipeline.lib.store.alerts import channel_states, recent_alerts
    from releaf_pipeline.lib.store.engine import reading

    app = App()
    names = {key: c.name for key, c in channels(app.settings.alerts).items()}
    with reading(app.engine) as conn:
        records = recent_alerts(conn, limit)
        states = channel_states(conn, list(names))
    if as_json:
        click.echo(json.dumps(_as_json(records, states, names), indent=2))
        return 0
    if not names:
        say(NOT_CONFIGURED)
    else:
        print_table(
            ["channel", "to", "state", "waiting", "given up", "last sent", "why"],
            [(s.channel, names[s.channel],
              f"FAILING since {moment(s.failing_since)}" if s.failing else "ok",
              s.waiting, s.given_up, moment(s.last_sent) if s.last_sent else "never",
              s.last_error or "")
             for s in states],
        )  # fmt: skip
    if not records:
        click.echo("no alert sent yet")
        return 0
    channels = sorted({c for r in records for c in r.deliveries})
    print_table(
        ["at", "kind", "alert", *channels],
        [(moment(r.created_at), r.kind, r.title,
          *(_delivery(r.deliveries.get(c)) for c in channels))
         for r in records],
    )  # fmt: skip
    return 0


def _delivery(state: tuple[str, int, str | None] | None) -> str:
    if state is None:
        return "-"
    word, attempts, said = state
    if word == "sent":
        return f"sent ({said})" if said else "sent"
    tries = f", {attempts} tries" if attempts else ""
    return f"{word}{tries}: {said}" if said else f"{word}{tries}"


def _as_json(records: list, states: list, names: dict[str, str]) -> dict:
    return {
        "channels": [
            {"channel": s.channel, "to": names[s.channel], "failing": s.failing,
             "failing_since": s.failing_since.isoformat() if s.failing_since else None,
             "waiting": s.waiting, "given_up": s.given_up,
             "last_sent": s.last_sent.isoformat() if s.last_sent else None,
             "last_error": s.last_error}
            for s in states
        ],
        "alerts": [
            {"at": r.created_at.isoformat(), "kind": r.kind, "title": r.title,
             "deliveries": {c: {"state": d[0], "attempts": d[1], "said": d[2]}
                            for c, d in r.deliveries.items()}}
            for r in records
        ],
    }  # fmt: skip


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    group.add_command(alerts)
