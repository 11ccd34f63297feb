"""The webhook notifier: Alertmanager's version 4 body, max_alerts, auth headers, HMAC, retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sharedconfig.delivery import DeliveryError
from sharedconfig.monitoring.alerts.model import Alert, Notification
from sharedconfig.monitoring.alerts.notifiers import (
    NotifierContext,
    build_notifier,
    webhook_body,
    webhook_notifier,
)
from sharedconfig.monitoring.events.channels.webhook import SIGNATURE_HEADER, verify
from sharedconfig.monitoring.settings import WebhookNotifierSettings
from sharedconfig.testing import FakeClock, RecordingLogger

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECRET = "whsec-canary-alerts-41d0"
TOKEN = "bearer-canary-alerts-2b8e"
URL = "https://receiver.example.com/alerts?token=url-canary-77"


def notification() -> Notification:
    """Two alerts of group HighErrorRate: one firing on a, one resolved on b."""
    a = Alert(
        {"alertname": "HighErrorRate", "instance": "a", "severity": "critical"},
        T0,
        {"summary": "errors"},
        generator_url="http://prom/graph",
    )
    b = Alert(
        {"alertname": "HighErrorRate", "instance": "b", "severity": "critical"},
        T0 + timedelta(seconds=1.5),
        {"summary": "errors"},
        ends_at=T0 + timedelta(minutes=3),
    )
    return Notification(
        "team", '{}:{alertname="HighErrorRate"}', (("alertname", "HighErrorRate"),), (a, b), "http://sc"
    )


class TestBody:
    def test_version_4_fields_in_order(self) -> None:
        """The body is Alertmanager's webhook message version 4, field for field and in its order."""
        body = json.loads(webhook_body(notification()))
        assert list(body) == [
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        ]
        assert body == {
            "version": "4",
            "groupKey": '{}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "team",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
            "commonAnnotations": {"summary": "errors"},
            "externalURL": "http://sc",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighErrorRate", "instance": "a", "severity": "critical"},
                    "annotations": {"summary": "errors"},
                    "startsAt": "2026-12-07T12:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom/graph",
                    "fingerprint": body["alerts"][0]["fingerprint"],
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "HighErrorRate", "instance": "b", "severity": "critical"},
                    "annotations": {"summary": "errors"},
                    "startsAt": "2026-12-07T12:00:01.5Z",
                    "endsAt": "2026-12-07T12:03:00Z",
                    "generatorURL": "",
                    "fingerprint": body["alerts"][1]["fingerprint"],
                },
            ],
        }
        assert all(len(a["fingerprint"]) == 16 for a in body["alerts"])

    def test_max_alerts(self) -> None:
        """max_alerts keeps the first alerts and counts the rest in truncatedAlerts, as Alertmanager does."""
        body = json.loads(webhook_body(notification(), max_alerts=1))
        assert body["truncatedAlerts"] == 1
        assert [a["labels"]["instance"] for a in body["alerts"]] == ["a"]
        assert json.loads(webhook_body(notification(), max_alerts=0))["truncatedAlerts"] == 0


class TestDelivery:
    def test_headers_and_signature(self) -> None:
        """Settings' headers go out as given, and with a secret every request carries a signature that the
        events webhook's verify accepts at the clock's time."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204)

        clock = FakeClock(epoch=T0)
        settings = WebhookNotifierSettings.model_validate(
            {"url": URL, "headers": {"Authorization": f"Bearer {TOKEN}"}, "secret": SECRET, "max_alerts": 1}
        )
        notifier = build_notifier(
            settings,
            name="hook",
            clock=clock,
            client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        )
        clock.run(notifier.notify(notification()))
        (request,) = seen
        assert str(request.url) == URL
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.content == webhook_body(notification(), max_alerts=1)
        signed = verify(SECRET, request.content, request.headers[SIGNATURE_HEADER], now=T0.timestamp())
        assert signed == int(T0.timestamp())

    def test_retry_after_is_honoured(self) -> None:
        """A 503 with Retry-After: 7 is retried after 7 s of the clock, then delivered."""
        answers = [httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(200)]
        clock = FakeClock(epoch=T0)
        ctx = NotifierContext(
            clock=clock, client=httpx.AsyncClient(transport=httpx.MockTransport(lambda r: answers.pop(0)))
        )
        clock.run(webhook_notifier(URL, ctx=ctx).notify(notification()))
        assert answers == []
        assert clock.jumps == (7.0,)

    def test_a_4xx_is_final_and_secrets_stay_hidden(self) -> None:
        """A 400 is not retried; the error and the log name scheme and host only, never a secret."""
        calls: list[bytes] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request.content)
            return httpx.Response(400, text=f"bad token {TOKEN}")

        clock, logger = FakeClock(epoch=T0), RecordingLogger()
        ctx = NotifierContext(
            clock=clock, logger=logger, client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
        )
        notifier = webhook_notifier(URL, headers={"Authorization": f"Bearer {TOKEN}"}, secret=SECRET, ctx=ctx)
        with pytest.raises(DeliveryError) as caught:
            clock.run(notifier.notify(notification()))
        assert len(calls) == 1
        assert caught.value.status == 400
        assert "HTTP 400 from https://receiver.example.com: bad token **********" in caught.value.message
        shown = caught.value.message + repr(logger.records) + repr(notifier)
        for secret in (TOKEN, SECRET, "url-canary-77"):
            assert secret not in shown

    def test_bad_max_alerts(self) -> None:
        """A negative max_alerts is refused at build time."""
        with pytest.raises(ValueError, match="max_alerts"):
            webhook_notifier(URL, max_alerts=-1)
