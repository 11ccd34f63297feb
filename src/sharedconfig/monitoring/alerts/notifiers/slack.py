"""The ``slack`` notifier: a Slack incoming-webhook message in Block Kit, one section per alert.

The message (``slack_message``)::

    {"channel": "#alerts",                       only when the settings name one
     "text": "[FIRING:2] HighErrorRate (api)",   the fallback shown in notifications and old clients
     "blocks": [
       {"type": "header", "text": {"type": "plain_text", "text": "[FIRING:2] HighErrorRate (api)"}},
       {"type": "section", "text": {"type": "mrkdwn", "text": ":red_circle: *HighErrorRate* firing\\n
           *Summary:* ...\\n*Labels:* `instance=a` `severity=critical`\\n*Started:* ...\\n
           <https://runbooks/high-errors|:book: Runbook>  <http://prom/graph?...|Source>"}},
       ... one section per alert, then
       {"type": "context", "elements": [{"type": "mrkdwn", "text": "3 more alerts not shown"}]}]}

Block Kit's limits are kept: a header of at most 150 characters, sections of at most 3,000, at most
50 blocks (so 48 alerts; the rest are counted in the closing context block, with ``truncatedAlerts``).
Text is escaped as Slack asks (``&``, ``<``, ``>``). The webhook URL is a secret: never logged, and
scrubbed from every error (only ``https://hooks.slack.com`` is ever named).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final, Protocol

from pydantic import SecretStr

from sharedconfig.monitoring.alerts.notifiers._base import (
    DEFAULT_TIMEOUT,
    DeliveredNotifier,
    HttpPoster,
    NotifierContext,
)
from sharedconfig.monitoring.alerts.notifiers._text import details, runbook, title

if TYPE_CHECKING:
    from datetime import timedelta

    from sharedconfig.config.policies import CircuitBreakerSettings, RetrySettings
    from sharedconfig.delivery import SecretLike
    from sharedconfig.monitoring.alerts.model import Alert, Notification

__all__ = [
    "MAX_BLOCKS",
    "MAX_HEADER",
    "MAX_SECTION",
    "SlackSettings",
    "build",
    "slack_message",
    "slack_notifier",
]

MAX_BLOCKS: Final = 50
"""Blocks Slack accepts in one message."""

MAX_HEADER: Final = 150
"""Characters of a header block's text."""

MAX_SECTION: Final = 3000
"""Characters of a section block's text."""

_EMOJI: Final = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}


class SlackSettings(Protocol):
    """What the notifier reads from ``monitoring.alerts.notifications[*]`` of ``type: slack``."""

    @property
    def webhook_url(self) -> SecretStr: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def timeout(self) -> timedelta: ...
    @property
    def retry(self) -> RetrySettings: ...
    @property
    def circuit_breaker(self) -> CircuitBreakerSettings: ...


def _escape(text: str) -> str:
    """Slack's mrkdwn escaping: the three characters that start markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    # inside <url|label> a "|" or ">" would end the URL early: percent-encode them
    return f"<{url.replace('|', '%7C').replace('>', '%3E').replace('<', '%3C')}|{label}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(alert: Alert) -> dict[str, object]:
    status = "resolved" if alert.ends_at is not None else "firing"
    lines = [f"{_EMOJI[status]} *{_escape(alert.name or alert.fingerprint)}* {status}"]
    for heading, text in details(alert):
        if heading == "Labels":
            pairs = (f"{name}={value}" for name, value in alert.labels if name != "alertname")
            shown = " ".join(f"`{_escape(pair)}`" for pair in pairs)
        else:
            shown = _escape(text)
        lines.append(f"*{_escape(heading)}:* {shown}")
    links = []
    if found := runbook(alert):
        links.append(_link(found, ":book: Runbook"))
    if alert.generator_url:
        links.append(_link(alert.generator_url, "Source"))
    body = "\n".join(lines)
    tail = ("\n" + "  ".join(links)) if links else ""
    # the links matter most to whoever is paged: clip the text, never them
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _clip(body, MAX_SECTION - len(tail)) + tail},
    }


def slack_message(notification: Notification, *, channel: str | None = None) -> dict[str, object]:
    """The incoming-webhook message for ``notification`` (JSON-ready; see the module docstring)."""
    heading = title(notification)
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(heading, MAX_HEADER), "emoji": True}}
    ]
    shown = notification.alerts
    if notification.truncated_alerts or len(shown) > MAX_BLOCKS - 1:
        shown = shown[: MAX_BLOCKS - 2]  # room for the header and the context block saying what is left out
    blocks += [_section(alert) for alert in shown]
    left_out = len(notification.alerts) - len(shown) + notification.truncated_alerts
    if left_out:
        more = f"{left_out} more alert{'s' if left_out != 1 else ''} not shown"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    message: dict[str, object] = {}
    if channel:
        message["channel"] = channel
    message["text"] = heading
    message["blocks"] = blocks
    return message


def slack_notifier(
    webhook_url: str | SecretLike,
    *,
    channel: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetrySettings | None = None,
    breaker: CircuitBreakerSettings | None = None,
    ctx: NotifierContext | None = None,
) -> DeliveredNotifier[bytes]:
    """A notifier posting ``slack_message`` to ``webhook_url`` (kept secret) through a ``Delivery``."""
    ctx = ctx or NotifierContext()
    name = ctx.name or "slack"
    url = SecretStr(webhook_url) if isinstance(webhook_url, str) else webhook_url
    sender = HttpPoster(name, url, timeout=timeout, client=ctx.client, clock=ctx.clock)
    delivery = ctx.delivery(name, "slack", sender, retry=retry, breaker=breaker, redact=sender.secrets)

    def encode(notification: Notification) -> bytes:
        return json.dumps(slack_message(notification, channel=channel), ensure_ascii=False).encode()

    return DeliveredNotifier(name, "slack", encode, delivery)


def build(settings: SlackSettings, ctx: NotifierContext) -> DeliveredNotifier[bytes]:
    """The ``slack`` notifier from its settings."""
    return slack_notifier(
        settings.webhook_url,
        channel=settings.channel,
        timeout=settings.timeout.total_seconds(),
        retry=settings.retry,
        breaker=settings.circuit_breaker,
        ctx=ctx,
    )
