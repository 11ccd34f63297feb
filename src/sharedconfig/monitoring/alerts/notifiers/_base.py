"""What every notifier shares: a payload encoded once per notification and sent through ``Delivery``.

``DeliveredNotifier`` is the ``Notifier`` (``name``, ``async notify(notification)``, raising on failure)
around an encoder and a ``Delivery``; ``HttpPoster`` is the sender of the three HTTP notifiers;
``NotifierContext`` is what a factory gets: its name, time, metrics, logs and an optional HTTP client.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from sharedconfig import __version__
from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.config.policies import CircuitBreakerSettings, RetrySettings
from sharedconfig.delivery import Delivery, DeliveryError, SecretLike, Sender, Series
from sharedconfig.errors import SharedConfigError
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.events.channels.webhook import SIGNATURE_HEADER, sign
from sharedconfig.monitoring.metrics.push import LazyClient, parse_retry_after
from sharedconfig.monitoring.names import CIRCUIT_BREAKER_STATE
from sharedconfig.redaction import hide
from sharedconfig.stdlog import StdlibLogger

if TYPE_CHECKING:
    from sharedconfig.monitoring.alerts.model import Notification

__all__ = [
    "COMPONENT",
    "DEFAULT_TIMEOUT",
    "JSON",
    "DeliveredNotifier",
    "HttpPoster",
    "NotifierContext",
    "Outgoing",
    "shown_url",
]

T = TypeVar("T")

COMPONENT: Final = "alerts"
"""The ``component`` of notifier errors and of their breakers' ``circuit_breaker_state`` series."""

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds a request (or an SMTP step) may take when the settings do not say."""

JSON: Final = "application/json"

_BODY_EXCERPT = 200  # characters of an error response kept in the message


@dataclass(eq=False, slots=True)
class Outgoing(Generic[T]):
    """One notification's payload on its way; ``error`` is set when the delivery gives up on it."""

    content: T
    error: BaseException | None = None


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "not delivered"
    return error.message if isinstance(error, SharedConfigError) else f"{type(error).__name__}: {error}"


def shown_url(url: str) -> str:
    """What messages may name of a URL: scheme and host (user info, path and query may hold a token, as a
    Slack webhook URL's path does)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "", "", ""))


@dataclass(frozen=True, slots=True)
class NotifierContext:
    """What building a notifier needs besides its settings: its name, time, metrics, logs, HTTP client.

    ``name`` defaults to the settings' ``type``; ``client`` (tests pass one over ``httpx.MockTransport``)
    is used as given and never closed by the notifier.
    """

    name: str = ""
    clock: Clock = SYSTEM_CLOCK
    metrics: MetricsRecorder | None = None
    logger: Logger | None = None
    client: httpx.AsyncClient | None = None

    def delivery(
        self,
        name: str,
        kind: str,
        sender: Sender[Outgoing[T]],
        *,
        retry: RetrySettings | None = None,
        breaker: CircuitBreakerSettings | None = None,
        redact: Sequence[str | SecretLike] = (),
    ) -> Delivery[Outgoing[T]]:
        """The ``Delivery`` of notifier ``name`` of type ``kind``: the settings' retry policy and breaker
        (defaults when None), the breaker's state in ``circuit_breaker_state{name, component="alerts"}``,
        each give-up logged (``delivery failed``, bound ``notifier=name, type=kind``).

        Failures are not counted here: ``notify`` raises, and the dispatcher counts each failed
        notification once, in ``alert_notifications_failed_total{receiver}``."""

        def give_up(outgoing: Outgoing[T], error: BaseException) -> None:
            outgoing.error = error

        retry = retry or RetrySettings()  # without settings, the vocabulary's defaults, as configured ones
        breaker = breaker or CircuitBreakerSettings()

        delivery: Delivery[Outgoing[T]] = Delivery(
            name,
            sender,
            retry=retry.policy(),
            breaker=breaker.config(),
            max_in_flight=None,  # a notification per group at a time: the dispatcher bounds them
            on_give_up=give_up,
            metrics=self.metrics,
            state=Series(CIRCUIT_BREAKER_STATE, {"name": name, "component": COMPONENT}),
            logger=(self.logger or StdlibLogger("sharedconfig.monitoring.alerts")).bind(
                notifier=name, type=kind
            ),
            clock=self.clock,
            redact=redact,
        )
        breaker.apply_state(delivery.breaker)  # enabled: false / forced_open: true are states, not a window
        return delivery


class DeliveredNotifier(Generic[T]):
    """A notifier: ``encode`` turns a notification into a payload, ``delivery`` sends it.

    ``notify`` returns once the destination took the payload and raises ``DeliveryError``
    (``DELIVERY_001``, secrets scrubbed) when the delivery gave up: retries spent, an answer not worth
    retrying, the breaker open. By then the delivery has logged why; the exception tells the caller
    (the dispatcher, which counts it) that the notification did not go out, so it is not marked as sent.
    """

    def __init__(
        self, name: str, kind: str, encode: Callable[[Notification], T], delivery: Delivery[Outgoing[T]]
    ) -> None:
        self.name = name
        self.kind = kind
        self.delivery = delivery
        self._encode = encode

    async def notify(self, notification: Notification) -> None:
        """Send ``notification`` (with the delivery's retries); raise ``DeliveryError`` if it did not go."""
        try:
            outgoing = Outgoing(self._encode(notification))
        except Exception as exc:  # a bug in an encoder: counted and logged like any lost notification
            self.delivery.failed(f"{self.name}: encoding the notification failed: {_describe(exc)}")
            raise self._failed(exc) from None
        if not await self.delivery.deliver(outgoing):
            raise self._failed(outgoing.error)

    def _failed(self, error: BaseException | None) -> DeliveryError:
        status = error.status if isinstance(error, DeliveryError) else None
        return DeliveryError(
            self.delivery.scrub(f"{self.name}: notification not delivered: {_describe(error)}"),
            retryable=False,  # the delivery has retried already
            status=status,
            component=COMPONENT,
            operation=f"notify:{self.name}",
        )

    async def aclose(self) -> None:
        """Close the sender's connections (a client given by the context is left open)."""
        await self.delivery.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, sender={self.delivery.sender!r})"


