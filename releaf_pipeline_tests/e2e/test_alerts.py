"""The operator is told: nights replayed over the simulator (HTTPS) send email to a local
SMTP server and JSON to a local HTTPS webhook, once per change of state. A server that is
down for two nights is said once when it goes and once when it comes back; a feed stale
for three business days once each way; a month that misses its close once; a run that
fails once; a healthy night says nothing; no message carries the dealer token. A webhook
that answers 500 never fails a night, and gets its message once it is back, once."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import dagster as dg
import pytest

from releaf_pipeline.definitions import default_resources
from releaf_pipeline.defs.alerts import alerts_sensor, run_failure_alerts
from releaf_pipeline.defs.resources import ClockResource
from releaf_pipeline.replay import night_time
from releaf_pipeline_tests.alert_receivers import SmtpReceiver, WebhookReceiver
from releaf_pipeline_tests.e2e.nights import register_feeds

pytestmark = pytest.mark.e2e

ACTIVATION = date(2026, 9, 25)
OUTAGE = {date(2026, 10, 3), date(2026, 10, 4)}


@pytest.fixture
def receivers(monkeypatch):
    """A local SMTP server and a local HTTPS webhook, configured as the alert channels."""
    with SmtpReceiver() as smtp, WebhookReceiver() as hook:
        monkeypatch.setenv("RELEAF_ALERT_SMTP_URL", smtp.url)
        monkeypatch.setenv("RELEAF_ALERT_EMAIL_FROM", "releaf@example.com")
        monkeypatch.setenv("RELEAF_ALERT_EMAIL_TO", "ops@example.com,oncall@example.com")
        monkeypatch.setenv("RELEAF_ALERT_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("RELEAF_ALERT_WEBHOOK_CA_BUNDLE", str(hook.ca_bundle))
        monkeypatch.setenv("RELEAF_UI_URL", "https://dagster.example.com")
        yield smtp, hook


def start(releaf, sim, fleet, monkeypatch, first_night: date) -> tuple[str, str]:
    """Feeds of the stale customer (its DCA offline from Sep 28 to Oct 8) and of a plain
    one, collected up to the day before `first_night`; returns their customer codes."""
    stale, _resetting, _adding, plain = fleet.customer_codes
    at = night_time(first_night - timedelta(days=1))
    sim.set_now(at)
    monkeypatch.setenv("RELEAF_NOW", at.isoformat())
    feeds = [(stale, "acct-a", ACTIVATION, "all"), (plain, "acct-c", ACTIVATION, "all")]
    register_feeds(releaf, sim, feeds, monkeypatch)
    end = (first_night - timedelta(days=1)).isoformat()
    r = releaf("collect", "--start", ACTIVATION.isoformat(), "--end", end)
    assert r.code == 0, r.err
    return stale, plain


def night(releaf, sim, monkeypatch, day: date):
    """The night after `day`, as `releaf nightly` replays it; the server down on OUTAGE."""
    sim.set_now(night_time(day))
    monkeypatch.setenv("RELEAF_NOW", night_time(day).isoformat())
    sim.set_outage(day in OUTAGE)
    return releaf("nightly", "--date", day.isoformat())


def said(smtp: SmtpReceiver, hook: WebhookReceiver, seen: tuple[int, int]) -> list[str]:
    """The titles said on both channels since `seen`; each channel must have said the same."""
    mails = [m["Subject"] for m in smtp.messages[seen[0] :]]
    posts = [p["text"].splitlines()[0] for p in hook.delivered[seen[1] :]]
    assert sorted(mails) == sorted(posts), (mails, posts)
    return mails


def test_each_change_is_said_once_on_each_channel(home, sim, fleet, releaf, monkeypatch,
                                                  receivers):  # fmt: skip
    smtp, hook = receivers
    stale, plain = start(releaf, sim, fleet, monkeypatch, date(2026, 9, 30))
    expected = {
        date(2026, 9, 30): [f"releaf: feed east/{stale} has had no new data since 2026-09-27"],
        date(2026, 10, 1): ["releaf: the certificates of 2026-09 could not be issued on time"],
        date(2026, 10, 3): ["releaf: server east is unhealthy"],
        date(2026, 10, 5): ["releaf: server east is healthy again"],
        date(2026, 10, 8): [f"releaf: feed east/{stale} has new data again"],
    }
    day = date(2026, 9, 30)
    while day <= date(2026, 10, 9):
        seen = (len(smtp.messages), len(hook.delivered))
        r = night(releaf, sim, monkeypatch, day)
        assert r.code == (1 if day in OUTAGE else 0), (day, r.out, r.err)
        assert said(smtp, hook, seen) == expected.get(day, []), (day, r.out)
        day += timedelta(days=1)

    # Every message names what it is about; none carries the dealer token.
    events = {p["event"]["kind"]: p["event"] for p in hook.delivered}
    down = events["server_unhealthy"]
    assert down["server"] == "east" and sorted(down["feeds"]) == sorted(
        [f"east/{stale}", f"east/{plain}"]
    )
    back = events["server_recovered"]
    assert back["days"] == ["2026-10-03", "2026-10-04"], back
    assert "re-collects 2026-10-03..2026-10-04" in back["next"]
    assert events["feed_stale"]["accounts"] == ["acct-a"]
    assert events["month_late"]["accounts"] == ["acct-a"]
    read_back = events["feed_recovered"]["days"]
    assert (read_back[0], read_back[-1]) == ("2026-09-28", "2026-10-08"), read_back
    assert all(
        p["event"]["link"].startswith("https://dagster.example.com/") for p in hook.delivered
    )
    for text in [m.get_content() for m in smtp.messages] + [str(p) for p in hook.delivered]:
        assert sim.token not in text
    assert all(m["To"] == "ops@example.com, oncall@example.com" for m in smtp.messages)

    # `releaf alerts list` shows each one delivered on both channels.
    listed = releaf("alerts", "list", "--json").json()
    assert not any(c["failing"] for c in listed["channels"])
    assert len(listed["alerts"]) == 5
    assert all({d["state"] for d in a["deliveries"].values()} == {"sent"} for a in listed["alerts"])


def resources_at(day: date) -> dict:
    """The sensors' resources, their clock at the night after `day`."""
    return {**default_resources(), "clock": ClockResource(frozen_at=night_time(day).isoformat())}


