"""Alert notifications reaching real servers: a Slack-shaped HTTP endpoint, aiosmtpd, a webhook receiver,
and a real Alertmanager, whose own webhook then reaches an in-test receiver (firing, then resolved)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from integration.servers import AlertmanagerServer, HttpReceiver, SmtpServer
from sharedconfig.monitoring.alerts.model import Alert, Notification, fingerprint, labels
from sharedconfig.monitoring.alerts.notifiers import (
    DeliveredNotifier,
    alertmanager_notifier,
    email_notifier,
    slack_message,
    slack_notifier,
    webhook_body,
    webhook_notifier,
)
from sharedconfig.monitoring.events.channels.webhook import SIGNATURE_HEADER, verify

SECRET = "whsec-canary-integration-5e7a"


def firing(name: str = "HighErrorRate", *, ago: float = 60.0, **extra: str) -> Alert:
    """A firing alert that started ``ago`` seconds ago, with a summary and a runbook."""
    return Alert(
        {"alertname": name, "severity": "critical", "job": "api", **extra},
        datetime.now(UTC) - timedelta(seconds=ago),
        {"summary": "errors above 10%", "runbook_url": "https://runbooks.example.com/errors"},
        generator_url="http://sharedconfig:8080/api/v1/rules",
    )


def notification(*alerts: Alert) -> Notification:
    """The notification of ``alerts`` for receiver ``team``, grouped by alertname."""
    group = (("alertname", alerts[0].name),)
    key = "{}:{alertname=" + json.dumps(alerts[0].name) + "}"
    return Notification("team", key, group, alerts, "http://sharedconfig:8080")


def deliver(notifier: DeliveredNotifier[Any], sent: Notification) -> None:
    """Notify once on a new event loop, then close the notifier's connections."""

    async def main() -> None:
        try:
            await notifier.notify(sent)
        finally:
            await notifier.aclose()

    asyncio.run(main())


def test_slack_endpoint_gets_block_kit(receiver: HttpReceiver) -> None:
    """The Slack notifier POSTs the Block Kit message, channel included, to the webhook URL's path."""
    sent = notification(firing(instance="a"), firing(instance="b"))
    deliver(slack_notifier(receiver.url("/services/T0/B0/canary"), channel="#alerts"), sent)
    (request,) = receiver.wait_for(1)
    assert request.path == "/services/T0/B0/canary"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body == slack_message(sent, channel="#alerts")
    assert body["text"] == "[FIRING:2] HighErrorRate (api critical)"
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section"]
    assert "<https://runbooks.example.com/errors|:book: Runbook>" in body["blocks"][1]["text"]["text"]


def test_email_reaches_aiosmtpd(smtp_server: SmtpServer) -> None:
    """The email notifier delivers to a real SMTP server (aiosmtpd, no TLS): envelope, subject, and a
    multipart/alternative message with a text and an HTML part."""
    notifier = email_notifier(
        "127.0.0.1",
        smtp_server.port,
        sender="alerts@example.com",
        recipients=["oncall@example.com", "lead@example.com"],
        use_tls=False,
        timeout=5.0,
    )
    deliver(notifier, notification(firing(instance="a")))
    (mail,) = smtp_server.wait_for(1)
    assert mail.mail_from == "alerts@example.com"
    assert mail.rcpt_tos == ("oncall@example.com", "lead@example.com")
    assert mail.message["Subject"] == "[FIRING:1] HighErrorRate (a api critical)"
    assert mail.message.get_content_type() == "multipart/alternative"
    text, html = mail.message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert "Runbook: https://runbooks.example.com/errors" in text.get_content()
    assert html.get_content_type() == "text/html"
    assert '<a href="https://runbooks.example.com/errors">' in html.get_content()


def test_webhook_receiver_gets_version_4(receiver: HttpReceiver) -> None:
    """The webhook notifier's body is Alertmanager's version 4 message, signed; a 500 is retried."""
    receiver.script = [500]
    sent = notification(firing(instance="a"))
    notifier = webhook_notifier(receiver.url("/hook"), secret=SECRET, headers={"Authorization": "Bearer t0k"})
    deliver(notifier, sent)
    failed, delivered = receiver.wait_for(2)
    assert failed.body == delivered.body == webhook_body(sent)
    assert verify(SECRET, delivered.body, delivered.headers[SIGNATURE_HEADER.lower()]) > 0
    assert delivered.headers["authorization"] == "Bearer t0k"
    body = delivered.json()
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "HighErrorRate"}
    assert body["alerts"][0]["fingerprint"] == fingerprint(labels(dict(sent.alerts[0].labels).items()))


def test_alertmanager_forwards_and_resolves(alertmanager: AlertmanagerServer) -> None:
    """Alerts POSTed to a real Alertmanager come back through its own webhook group_wait later (the alert
    starts now: one that started longer than group_wait ago is flushed at once); posting the same alert
    with endsAt makes it send resolved."""
    alert = firing("NotifierTest", ago=0.0, instance="a")
    notifier = alertmanager_notifier(alertmanager.url)
    posted = time.monotonic()
    deliver(notifier, notification(alert))
    held = alertmanager.alerts()
    assert [a["labels"] for a in held] == [dict(alert.labels)]
    assert held[0]["fingerprint"] == alert.fingerprint

    (first,) = alertmanager.receiver.wait_for(1, timeout=20)
    waited = time.monotonic() - posted
    assert waited >= alertmanager.group_wait * 0.9, (
        "Alertmanager waited group_wait before its first notification"
    )
    assert first.path == "/alertmanager"
    message = first.json()
    assert (message["version"], message["status"], message["receiver"]) == ("4", "firing", "test")
    assert message["groupLabels"] == {"alertname": "NotifierTest"}
    (got,) = message["alerts"]
    assert got["labels"] == dict(alert.labels)
    assert got["annotations"] == dict(alert.annotations)
    assert got["fingerprint"] == alert.fingerprint
    assert got["generatorURL"] == alert.generator_url

    ended = alert.resolved(datetime.now(UTC))
    deliver(notifier, notification(ended))
    resolved = alertmanager.receiver.wait_for(2, timeout=20)[1].json()
    assert resolved["status"] == "resolved"
    assert [a["status"] for a in resolved["alerts"]] == ["resolved"]
    assert resolved["alerts"][0]["fingerprint"] == alert.fingerprint
    assert json.loads(json.dumps(resolved["alerts"][0]["labels"])) == dict(alert.labels)
