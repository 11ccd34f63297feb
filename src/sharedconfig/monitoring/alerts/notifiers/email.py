"""The ``email`` notifier: one message per notification over SMTP, a text and an HTML body.

``compose`` writes the message: ``Subject`` is Alertmanager's default (``[FIRING:2] HighErrorRate
(api critical)``), the body ``multipart/alternative`` with a ``text/plain`` and a ``text/html`` part
listing the firing, then the resolved alerts (name, summary, description, other annotations, labels,
start, end, runbook and source links). ``SmtpSender`` sends it with the standard library's ``smtplib``
in a worker thread (``sharedconfig.clock.to_thread``), one connection per message.

TLS, as Alertmanager does it: with ``use_tls`` (the default) port 465 speaks TLS from the first byte
(SMTPS) and any other port must offer STARTTLS, which is then used (a server without it is refused,
never fallen back from); ``use_tls: false`` sends in plain text. Certificates are verified against
the system's CAs (or the ``ssl_context`` given). With a ``username``, ``AUTH`` follows (after TLS).

Answers: a 4xx reply, a dropped connection or a timeout is retried; a 5xx reply (a refused sender, every
recipient refused, failed authentication), a server without STARTTLS or a bad certificate is final.
Recipients refused while others were accepted are logged, and the message counts as sent.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Final, Protocol

from sharedconfig.clock import SYSTEM_CLOCK, Clock, to_thread
from sharedconfig.delivery import DeliveryError, SecretLike
from sharedconfig.monitoring.alerts.notifiers._base import (
    COMPONENT,
    DEFAULT_TIMEOUT,
    DeliveredNotifier,
    NotifierContext,
    Outgoing,
)
from sharedconfig.monitoring.alerts.notifiers._text import details, runbook, title
from sharedconfig.redaction import hide
from sharedconfig.stdlog import StdlibLogger

if TYPE_CHECKING:
    from datetime import timedelta

    from pydantic import SecretStr

    from sharedconfig.config.policies import CircuitBreakerSettings, RetrySettings
    from sharedconfig.interfaces import Logger
    from sharedconfig.monitoring.alerts.model import Alert, Notification

__all__ = ["SMTPS_PORT", "EmailSettings", "SmtpSender", "build", "compose", "email_notifier"]

SMTPS_PORT: Final = 465
"""The port on which TLS starts at once (SMTPS) instead of by STARTTLS."""

Connect = Callable[[str, int, float, "ssl.SSLContext | None"], smtplib.SMTP]
"""Opens a connection: ``(host, port, timeout, context)``; a context means TLS from the first byte."""


class EmailSettings(Protocol):
    """What the notifier reads from ``monitoring.alerts.notifications[*]`` of ``type: email``."""

    @property
    def smtp_host(self) -> str: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def from_(self) -> str: ...
    @property
    def to(self) -> tuple[str, ...]: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> SecretStr | None: ...
    @property
    def use_tls(self) -> bool: ...
    @property
    def timeout(self) -> timedelta: ...
    @property
    def retry(self) -> RetrySettings: ...
    @property
    def circuit_breaker(self) -> CircuitBreakerSettings: ...


# -- the message ----------------------------------------------------------------------------------------


def _links(alert: Alert) -> list[tuple[str, str]]:
    found = [("Runbook", runbook(alert))] if runbook(alert) else []
    return found + ([("Source", alert.generator_url)] if alert.generator_url else [])


def _text(notification: Notification) -> str:
    lines = [title(notification), ""]
    for heading, alerts in (("Firing", notification.firing), ("Resolved", notification.resolved)):
        if not alerts:
            continue
        lines += [f"{heading} ({len(alerts)})", ""]
        for alert in alerts:
            lines.append(f"- {alert.name or alert.fingerprint}")
            lines += [f"  {name}: {text}" for name, text in details(alert) + _links(alert)]
            lines.append("")
    if notification.truncated_alerts:
        lines += [f"{notification.truncated_alerts} more alert(s) not shown.", ""]
    if notification.external_url:
        lines += [f"Sent by {notification.external_url}", ""]
    return "\n".join(lines)


def _html(notification: Notification) -> str:
    e = html.escape
    colours = {"Firing": "#d93025", "Resolved": "#188038"}
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head>',
        '<body style="font-family: sans-serif">',
        f"<h2>{e(title(notification))}</h2>",
    ]
    for heading, alerts in (("Firing", notification.firing), ("Resolved", notification.resolved)):
        if not alerts:
            continue
        parts.append(f'<h3 style="color: {colours[heading]}">{heading} ({len(alerts)})</h3>')
        for alert in alerts:
            parts.append(f"<h4>{e(alert.name or alert.fingerprint)}</h4>")
            parts.append('<table cellpadding="4">')
            parts += [
                f'<tr><th align="left">{e(name)}</th><td>{e(text)}</td></tr>' for name, text in details(alert)
            ]
            parts += [
                f'<tr><th align="left">{e(name)}</th><td><a href="{e(url)}">{e(url)}</a></td></tr>'
                for name, url in _links(alert)
            ]
            parts.append("</table>")
    if notification.truncated_alerts:
        parts.append(f"<p>{notification.truncated_alerts} more alert(s) not shown.</p>")
    if notification.external_url:
        url = e(notification.external_url)
        parts.append(f'<p>Sent by <a href="{url}">{url}</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def compose(
    notification: Notification, *, sender: str, recipients: Sequence[str], clock: Clock = SYSTEM_CLOCK
) -> EmailMessage:
    """The message for ``notification``: headers (``Subject``, ``From``, ``To``, ``Date``, ``Message-ID``)
    and a ``multipart/alternative`` body of a text and an HTML part."""
    message = EmailMessage()
    message["Subject"] = title(notification)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(clock.wall())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(_text(notification))
    message.add_alternative(_html(notification), subtype="html")
    return message


# -- the sender -----------------------------------------------------------------------------------------


def _reply(text: bytes | str) -> str:
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def _connect(host: str, port: int, timeout: float, context: ssl.SSLContext | None) -> smtplib.SMTP:
    if context is not None:
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    return smtplib.SMTP(host, port, timeout=timeout)


class SmtpSender:
    """Sends one ``EmailMessage`` per call over SMTP (see the module docstring for TLS and answers).

    ``connect`` opens the connection (tests pass a double of ``smtplib.SMTP``); it runs, as the whole
    exchange does, in a worker thread, so the event loop never waits on the network.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: SecretLike | None = None,
        use_tls: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        connect: Connect = _connect,
        logger: Logger | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if not recipients:
            raise ValueError("an email notifier needs at least one recipient")
        if password is not None and not username:
            raise ValueError("a password without a username: AUTH needs both")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.use_tls = use_tls
        self.timeout = timeout
        self._username = username
        self._password = password
        self._context = ssl_context
        self._connect = connect
        self._logger = logger or StdlibLogger("sharedconfig.monitoring.alerts").bind(notifier=name)
        self.secrets: tuple[SecretLike, ...] = (password,) if password is not None else ()
        """Every value that must never be shown (the delivery's ``redact``)."""

    @property
    def implicit_tls(self) -> bool:
        """Whether TLS starts with the connection (``use_tls`` on port 465) rather than by STARTTLS."""
        return self.use_tls and self.port == SMTPS_PORT

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _error(self, message: str, *, retryable: bool, status: int | None = None) -> DeliveryError:
        text = hide(f"{self.name}: {message} (SMTP {self.host}:{self.port})", self.secrets)
        return DeliveryError(
            text, retryable=retryable, status=status, component=COMPONENT, operation=f"notify:{self.name}"
        )

    def _exchange(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        context = self._tls() if self.implicit_tls else None
        with self._connect(self.host, self.port, self.timeout, context) as smtp:
            smtp.ehlo()
            if self.use_tls and not self.implicit_tls:
                if not smtp.has_extn("starttls"):
                    raise self._error(
                        "the server does not offer STARTTLS and use_tls is on: not sending in plain text",
                        retryable=False,
                    )
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if self._username:
                password = self._password.get_secret_value() if self._password is not None else ""
                smtp.login(self._username, password)
            return smtp.send_message(message, from_addr=self.sender, to_addrs=list(self.recipients))

    def _send(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        try:
            return self._exchange(message)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
            codes = [code for code, _ in exc.recipients.values()]
            shown = "; ".join(f"{to}: {code} {_reply(reply)}" for to, (code, reply) in exc.recipients.items())
            raise self._error(
                f"every recipient refused: {shown}", retryable=all(400 <= c < 500 for c in codes)
            ) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, AUTH failed, data refused, ...
            raise self._error(
                f"{type(exc).__name__}: {exc.smtp_code} {_reply(exc.smtp_error)}",
                retryable=400 <= exc.smtp_code < 500,
            ) from None
        except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
            raise self._error(f"{type(exc).__name__}: {exc}", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timed out, TLS broken
            raise self._error(f"{type(exc).__name__}: {exc}", retryable=True) from None

    async def send(self, payload: Outgoing[EmailMessage]) -> None:
        """Send ``payload.content`` once, in a worker thread; raise ``DeliveryError`` if it was not taken."""
        refused = await to_thread(lambda: self._send(payload.content))
        if refused:  # some recipients took it: not retried (the others would get it twice), but told
            self._logger.warning(
                "some recipients refused the alert email",
                refused=", ".join(f"{to} ({code})" for to, (code, _) in sorted(refused.items())),
            )

    def __repr__(self) -> str:
        tls = "smtps" if self.implicit_tls else "starttls" if self.use_tls else "plain"
        return f"SmtpSender({self.name!r}, {self.host}:{self.port}, tls={tls!r})"


def email_notifier(
    host: str,
    port: int,
    *,
    sender: str,
    recipients: Sequence[str],
    username: str | None = None,
    password: SecretLike | None = None,
    use_tls: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    connect: Connect = _connect,
    retry: RetrySettings | None = None,
    breaker: CircuitBreakerSettings | None = None,
    ctx: NotifierContext | None = None,
) -> DeliveredNotifier[EmailMessage]:
    """A notifier mailing ``compose``'d messages from ``sender`` to ``recipients`` through a ``Delivery``."""
    ctx = ctx or NotifierContext()
    name = ctx.name or "email"
    logger = (ctx.logger or StdlibLogger("sharedconfig.monitoring.alerts")).bind(notifier=name)
    smtp = SmtpSender(
        name,
        host,
        port,
        sender=sender,
        recipients=recipients,
        username=username,
        password=password,
        use_tls=use_tls,
        timeout=timeout,
        ssl_context=ssl_context,
        connect=connect,
        logger=logger,
    )
    delivery = ctx.delivery(name, "email", smtp, retry=retry, breaker=breaker, redact=smtp.secrets)
    clock = ctx.clock

    def encode(notification: Notification) -> EmailMessage:
        return compose(notification, sender=sender, recipients=recipients, clock=clock)

    return DeliveredNotifier(name, "email", encode, delivery)


def build(settings: EmailSettings, ctx: NotifierContext) -> DeliveredNotifier[EmailMessage]:
    """The ``email`` notifier from its settings."""
    return email_notifier(
        settings.smtp_host,
        settings.smtp_port,
        sender=settings.from_,
        recipients=settings.to,
        username=settings.username,
        password=settings.password,
        use_tls=settings.use_tls,
        timeout=settings.timeout.total_seconds(),
        retry=settings.retry,
        breaker=settings.circuit_breaker,
        ctx=ctx,
    )
