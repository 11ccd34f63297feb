"""The webhook channel: events POSTed as CloudEvents JSON (structured or batch mode), signed with HMAC-SHA256.

``WebhookEncoder`` turns events into request bodies, ``WebhookSender`` posts one signed body, and
``webhook_channel`` composes them with ``Delivery`` and a dead-letter file; ``verify`` is for receivers.

The signature header (Stripe's scheme)::

    X-Sharedconfig-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A receiver recomputes the HMAC over the raw body it received, compares in constant time and rejects a
timestamp further than a tolerance (300 s by default) from its own clock, so a captured request cannot
be replayed later. Every attempt is signed anew, so a retry after a long backoff is not stale.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from sharedconfig import __version__
from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.delivery import (
    CircuitBreakerConfig,
    Delivery,
    DeliveryError,
    RetryPolicy,
    SecretLike,
    Series,
    StateListener,
)
from sharedconfig.errors import SecurityError, SharedConfigError
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.events.channel import ChannelContext, DeliveryChannel
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.encoding import BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, to_structured
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch, LazyClient, parse_retry_after
from sharedconfig.redaction import hide
from sharedconfig.stdlog import StdlibLogger

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import WebhookChannelSettings

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "WEBHOOK_BREAKER",
    "WEBHOOK_RETRY",
    "InvalidSignature",
    "Mode",
    "WebhookEncoder",
    "WebhookSender",
    "build",
    "sign",
    "verify",
    "webhook_channel",
]

SIGNATURE_HEADER: Final = "X-Sharedconfig-Signature"
"""The request header carrying ``t=<unix seconds>,v1=<hex hmac>``."""

DEFAULT_TOLERANCE: Final = 300.0
"""Seconds a receiver accepts between the signature's timestamp and its own clock, either way."""

WEBHOOK_RETRY = RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=30.0)
"""Default retries: 4 attempts per request, full jitter, a ``Retry-After`` of up to 30 s honoured."""

WEBHOOK_BREAKER = CircuitBreakerConfig(
    sliding_window_size=10, minimum_number_of_calls=5, wait_duration_in_open_state=30.0
)
"""Default breaker: opens when half of the last 10 attempts (at least 5) failed; one probe after 30 s."""

_BODY_EXCERPT = 200  # characters of an error response kept in the message

Secrets = str | SecretLike | Sequence[str | SecretLike]
"""One secret, or several (a receiver accepting the old and the new one while the secret rotates)."""


class Mode(StrEnum):
    """How events go in a request: ``structured`` (one event per POST) or ``batch`` (a JSON array)."""

    STRUCTURED = "structured"
    BATCH = "batch"


class InvalidSignature(SecurityError):
    """A webhook request whose signature header is missing, malformed, stale or wrong (``SECURITY_003``)."""

    default_code = "SECURITY_003"


# -- the signature ------------------------------------------------------------------------------------


def _text(secret: str | SecretLike) -> str:
    return secret if isinstance(secret, str) else secret.get_secret_value()


