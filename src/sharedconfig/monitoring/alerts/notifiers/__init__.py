"""Notifiers: where alert notifications go — ``slack``, ``email``, ``webhook`` and ``alertmanager``.

Each is a ``DeliveredNotifier``: an encoder (notification to payload) and a sender composed by
``sharedconfig.delivery.Delivery`` with the settings' ``retry`` policy and ``circuit_breaker``.
``await notifier.notify(notification)`` returns once the destination took it and raises
``DeliveryError`` (``DELIVERY_001``) when it gave up, after logging why (``delivery failed``, with
``notifier``, ``type``, ``attempts``, ``status``; secrets scrubbed). The dispatcher counts each failed
notification (``alert_notifications_failed_total{receiver}``) and tries again at the next interval;
the breaker's state is the gauge ``circuit_breaker_state{name, component="alerts"}``.

``build_notifier(settings, ...)`` builds one from an entry of ``monitoring.alerts.notifications``; the
``*_notifier`` functions of each module build one from plain arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.monitoring.alerts.notifiers import alertmanager, email, slack, webhook
from sharedconfig.monitoring.alerts.notifiers._base import DeliveredNotifier, HttpPoster, NotifierContext
from sharedconfig.monitoring.alerts.notifiers._text import title
from sharedconfig.monitoring.alerts.notifiers.alertmanager import alertmanager_alerts, alertmanager_notifier
from sharedconfig.monitoring.alerts.notifiers.email import SmtpSender, compose, email_notifier
from sharedconfig.monitoring.alerts.notifiers.slack import slack_message, slack_notifier
from sharedconfig.monitoring.alerts.notifiers.webhook import webhook_body, webhook_notifier

if TYPE_CHECKING:
    from email.message import EmailMessage

    import httpx

    from sharedconfig.interfaces import Logger, MetricsRecorder

__all__ = [
    "KINDS",
    "DeliveredNotifier",
    "HttpPoster",
    "NotifierContext",
    "SmtpSender",
    "alertmanager_alerts",
    "alertmanager_notifier",
    "build_notifier",
    "compose",
    "email_notifier",
    "slack_message",
    "slack_notifier",
    "title",
    "webhook_body",
    "webhook_notifier",
]

KINDS = ("slack", "email", "webhook", "alertmanager")
"""The notifier types ``build_notifier`` knows (the ``type`` of a notification entry)."""


class _Slack(slack.SlackSettings, Protocol):
    @property
    def type(self) -> Literal["slack"]: ...


class _Email(email.EmailSettings, Protocol):
    @property
    def type(self) -> Literal["email"]: ...


class _Webhook(webhook.WebhookSettings, Protocol):
    @property
    def type(self) -> Literal["webhook"]: ...


class _Alertmanager(alertmanager.AlertmanagerSettings, Protocol):
    @property
    def type(self) -> Literal["alertmanager"]: ...


NotifierSettingsLike = _Slack | _Email | _Webhook | _Alertmanager
"""An entry of ``monitoring.alerts.notifications`` (``monitoring.settings.NotifierSettings``) as read here."""


def build_notifier(
    settings: NotifierSettingsLike,
    *,
    name: str = "",
    clock: Clock = SYSTEM_CLOCK,
    metrics: MetricsRecorder | None = None,
    logger: Logger | None = None,
    client: httpx.AsyncClient | None = None,
) -> DeliveredNotifier[bytes] | DeliveredNotifier[EmailMessage]:
    """The notifier ``settings`` describe, named ``name`` (default: its type) in metrics and logs.

    ``metrics`` records the breaker's state; ``logger`` gets every failure (bound ``notifier=<name>``,
    ``type``); ``client`` is an HTTP client to use (never closed here).
    """
    ctx = NotifierContext(name or settings.type, clock, metrics, logger, client)
    if settings.type == "slack":
        return slack.build(settings, ctx)
    if settings.type == "email":
        return email.build(settings, ctx)
    if settings.type == "webhook":
        return webhook.build(settings, ctx)
    return alertmanager.build(settings, ctx)
