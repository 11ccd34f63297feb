"""The email notifier: Alertmanager's subject, the text and HTML parts, and the SMTP exchange (TLS modes,
AUTH, which replies are retried) against a double of smtplib.SMTP run in the worker thread."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import SecretStr

from sharedconfig.delivery import DeliveryError
from sharedconfig.monitoring.alerts.model import Alert, Notification
from sharedconfig.monitoring.alerts.notifiers import (
    NotifierContext,
    build_notifier,
    compose,
    email_notifier,
    title,
)
from sharedconfig.monitoring.settings import EmailNotifierSettings
from sharedconfig.testing import FakeClock, RecordingLogger

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PASSWORD = "smtp-canary-pass-93d1"


def alert(instance: str, *, ended: bool = False, **annotations: str) -> Alert:
    """A HighErrorRate alert of job api, severity critical, on ``instance``."""
    return Alert(
        {"alertname": "HighErrorRate", "job": "api", "severity": "critical", "instance": instance},
        T0,
        annotations,
        ends_at=T0 + timedelta(minutes=5) if ended else None,
    )


def group(
    *alerts: Alert, by: tuple[tuple[str, str], ...] = (("alertname", "HighErrorRate"),)
) -> Notification:
    """The notification of ``alerts`` grouped ``by``."""
    return Notification("team", "{}:{}", by, alerts, "http://sc:8080")


class TestSubject:
    def test_alertmanagers_default(self) -> None:
        """[FIRING:<n>] group values (values of the other common labels), each in label-name order."""
        assert (
            title(group(alert("a"), alert("b"), alert("c", ended=True)))
            == "[FIRING:2] HighErrorRate (api critical)"
        )

    def test_resolved_and_no_parenthesis(self) -> None:
        """RESOLVED has no count; when only group labels are common nothing is in parentheses."""
        one = Alert({"alertname": "A", "x": "1"}, T0, ends_at=T0)
        two = Alert({"alertname": "A", "x": "2"}, T0, ends_at=T0)
        assert title(group(one, two, by=(("alertname", "A"),))) == "[RESOLVED] A"
        assert title(group(alert("a"), by=())) == "[FIRING:1]  (HighErrorRate a api critical)".replace(
            "  ", " "
        )


class TestMessage:
    def test_parts_and_headers(self) -> None:
        """Subject, From, To, Date at the clock's time, a Message-ID, and a multipart/alternative body of a
        text/plain and a text/html part that both list each alert with its runbook link."""
        notification = group(
            alert("a", summary="5% <errors>", runbook_url="https://runbooks/e?a=1&b=2"),
            alert("b", ended=True),
        )
        message = compose(
            notification,
            sender="alerts@example.com",
            recipients=["a@x.org", "b@x.org"],
            clock=FakeClock(epoch=T0),
        )
        assert message["Subject"] == "[FIRING:1] HighErrorRate (api critical)"
        assert message["From"] == "alerts@example.com"
        assert message["To"] == "a@x.org, b@x.org"
        assert message["Date"] == "Mon, 07 Dec 2026 12:00:00 +0000"
        assert message["Message-ID"].endswith("@example.com>")
        assert message.get_content_type() == "multipart/alternative"
        text, html = message.iter_parts()
        assert text.get_content_type() == "text/plain"
        assert html.get_content_type() == "text/html"
        plain = text.get_content()
        assert "Firing (1)\n\n- HighErrorRate\n  Summary: 5% <errors>\n" in plain
        assert "  Labels: instance=a job=api severity=critical\n" in plain
        assert "  Runbook: https://runbooks/e?a=1&b=2\n" in plain
        assert "Resolved (1)\n\n- HighErrorRate\n" in plain
        assert "  Ended: 2026-12-07T12:05:00Z\n" in plain
        page = html.get_content()
        assert "<td>5% &lt;errors&gt;</td>" in page
        assert '<a href="https://runbooks/e?a=1&amp;b=2">' in page
        assert '<a href="http://sc:8080">' in page


@dataclass
class FakeSmtp:
    """Stands in for smtplib.SMTP: records each call; ``fail`` maps a method name to what it raises."""

    host: str
    port: int
    timeout: float
    context: ssl.SSLContext | None
    extensions: tuple[str, ...] = ("starttls", "auth")
    fail: dict[str, BaseException] = field(default_factory=dict)
    refused: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def __enter__(self) -> FakeSmtp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("quit", None))

    def _call(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if name in self.fail:
            raise self.fail[name]

    def ehlo(self) -> None:
        self._call("ehlo")

    def has_extn(self, name: str) -> bool:
        return name in self.extensions

    def starttls(self, context: ssl.SSLContext | None = None) -> None:
        self._call("starttls", context)

    def login(self, user: str, password: str) -> None:
        self._call("login", (user, password))

    def send_message(
        self, message: EmailMessage, from_addr: str, to_addrs: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        self._call("send_message", (message["Subject"], from_addr, tuple(to_addrs)))
        return self.refused


class Server:
    """The connections a notifier opened, each a ``FakeSmtp`` made with ``options``."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.opened: list[FakeSmtp] = []

    def connect(self, host: str, port: int, timeout: float, context: ssl.SSLContext | None) -> Any:
        smtp = FakeSmtp(host, port, timeout, context, **self.options)
        self.opened.append(smtp)
        return smtp