class _Signature(httpx.Auth):
    """Signs each request as it leaves (a retry is signed anew), as the events webhook does."""

    def __init__(self, secret: SecretLike, clock: Clock) -> None:
        self._secret = secret
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the signature header and send."""
        timestamp = math.floor(self._clock.wall().timestamp())
        request.headers[SIGNATURE_HEADER] = sign(self._secret, request.content, timestamp)
        yield request

    def __repr__(self) -> str:
        return "_Signature(secret=SecretStr('**********'))"


class HttpPoster:
    """POSTs one JSON body (``Outgoing[bytes]``) to ``url``; ``DeliveryError`` unless the answer is 2xx.

    A 5xx, 408 or 429 answer is retried by the default policy (``status`` set) after the
    ``Retry-After`` it carries; another 4xx is final. A transport error or timeout raises a retryable
    ``DeliveryError``. ``secret`` signs each request (``X-Sharedconfig-Signature``, HMAC-SHA256 over
    ``<unix seconds>.<body>``, what ``events.channels.webhook.verify`` checks). Messages name the URL's
    scheme and host only and have every secret (the URL, header values, the signing secret) scrubbed.
    """

    def __init__(
        self,
        name: str,
        url: SecretLike,
        *,
        headers: Mapping[str, SecretLike] | None = None,
        secret: SecretLike | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.name = name
        self.timeout = timeout
        self._url = url
        self._extra = dict(headers or {})
        self._auth = _Signature(secret, clock) if secret is not None else None
        self._client = LazyClient(client, timeout=timeout)
        self._clock = clock
        self.shown_url = shown_url(url.get_secret_value())
        # a header value is often "<scheme> <credential>", and a server may echo the credential alone
        credentials = [
            SecretStr(parts[1])
            for value in self._extra.values()
            if len(parts := value.get_secret_value().split(maxsplit=1)) > 1
        ]
        self.secrets: tuple[SecretLike, ...] = (
            url,
            *self._extra.values(),
            *credentials,
            *((secret,) if secret is not None else ()),
        )
        """Every value that must never be shown (the delivery's ``redact``)."""

    def _error(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> DeliveryError:
        return DeliveryError(
            hide(message, self.secrets),
            retryable=retryable,
            status=status,
            retry_after=retry_after,
            component=COMPONENT,
            operation=f"notify:{self.name}",
        )

    async def send(self, payload: Outgoing[bytes]) -> None:
        """POST ``payload.content`` once."""
        headers = {k: v.get_secret_value() for k, v in self._extra.items()}
        headers["content-type"] = JSON
        headers["user-agent"] = f"sharedconfig/{__version__}"
        try:
            response = await self._client.get().post(
                self._url.get_secret_value(),
                content=payload.content,
                headers=headers,
                timeout=self.timeout,
                auth=self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise self._error(
                f"{self.name}: {type(exc).__name__} posting to {self.shown_url}: {exc}",
                retryable=not isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL),
            ) from None  # the httpx error's request holds the URL: not chained, so not shown
        status = response.status_code
        if 200 <= status < 300:
            return
        excerpt = response.text[:_BODY_EXCERPT].strip()
        raise self._error(
            f"{self.name}: HTTP {status} from {self.shown_url}" + (f": {excerpt}" if excerpt else ""),
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after"), self._clock.wall()),
        )

    async def aclose(self) -> None:
        """Close the client this sender opened (a given client is left open)."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"HttpPoster({self.name!r}, url={self.shown_url!r}, timeout={self.timeout:g})"