def tick(day: date) -> dg.SkipReason:
    """One tick of the alerts sensor, as the daemon evaluates it, at the night after `day`."""
    with (
        dg.DagsterInstance.get() as instance,
        dg.build_sensor_context(instance=instance, resources=resources_at(day)) as ctx,
    ):
        return alerts_sensor(ctx)


def test_a_webhook_that_fails_never_fails_a_night_and_gets_its_message_once(
    home, sim, fleet, releaf, monkeypatch, receivers
):
    smtp, hook = receivers
    stale, _ = start(releaf, sim, fleet, monkeypatch, date(2026, 9, 30))
    hook.answer_status = 500
    r = night(releaf, sim, monkeypatch, date(2026, 9, 30))
    assert r.code == 0, (r.out, r.err)
    assert "warning: alert channel(s) failing" in r.err and "HTTP 500" in r.err, r.err
    assert [m["Subject"] for m in smtp.messages] == [
        f"releaf: feed east/{stale} has had no new data since 2026-09-27"
    ]
    assert hook.delivered == []
    listed = releaf("alerts", "list")
    assert listed.code == 0 and "FAILING since" in listed.out and "HTTP 500" in listed.out

    # Back: the next tick delivers it, once; the one after says nothing more.
    hook.answer_status = 200
    assert "sent: releaf: feed" in tick(date(2026, 9, 30)).skip_message
    assert tick(date(2026, 9, 30)).skip_message == "0 new alert(s); nothing to send"
    assert [p["event"]["kind"] for p in hook.delivered] == ["feed_stale"]
    assert len(smtp.messages) == 1
    (alert,) = releaf("alerts", "list", "--json").json()["alerts"]
    assert alert["deliveries"]["webhook"]["state"] == "sent"
    # Refused three times on each of the night's two ticks after the collection, then taken.
    assert alert["deliveries"]["webhook"]["attempts"] == 7
    assert len(hook.received) - len(hook.delivered) == 6

    # A refusal followed by an answer within one tick is delivered by the retry, once.
    hook.fail_next = 1
    night(releaf, sim, monkeypatch, date(2026, 10, 1))
    kinds = Counter(p["event"]["kind"] for p in hook.delivered)
    assert kinds == {"feed_stale": 1, "month_late": 1}, kinds


def test_a_failed_run_is_said_with_its_step_and_error(home, sim, fleet, releaf, monkeypatch,
                                                      receivers, tmp_path):  # fmt: skip
    smtp, hook = receivers
    # Certificates cannot be written where a file stands: September's close fails.
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.setenv("RELEAF_CERTIFICATES_DIR", str(blocked))
    start(releaf, sim, fleet, monkeypatch, date(2026, 9, 30))
    r = night(releaf, sim, monkeypatch, date(2026, 9, 30))
    assert r.code == 1 and "FAILED" in r.out, (r.out, r.err)
    failed = [p for p in hook.delivered if p["event"]["kind"] == "run_failed"]
    assert len(failed) == 1, [p["event"]["kind"] for p in hook.delivered]
    event = failed[0]["event"]
    assert event["job"] == "monthly_close 2026-09" and "step " in event["error"]
    assert "\n" not in event["error"] and event["link"].endswith(f"/runs/{event['run_id']}")
    assert sum(m["Subject"].startswith("releaf: run of monthly_close") for m in smtp.messages) == 1
    # The sensor seeing the same failure again (a tick retried) says nothing new.
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(event["run_id"])
        (record,) = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
        ctx = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts", dagster_event=record.event_log_entry.dagster_event,
            dagster_instance=instance, dagster_run=run, resources=resources_at(date(2026, 9, 30)),
        )  # fmt: skip
        assert run_failure_alerts(ctx).skip_message == "0 new alert(s); nothing to send"
    assert len([p for p in hook.delivered if p["event"]["kind"] == "run_failed"]) == 1


def test_no_channel_says_nothing_and_test_reports_each_answer(home, sim, fleet, releaf,
                                                             monkeypatch, receivers):  # fmt: skip
    smtp, hook = receivers
    r = releaf("alerts", "test")
    assert r.code == 0, r.err
    assert "250" in r.out and "HTTP 200" in r.out, r.out
    assert len(smtp.messages) == 1 and len(hook.delivered) == 1
    hook.answer_status = 500
    r = releaf("alerts", "test")
    assert r.code == 1 and "webhook" in r.err and "HTTP 500" in r.err, r.err
    for name in ("RELEAF_ALERT_SMTP_URL", "RELEAF_ALERT_EMAIL_FROM", "RELEAF_ALERT_EMAIL_TO",
                 "RELEAF_ALERT_WEBHOOK_URL", "RELEAF_ALERT_WEBHOOK_CA_BUNDLE"):  # fmt: skip
        monkeypatch.delenv(name)
    r = releaf("alerts", "test")
    assert r.code == 2 and "no alert channel is configured" in r.err
    assert releaf("alerts", "list").out.startswith("no alert channel is configured")
