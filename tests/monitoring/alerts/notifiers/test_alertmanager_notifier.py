"""The alertmanager notifier: the exact POST /api/v2/alerts body, its endsAt rules, and the request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sharedconfig.delivery import DeliveryError
from sharedconfig.monitoring.alerts.model import Alert, Notification
from sharedconfig.monitoring.alerts.notifiers import (
    NotifierContext,
    alertmanager_alerts,
    alertmanager_notifier,
    build_notifier,
)
from sharedconfig.monitoring.settings import AlertmanagerNotifierSettings
from sharedconfig.testing import FakeClock

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
FIRING = Alert(
    {"alertname": "Down", "job": "api"}, T0, {"summary": "api down"}, generator_url="http://sc/rules"
)
RESOLVED = Alert({"alertname": "Down", "job": "db"}, T0, ends_at=T0 + timedelta(minutes=2))


def notification() -> Notification:
    """One firing and one resolved alert."""
    return Notification("am", "{}:{}", (), (FIRING, RESOLVED))


class TestBody:
    def test_exact_body(self) -> None:
        """Each alert is {labels, annotations, startsAt, endsAt, generatorURL}; a firing one has no endsAt
        (Alertmanager's resolve_timeout then applies), a resolved one its end."""
        assert alertmanager_alerts([FIRING, RESOLVED], now=T0 + timedelta(minutes=3)) == [
            {
                "labels": {"alertname": "Down", "job": "api"},
                "annotations": {"summary": "api down"},
                "startsAt": "2026-12-07T12:00:00Z",
                "generatorURL": "http://sc/rules",
            },
            {
                "labels": {"alertname": "Down", "job": "db"},
                "annotations": {},
                "startsAt": "2026-12-07T12:00:00Z",
                "endsAt": "2026-12-07T12:02:00Z",
                "generatorURL": "",
            },
        ]

    def test_valid_for(self) -> None:
        """With valid_for a firing alert ends that far after now unless posted again (Prometheus's way);
        a resolved one keeps its own end."""
        body = alertmanager_alerts([FIRING, RESOLVED], now=T0, valid_for=timedelta(minutes=4))
        assert [a["endsAt"] for a in body] == ["2026-12-07T12:04:00Z", "2026-12-07T12:02:00Z"]


class TestDelivery:
    @pytest.mark.parametrize("endpoint", ["http://am:9093", "http://am:9093/"])
    def test_posts_to_the_v2_api(self, endpoint: str) -> None:
        """The body goes to <endpoint>/api/v2/alerts as JSON, built from the settings."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200)

        clock = FakeClock(epoch=T0)
        settings = AlertmanagerNotifierSettings.model_validate({"endpoint": endpoint})
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clock.run(build_notifier(settings, clock=clock, client=client).notify(notification()))
        (request,) = seen
        assert str(request.url) == "http://am:9093/api/v2/alerts"
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == alertmanager_alerts([FIRING, RESOLVED], now=T0)

    def test_rejected_alerts_are_final(self) -> None:
        """Alertmanager's 400 (an invalid alert) is not retried and raises with its reason."""
        calls: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(1)
            return httpx.Response(400, json={"code": 400, "message": "invalid label set"})

        clock = FakeClock(epoch=T0)
        ctx = NotifierContext(clock=clock, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        with pytest.raises(DeliveryError, match="invalid label set"):
            clock.run(alertmanager_notifier("http://am:9093", ctx=ctx).notify(notification()))
        assert calls == [1]