def send(
    server: Server, *, port: int = 587, logger: RecordingLogger | None = None, **options: Any
) -> FakeClock:
    """Notify once through an email notifier connected to ``server``; the clock used."""
    clock = FakeClock(epoch=T0)
    context = ssl.create_default_context()
    notifier = email_notifier(
        "smtp.example.com",
        port,
        sender="alerts@example.com",
        recipients=["oncall@example.com"],
        ssl_context=context,
        connect=server.connect,
        ctx=NotifierContext(clock=clock, logger=logger),
        **options,
    )
    clock.run(notifier.notify(group(alert("a"))))
    return clock


def names(smtp: FakeSmtp) -> list[str]:
    """The calls made on one connection, by name."""
    return [name for name, _ in smtp.calls]


class TestSmtp:
    def test_starttls_then_auth(self) -> None:
        """On 587 with use_tls: EHLO, STARTTLS (the given context), EHLO again, AUTH, then the message."""
        server = Server()
        send(server, username="bot", password=SecretStr(PASSWORD))
        (smtp,) = server.opened
        assert (smtp.host, smtp.port, smtp.timeout, smtp.context) == ("smtp.example.com", 587, 10.0, None)
        assert names(smtp) == ["ehlo", "starttls", "ehlo", "login", "send_message", "quit"]
        assert isinstance(smtp.calls[1][1], ssl.SSLContext)
        assert smtp.calls[3] == ("login", ("bot", PASSWORD))
        assert smtp.calls[4][1] == (
            "[FIRING:1] HighErrorRate (a api critical)",
            "alerts@example.com",
            ("oncall@example.com",),
        )

    def test_port_465_is_implicit_tls(self) -> None:
        """On 465 TLS starts with the connection (SMTPS): a context at connect, no STARTTLS."""
        server = Server()
        send(server, port=465)
        (smtp,) = server.opened
        assert isinstance(smtp.context, ssl.SSLContext)
        assert names(smtp) == ["ehlo", "send_message", "quit"]

    def test_plain(self) -> None:
        """use_tls false: no TLS at all (the test servers' way), even when offered."""
        server = Server()
        send(server, use_tls=False)
        assert names(server.opened[0]) == ["ehlo", "send_message", "quit"]

    def test_no_starttls_offered_is_refused(self) -> None:
        """With use_tls a server without STARTTLS gets nothing: a final error, no plain-text fallback."""
        server = Server(extensions=("auth",))
        with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
            send(server)
        assert len(server.opened) == 1
        assert "send_message" not in names(server.opened[0])

    @pytest.mark.parametrize(
        ("error", "attempts"),
        [
            (smtplib.SMTPDataError(451, b"try later"), 3),
            (smtplib.SMTPServerDisconnected("gone"), 3),
            (smtplib.SMTPDataError(554, b"rejected"), 1),
            (smtplib.SMTPRecipientsRefused({"oncall@example.com": (550, b"no such user")}), 1),
            (smtplib.SMTPRecipientsRefused({"oncall@example.com": (452, b"mailbox full")}), 3),
        ],
    )
    def test_which_replies_are_retried(self, error: BaseException, attempts: int) -> None:
        """4xx replies and dropped connections are retried (3 attempts by default); 5xx ones are final."""
        server = Server(fail={"send_message": error})
        with pytest.raises(DeliveryError):
            send(server)
        assert len(server.opened) == attempts

    def test_auth_failure_is_final_and_hides_the_password(self) -> None:
        """A 535 to AUTH is final, and neither the error nor the log shows the password."""
        logger = RecordingLogger()
        server = Server(fail={"login": smtplib.SMTPAuthenticationError(535, f"bad {PASSWORD}".encode())})
        with pytest.raises(DeliveryError) as caught:
            send(server, username="bot", password=SecretStr(PASSWORD), logger=logger)
        assert len(server.opened) == 1
        assert "SMTPAuthenticationError: 535 bad **********" in caught.value.message
        assert PASSWORD not in caught.value.message + repr(logger.records)

    def test_partly_refused_is_sent_and_logged(self) -> None:
        """Recipients refused while others took the message: sent (not retried), and logged."""
        logger = RecordingLogger()
        server = Server(refused={"gone@example.com": (550, b"no such user")})
        send(server, logger=logger)
        assert len(server.opened) == 1
        (record,) = [r for r in logger.records if r.level == "warning"]
        assert record.message == "some recipients refused the alert email"
        assert record.fields["refused"] == "gone@example.com (550)"

    def test_built_from_settings(self) -> None:
        """build_notifier reads host, port, from, to, credentials, use_tls and timeout from the settings."""
        settings = EmailNotifierSettings.model_validate(
            {
                "smtp_host": "smtp.example.com",
                "smtp_port": 2525,
                "from": "alerts@example.com",
                "to": ["a@example.com"],
                "username": "bot",
                "password": PASSWORD,
                "use_tls": False,
                "timeout": "3s",
            }
        )
        notifier = build_notifier(settings)
        sender = notifier.delivery.sender
        assert repr(sender) == "SmtpSender('email', smtp.example.com:2525, tls='plain')"
        assert (sender.recipients, sender.timeout) == (("a@example.com",), 3.0)  # type: ignore[attr-defined]
        assert PASSWORD not in repr(notifier)
