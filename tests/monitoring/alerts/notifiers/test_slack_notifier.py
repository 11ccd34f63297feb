"""The slack notifier: the exact Block Kit message, Slack's limits, and delivery on an httpx.MockTransport."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from sharedconfig.delivery import DeliveryError
from sharedconfig.monitoring.alerts.model import Alert, Notification
from sharedconfig.monitoring.alerts.notifiers import (
    NotifierContext,
    build_notifier,
    slack_message,
    slack_notifier,
)
from sharedconfig.monitoring.alerts.notifiers.slack import MAX_BLOCKS, MAX_HEADER, MAX_SECTION
from sharedconfig.monitoring.settings import SlackNotifierSettings
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TOKEN = "T000-canary-slack-9c1f"
URL = f"https://hooks.slack.com/services/{TOKEN}"
GROUP = (("alertname", "HighErrorRate"),)


def alert(instance: str, *, ended: bool = False, **annotations: str) -> Alert:
    """A HighErrorRate alert of job api on ``instance``, resolved 5 minutes in when ``ended``."""
    return Alert(
        {"alertname": "HighErrorRate", "job": "api", "severity": "critical", "instance": instance},
        T0,
        annotations,
        ends_at=T0 + timedelta(minutes=5) if ended else None,
    )


def notification(*alerts: Alert, truncated: int = 0) -> Notification:
    """The ``team`` receiver's notification of the HighErrorRate group."""
    return Notification("team", '{}:{alertname="HighErrorRate"}', GROUP, alerts, truncated_alerts=truncated)


class TestMessage:
    def test_exact_blocks(self) -> None:
        """A header with Alertmanager's title, one mrkdwn section per alert with its annotations, labels,
        times and runbook/source links, the channel and the text fallback."""
        firing = Alert(
            {"alertname": "HighErrorRate", "job": "api", "instance": "a"},
            T0,
            {"summary": "Errors > 10% & rising", "runbook_url": "https://runbooks/errors", "team": "core"},
            generator_url="http://prom:9090/graph?g0.expr=x",
        )
        resolved = Alert(
            {"alertname": "HighErrorRate", "job": "api", "instance": "b"},
            T0,
            {"description": "<b>gone</b>", "runbook": "https://runbooks/other"},
            ends_at=T0 + timedelta(seconds=90),
        )
        message = slack_message(notification(firing, resolved), channel="#alerts")
        assert message == {
            "channel": "#alerts",
            "text": "[FIRING:1] HighErrorRate (api)",
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": "[FIRING:1] HighErrorRate (api)", "emoji": True},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": ":red_circle: *HighErrorRate* firing\n"
                        "*Summary:* Errors &gt; 10% &amp; rising\n"
                        "*team:* core\n"
                        "*Labels:* `instance=a` `job=api`\n"
                        "*Started:* 2026-12-07T12:00:00Z\n"
                        "<https://runbooks/errors|:book: Runbook>  <http://prom:9090/graph?g0.expr=x|Source>",
                    },
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": ":large_green_circle: *HighErrorRate* resolved\n"
                        "*Description:* &lt;b&gt;gone&lt;/b&gt;\n"
                        "*Labels:* `instance=b` `job=api`\n"
                        "*Started:* 2026-12-07T12:00:00Z\n"
                        "*Ended:* 2026-12-07T12:01:30Z\n"
                        "<https://runbooks/other|:book: Runbook>",
                    },
                },
            ],
        }

    def test_no_channel_key_without_channel(self) -> None:
        """Without a channel the webhook's own channel is used: the key is left out."""
        assert "channel" not in slack_message(notification(alert("a")))

    def test_resolved_title(self) -> None:
        """A notification whose alerts all ended is titled RESOLVED, without a count."""
        assert (
            slack_message(notification(alert("a", ended=True)))["text"]
            == "[RESOLVED] HighErrorRate (a api critical)"
        )

    def test_block_limits(self) -> None:
        """60 alerts fit Slack's 50 blocks: 48 sections and a context block counting the 12 left out (plus
        the notification's own truncated alerts); a long header and a long section are clipped."""
        many = [alert(f"i{n:02d}") for n in range(60)]
        blocks = slack_message(notification(*many, truncated=3))["blocks"]
        assert isinstance(blocks, list)
        assert len(blocks) == MAX_BLOCKS
        assert blocks[-1] == {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "15 more alerts not shown"}],
        }
        long = Alert(
            {"alertname": "X" * 400, "severity": "critical"},
            T0,
            {"summary": "y" * 5000, "runbook_url": "https://runbooks/long"},
        )
        group = Notification("team", "{}:{}", (("alertname", "X" * 400),), (long,))
        header, section = slack_message(group)["blocks"]  # type: ignore[misc]
        assert len(header["text"]["text"]) == MAX_HEADER
        text = section["text"]["text"]
        assert len(text) <= MAX_SECTION
        assert text.endswith("<https://runbooks/long|:book: Runbook>"), "the runbook link survives clipping"

    def test_link_cannot_break_out(self) -> None:
        """A ``|`` or ``>`` in a runbook URL is percent-encoded, so it cannot end Slack's link early."""
        text = slack_message(notification(alert("a", runbook_url="https://r/x|y>z")))["blocks"][1]["text"][
            "text"
        ]  # type: ignore[index]
        assert text.endswith("<https://r/x%7Cy%3Ez|:book: Runbook>")