def _digest(secret: str | SecretLike, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(_text(secret).encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str | SecretLike, body: bytes, timestamp: int) -> str:
    """The ``X-Sharedconfig-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def _rejected(message: str) -> InvalidSignature:
    return InvalidSignature(
        message,
        hint="Check that sender and receiver share the secret, the body is verified as received "
        "(before any parsing) and both clocks are right.",
        component="events",
        operation="webhook:verify",
    )


def verify(
    secret: Secrets,
    body: bytes,
    header: str | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a request's signature header against its raw ``body``; the signed timestamp when it holds.

    Raises ``InvalidSignature`` (``SECURITY_003``) when the header is missing or malformed, its
    timestamp is more than ``tolerance`` seconds from ``now`` (default: ``time.time()``) either way,
    or no ``v1`` in it is the HMAC of any of the ``secret``\\ s. Comparison is constant-time; the
    message never contains the secret or the expected signature.
    """
    if not header:
        raise _rejected(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise _rejected(f"malformed {SIGNATURE_HEADER} header: expected t=<unix seconds>,v1=<hex>")
    now = time.time() if now is None else now
    if not math.isfinite(now) or abs(now - timestamp) > tolerance:
        raise _rejected(
            f"signature timestamp {timestamp} is {int(abs(now - timestamp))} s from now "
            f"(tolerance {tolerance:g} s)"
        )
    secrets = list(secret) if isinstance(secret, Sequence) and not isinstance(secret, str) else [secret]
    for candidate in secrets:
        expected = _digest(candidate, timestamp, body)
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return timestamp
    raise _rejected("signature does not match the body")


# -- the encoder --------------------------------------------------------------------------------------


class WebhookEncoder:
    """Events to request bodies: one structured event per body, or ``batch_size`` events per JSON array.

    Every body is what ``encoding.to_structured``/``to_batch`` writes (redacted); a batch body is the
    events' structured forms joined, so each event is encoded once. An event that cannot be encoded
    (data that is not JSON) is returned beside the batches with its error, never sent.
    """

    def __init__(self, mode: Mode | str = Mode.BATCH, *, batch_size: int = 100) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.mode = Mode(mode)
        self.batch_size = batch_size

    @property
    def content_type(self) -> str:
        """The ``content-type`` of every body."""
        return STRUCTURED_CONTENT_TYPE if self.mode is Mode.STRUCTURED else BATCH_CONTENT_TYPE

    def encode(
        self, events: Iterable[Event]
    ) -> tuple[list[Batch[Event]], list[tuple[Event, SharedConfigError]]]:
        """The bodies to POST, in order, and the events that could not be encoded."""
        encoded: list[tuple[Event, bytes]] = []
        rejected: list[tuple[Event, SharedConfigError]] = []
        for event in events:
            try:
                encoded.append((event, to_structured(event)))
            except SharedConfigError as exc:
                rejected.append((event, exc))
        if self.mode is Mode.STRUCTURED:
            return [Batch(body, (event,)) for event, body in encoded], rejected
        batches = []
        for start in range(0, len(encoded), self.batch_size):
            chunk = encoded[start : start + self.batch_size]
            body = b"[" + b",".join(body for _, body in chunk) + b"]"
            batches.append(Batch(body, tuple(event for event, _ in chunk)))
        return batches, rejected

    def __repr__(self) -> str:
        return f"WebhookEncoder(mode={self.mode.value!r}, batch_size={self.batch_size})"


# -- the sender ---------------------------------------------------------------------------------------


class _Signature(httpx.Auth):
    """Signs each request as it leaves (a retry is signed anew), so the secret never sits in headers."""

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


def _shown(url: str) -> str:
    """What messages may name of the URL: its scheme and host (user info, path and query may all hold
    a token, as a webhook URL often does)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "", "", ""))


class WebhookSender:
    """POSTs one body to the webhook, signed; raises ``DeliveryError`` unless the answer is 2xx.

    A 5xx, 408 or 429 answer is retryable by the default policy (``status`` set), with the
    ``Retry-After`` it carries (delta seconds or an HTTP date, read against ``clock.wall()``); another
    4xx is final. A transport error or a timeout (``timeout`` seconds for the whole request) raises a
    retryable ``DeliveryError``. Messages name the URL without user info or query and every secret
    (the URL, the signing secret, header values) is scrubbed from them.
    """

    def __init__(
        self,
        url: SecretLike,
        secret: SecretLike | None,
        *,
        content_type: str = BATCH_CONTENT_TYPE,
        headers: Mapping[str, SecretLike] | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Clock = SYSTEM_CLOCK,
        name: str = "webhook",
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if secret is not None and not secret.get_secret_value():
            raise ValueError("the signing secret must not be empty (None: requests are not signed)")
        self.name = name
        self.timeout = timeout
        self.content_type = content_type
        self._url = url
        self._extra = dict(headers or {})
        self._auth = _Signature(secret, clock) if secret is not None else None
        self._client = LazyClient(client, timeout=timeout)
        self._clock = clock
        self.shown_url = _shown(url.get_secret_value())
        self.secrets: tuple[SecretLike, ...] = (
            url,
            *((secret,) if secret is not None else ()),
            *self._extra.values(),
        )
        """Every value that must never be shown (for the delivery's ``redact``)."""

    def _scrub(self, text: str) -> str:
        return hide(text, self.secrets)

    def _headers(self) -> dict[str, str]:
        headers = {k: v.get_secret_value() for k, v in self._extra.items()}
        headers["content-type"] = self.content_type
        headers["user-agent"] = f"sharedconfig/{__version__}"
        return headers

    async def send(self, payload: Batch[Event]) -> None:
        """POST ``payload.body`` once."""
        try:
            response = await self._client.get().post(
                self._url.get_secret_value(),
                content=payload.body,
                headers=self._headers(),
                timeout=self.timeout,
                auth=self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise DeliveryError(
                self._scrub(f"{self.name}: {type(exc).__name__} posting to {self.shown_url}: {exc}"),
                retryable=not isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL),
                component="events",
                operation=f"channel:{self.name}",
            ) from None  # the httpx error's request holds the URL: not chained, so not shown
        status = response.status_code
        if 200 <= status < 300:
            return
        excerpt = response.text[:_BODY_EXCERPT].strip()
        raise DeliveryError(
            self._scrub(
                f"{self.name}: HTTP {status} from {self.shown_url}" + (f": {excerpt}" if excerpt else "")
            ),
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after"), self._clock.wall()),
            component="events",
            operation=f"channel:{self.name}",
        )

    async def aclose(self) -> None:
        """Close the client this sender opened (a given client is left open)."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.shown_url!r}, timeout={self.timeout:g})"


# -- the channel --------------------------------------------------------------------------------------


def webhook_channel(
    url: str | SecretLike,
    secret: str | SecretLike,
    *,
    mode: Mode | str = Mode.BATCH,
    batch_size: int = 100,
    headers: Mapping[str, str | SecretLike] | None = None,
    timeout: float = 10.0,
    dead_letter: DeadLetterFile | str | None = None,
    name: str = "webhook",
    retry: RetryPolicy | None = None,
    breaker: CircuitBreakerConfig | None = None,
    max_in_flight: int = 4,
    in_flight_wait: float = 60.0,
    client: httpx.AsyncClient | None = None,
    clock: Clock = SYSTEM_CLOCK,
    metrics: MetricsRecorder | None = None,
    failures: Series | None = None,
    state: Series | None = None,
    on_state_change: StateListener | None = None,
    logger: Logger | None = None,
) -> DeliveryChannel:
    """A webhook channel: ``WebhookEncoder`` + ``WebhookSender`` composed by ``Delivery``.

    ``url``, ``secret`` and ``headers`` values are kept as secrets (``SecretStr``): never in ``repr``,
    logs or errors. ``dead_letter`` is a ``DeadLetterFile`` or its path (None: what is given up on
    is only counted and logged). ``failures``/``state`` are the series the delivery records failed
    batches and the breaker's state into (with ``metrics``). ``max_in_flight`` requests at most go
    out at once; one more waits up to ``in_flight_wait`` seconds of the clock for a slot.
    """

    def secret_of(value: str | SecretLike) -> SecretLike:
        return SecretStr(value) if isinstance(value, str) else value

    encoder = WebhookEncoder(mode, batch_size=batch_size)
    sender = WebhookSender(
        secret_of(url),
        secret_of(secret),
        content_type=encoder.content_type,
        headers={k: secret_of(v) for k, v in (headers or {}).items()},
        timeout=timeout,
        client=client,
        clock=clock,
        name=name,
    )
    logger = (logger or StdlibLogger("sharedconfig.monitoring.events")).bind(channel=name)
    letters = (
        DeadLetterFile(dead_letter, clock=clock, logger=logger)
        if isinstance(dead_letter, str)
        else dead_letter
    )
    delivery: Delivery[Batch[Event]]

    def give_up(batch: Batch[Event], error: BaseException) -> None:
        if letters is not None:
            reason = (
                error.message if isinstance(error, SharedConfigError) else f"{type(error).__name__}: {error}"
            )
            letters.append(batch.items, delivery.scrub(reason))

    delivery = Delivery(
        name,
        sender,
        retry=retry or WEBHOOK_RETRY,
        breaker=breaker or WEBHOOK_BREAKER,
        max_in_flight=max_in_flight,
        in_flight_wait=in_flight_wait,
        on_give_up=give_up,
        on_state_change=on_state_change,
        metrics=metrics,
        failures=failures,
        state=state,
        logger=logger,
        clock=clock,
        redact=sender.secrets,
    )
    return DeliveryChannel(encoder, delivery, letters)


def build(settings: WebhookChannelSettings, ctx: ChannelContext) -> DeliveryChannel:
    """The ``webhook`` channel from its settings (entry point ``webhook`` of ``sharedconfig.channels``).

    Without ``secret`` the requests go unsigned (some receivers authenticate by a token in the URL or a
    header instead); building the channel logs a warning, since a receiver then cannot tell our requests
    from anyone's.
    """
    if settings.secret is None:
        ctx.logger.warning(
            "webhook channel without a secret: its requests are not signed, so a receiver cannot tell "
            "them from anyone's (add secret: ${WEBHOOK_SECRET})",
        )
    encoder = WebhookEncoder(settings.mode, batch_size=ctx.batch_size)
    sender = WebhookSender(
        settings.url,
        settings.secret,
        content_type=encoder.content_type,
        headers=dict(settings.headers),
        timeout=settings.timeout.total_seconds(),
        clock=ctx.clock,
        name=ctx.name,
    )
    return ctx.channel(sender, settings, encoder=encoder, redact=sender.secrets)
