"""The ``webhook`` notifier: Alertmanager's webhook message, version 4, POSTed as JSON.

The body is ``model.webhook_payload`` (``version``, ``groupKey``, ``truncatedAlerts``, ``status``,
``receiver``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``, ``alerts[]``
with ``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``,
``fingerprint``), keys in Alertmanager's order, so receivers written for Alertmanager work unchanged.
``max_alerts`` keeps the first alerts and counts the rest in ``truncatedAlerts``, as Alertmanager's
``webhook_config.max_alerts`` does.

Authentication: ``headers`` (secret values, e.g. ``Authorization: Bearer ${TOKEN}`` or ``Basic ...``),
and with ``secret`` each request is signed as the events webhook signs (``X-Sharedconfig-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``), which
``sharedconfig.monitoring.events.channels.webhook.verify`` checks on the receiving side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from sharedconfig.monitoring.alerts.model import webhook_payload
from sharedconfig.monitoring.alerts.notifiers._base import (
    DEFAULT_TIMEOUT,
    DeliveredNotifier,
    HttpPoster,
    NotifierContext,
)

if TYPE_CHECKING:
    from datetime import timedelta

    from sharedconfig.config.policies import CircuitBreakerSettings, RetrySettings
    from sharedconfig.delivery import SecretLike
    from sharedconfig.monitoring.alerts.model import Notification

__all__ = ["WebhookSettings", "build", "webhook_body", "webhook_notifier"]


class WebhookSettings(Protocol):
    """What the notifier reads from ``monitoring.alerts.notifications[*]`` of ``type: webhook``."""

    @property
    def url(self) -> SecretStr: ...
    @property
    def headers(self) -> Mapping[str, SecretStr]: ...
    @property
    def secret(self) -> SecretStr | None: ...
    @property
    def max_alerts(self) -> int: ...
    @property
    def timeout(self) -> timedelta: ...
    @property
    def retry(self) -> RetrySettings: ...
    @property
    def circuit_breaker(self) -> CircuitBreakerSettings: ...


def webhook_body(notification: Notification, *, max_alerts: int = 0) -> bytes:
    """The request body: the version 4 message of ``notification``, cut to ``max_alerts`` (0: all)."""
    return json.dumps(webhook_payload(notification.truncate(max_alerts)), ensure_ascii=False).encode()


def _secret(value: str | SecretLike) -> SecretLike:
    return SecretStr(value) if isinstance(value, str) else value


def webhook_notifier(
    url: str | SecretLike,
    *,
    headers: Mapping[str, str | SecretLike] | None = None,
    secret: str | SecretLike | None = None,
    max_alerts: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetrySettings | None = None,
    breaker: CircuitBreakerSettings | None = None,
    ctx: NotifierContext | None = None,
) -> DeliveredNotifier[bytes]:
    """A notifier POSTing ``webhook_body`` to ``url``; the URL, header values and secret are kept secret."""
    if max_alerts < 0:
        raise ValueError("max_alerts must be 0 (all) or more")
    ctx = ctx or NotifierContext()
    name = ctx.name or "webhook"
    sender = HttpPoster(
        name,
        _secret(url),
        headers={k: _secret(v) for k, v in (headers or {}).items()},
        secret=_secret(secret) if secret is not None else None,
        timeout=timeout,
        client=ctx.client,
        clock=ctx.clock,
    )
    delivery = ctx.delivery(name, "webhook", sender, retry=retry, breaker=breaker, redact=sender.secrets)
    return DeliveredNotifier(name, "webhook", lambda n: webhook_body(n, max_alerts=max_alerts), delivery)


def build(settings: WebhookSettings, ctx: NotifierContext) -> DeliveredNotifier[bytes]:
    """The ``webhook`` notifier from its settings."""
    return webhook_notifier(
        settings.url,
        headers=dict(settings.headers),
        secret=settings.secret,
        max_alerts=settings.max_alerts,
        timeout=settings.timeout.total_seconds(),
        retry=settings.retry,
        breaker=settings.circuit_breaker,
        ctx=ctx,
    )