class TestDelivery:
    def test_posts_json_to_the_webhook(self) -> None:
        """The message is POSTed as JSON to the webhook URL, built from the settings (channel included)."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, text="ok")

        clock = FakeClock(epoch=T0)
        settings = SlackNotifierSettings.model_validate({"webhook_url": URL, "channel": "#ops"})
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        notifier = build_notifier(settings, clock=clock, client=client)
        clock.run(notifier.notify(notification(alert("a"))))
        (request,) = seen
        assert str(request.url) == URL
        assert request.headers["content-type"] == "application/json"
        body = json.loads(request.content)
        assert body == slack_message(notification(alert("a")), channel="#ops")
        assert notifier.name == "slack"

    def test_failure_raises_counts_and_hides_the_url(self) -> None:
        """A 500 is retried, then given up: notify raises DELIVERY_001, the failure is logged once with the
        notifier's name, type and attempts, and the webhook's token appears nowhere."""
        attempts: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            attempts.append(1)
            return httpx.Response(500, text=f"boom at {request.url}")

        clock = FakeClock(epoch=T0)
        metrics, logger = InMemoryMetricsRecorder(), RecordingLogger()
        ctx = NotifierContext(
            "pager", clock, metrics, logger, httpx.AsyncClient(transport=httpx.MockTransport(handler))
        )
        notifier = slack_notifier(SecretStr(URL), ctx=ctx)
        with pytest.raises(DeliveryError) as caught:
            clock.run(notifier.notify(notification(alert("a"))))
        assert caught.value.code == "DELIVERY_001"
        assert "HTTP 500 from https://hooks.slack.com" in caught.value.message
        assert len(attempts) == 3  # the default policy: 2 retries
        (record,) = [r for r in logger.records if r.level == "warning"]
        assert record.message == "delivery failed"
        assert {k: record.fields[k] for k in ("notifier", "type", "attempts", "status")} == {
            "notifier": "pager",
            "type": "slack",
            "attempts": 3,
            "status": 500,
        }
        assert metrics.get_metrics("alert_notifications_failed_total") == [], "the dispatcher counts, once"
        shown = repr(logger.records) + caught.value.message + str(caught.value) + repr(notifier)
        assert TOKEN not in shown

    def test_breaker_settings_apply(self) -> None:
        """A breaker forced open in the settings refuses at once: nothing is sent, the state gauge reads 4
        (forced open) for component alerts, and notify raises."""
        sent: list[httpx.Request] = []
        clock, metrics = FakeClock(epoch=T0), InMemoryMetricsRecorder()
        settings = SlackNotifierSettings.model_validate(
            {"webhook_url": URL, "circuit_breaker": {"forced_open": True}}
        )
        client = httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
        )
        notifier = build_notifier(settings, clock=clock, metrics=metrics, client=client)
        with pytest.raises(DeliveryError, match="circuit breaker is FORCED_OPEN"):
            clock.run(notifier.notify(notification(alert("a"))))
        assert sent == []
        states = metrics.get_metrics("circuit_breaker_state")
        assert [(m.value, m.labels) for m in states] == [(4.0, {"name": "slack", "component": "alerts"})]
