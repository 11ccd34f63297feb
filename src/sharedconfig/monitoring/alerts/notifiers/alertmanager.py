"""The ``alertmanager`` notifier: alerts POSTed to a real Alertmanager's ``/api/v2/alerts``.

The body (``alertmanager_alerts``) is the v2 API's list of postable alerts::

    [{"labels": {...}, "annotations": {...}, "startsAt": "...Z", "endsAt": "...Z", "generatorURL": "..."}]

Alertmanager then owns grouping, routing, silences, inhibition and its receivers; what it needs from us
is the state of each alert, re-posted while it lasts (Prometheus re-sends every ``resend_delay``, 1m):

- A firing alert is posted without ``endsAt`` (or, with ``valid_for``, with ``endsAt`` that far ahead, as
  Prometheus does with four times its resend interval). Alertmanager treats it as firing until
  ``resolve_timeout`` (5m by default) after it last heard of it (or until that ``endsAt``), then resolves
  it by itself: **keep posting firing alerts more often than that**, whatever the group's
  ``repeat_interval``.
- A resolved alert is posted with its ``endsAt`` in the past: Alertmanager marks it resolved and sends
  its receivers a resolved notification (with ``send_resolved``) at the group's next flush.

Alertmanager identifies an alert by its labels (their fingerprint), so posting the same labels again
updates the same alert. Its first notification of a new group comes ``group_wait`` after the post, or at
once when the alert's ``startsAt`` is already more than ``group_wait`` in the past (its dispatcher's
rule, seen with Alertmanager 0.25 in tests/integration/test_alert_notifiers.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from sharedconfig.clock import Clock
from sharedconfig.monitoring.alerts.model import go_time
from sharedconfig.monitoring.alerts.notifiers._base import (
    DEFAULT_TIMEOUT,
    DeliveredNotifier,
    HttpPoster,
    NotifierContext,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime, timedelta

    from sharedconfig.config.policies import CircuitBreakerSettings, RetrySettings
    from sharedconfig.monitoring.alerts.model import Alert, Notification

__all__ = ["API_PATH", "AlertmanagerSettings", "alertmanager_alerts", "alertmanager_notifier", "build"]

API_PATH = "/api/v2/alerts"
"""Where alerts are posted, below the Alertmanager's base URL."""


class AlertmanagerSettings(Protocol):
    """What the notifier reads from ``monitoring.alerts.notifications[*]`` of ``type: alertmanager``."""

    @property
    def endpoint(self) -> str: ...
    @property
    def timeout(self) -> timedelta: ...
    @property
    def retry(self) -> RetrySettings: ...
    @property
    def circuit_breaker(self) -> CircuitBreakerSettings: ...


def _postable(alert: Alert, until: datetime | None) -> dict[str, object]:
    posted: dict[str, object] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": go_time(alert.starts_at),
    }
    ends = alert.ends_at if alert.ends_at is not None else until
    if ends is not None:
        posted["endsAt"] = go_time(ends)
    posted["generatorURL"] = alert.generator_url
    return posted


def alertmanager_alerts(
    alerts: Iterable[Alert], *, now: datetime, valid_for: timedelta | None = None
) -> list[dict[str, object]]:
    """The ``POST /api/v2/alerts`` body: each alert's labels, annotations, ``startsAt``, ``endsAt`` (its end;
    for a firing one ``now + valid_for``, or none at all without ``valid_for``) and ``generatorURL``."""
    until = now + valid_for if valid_for is not None else None
    return [_postable(alert, until) for alert in alerts]


def _api_url(endpoint: str) -> str:
    return endpoint.rstrip("/") + API_PATH


def alertmanager_notifier(
    endpoint: str,
    *,
    valid_for: timedelta | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetrySettings | None = None,
    breaker: CircuitBreakerSettings | None = None,
    ctx: NotifierContext | None = None,
) -> DeliveredNotifier[bytes]:
    """A notifier POSTing a notification's alerts to ``<endpoint>/api/v2/alerts``.

    The group, receiver and group key of the notification are not sent: Alertmanager groups by its own
    ``route``. ``valid_for`` sets ``endsAt`` of firing alerts (None: Alertmanager's ``resolve_timeout``).
    """
    ctx = ctx or NotifierContext()
    name = ctx.name or "alertmanager"
    clock: Clock = ctx.clock
    # not a secret, but user info in it would be: the poster scrubs the URL from every message
    sender = HttpPoster(name, SecretStr(_api_url(endpoint)), timeout=timeout, client=ctx.client, clock=clock)
    delivery = ctx.delivery(name, "alertmanager", sender, retry=retry, breaker=breaker, redact=sender.secrets)

    def encode(notification: Notification) -> bytes:
        body = alertmanager_alerts(notification.alerts, now=clock.wall(), valid_for=valid_for)
        return json.dumps(body, ensure_ascii=False).encode()

    return DeliveredNotifier(name, "alertmanager", encode, delivery)


def build(settings: AlertmanagerSettings, ctx: NotifierContext) -> DeliveredNotifier[bytes]:
    """The ``alertmanager`` notifier from its settings."""
    return alertmanager_notifier(
        settings.endpoint,
        timeout=settings.timeout.total_seconds(),
        retry=settings.retry,
        breaker=settings.circuit_breaker,
        ctx=ctx,
    )
