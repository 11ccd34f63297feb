"""The nats channel: events published to NATS JetStream as structured CloudEvents, each one acknowledged.

``JetStreamSender`` publishes a round of messages (a ``channel.ItemBatch``) at once and records each
message's answer; ``build``, the ``nats`` entry point of group ``sharedconfig.channels``, composes it with
``Delivery`` and the dead-letter file in a ``DeliveryChannel``, which resends only what was not
acknowledged.

Every message carries ``Nats-Msg-Id`` (the event id), so JetStream stores a resent event once (within
the stream's duplicate window). An event is published at most ``max_retries + 1`` times in all (its
``Tries``), whether the delivery retries a round or the channel resends part of one. What becomes of it::

    the answer to its publish                        what the channel does
    a PubAck (a duplicate one too)                   delivered
    no ack within timeout, no stream answering,      resent with the others not acknowledged (only
      a lost connection, another JetStream error       them) after the retry policy's backoff;
                                                       dead-lettered once its tries are spent
    larger than the server's max payload, an         dead-lettered at once with its error
      invalid subject
    the ack names another stream than ``stream``     dead-lettered at once: a stream mismatch
      (or JetStream refuses the expected stream)
    no connection within timeout, or no message      the round is retried whole by Delivery (backoff,
      of the round acknowledged                        breaker); dead-lettered once its tries are spent
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from sharedconfig.clock import SYSTEM_CLOCK, Clock, wait
from sharedconfig.delivery import DeliveryError, SecretLike
from sharedconfig.errors import SharedConfigError
from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.events.channel import DeliveryChannel, ItemBatch, ItemBatches, summarize
from sharedconfig.monitoring.events.encoding import STRUCTURED_CONTENT_TYPE, to_structured
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.redaction import hide
from sharedconfig.stdlog import StdlibLogger

try:
    from nats import errors as nats_errors
    from nats.aio.client import Client
    from nats.js import errors as js_errors
    from nats.js.api import PubAck
except ImportError as exc:  # pragma: no cover - the dev environment has the extra
    raise ImportError(f"the nats channel needs nats-py ({exc}): pip install 'sharedconfig[nats]'") from None

if TYPE_CHECKING:
    from sharedconfig.monitoring.events.channel import ChannelContext
    from sharedconfig.monitoring.settings import NatsChannelSettings

__all__ = [
    "CONTENT_TYPE_HEADER",
    "MSG_ID_HEADER",
    "STREAM_MISMATCH",
    "Connect",
    "Connection",
    "JetStream",
    "JetStreamSender",
    "Unacknowledged",
    "build",
    "connect_nats",
    "headers",
    "to_message",
]

T = TypeVar("T")

MSG_ID_HEADER: Final = "Nats-Msg-Id"
"""The header JetStream dedupes on, within the stream's duplicate window: the event's id."""

CONTENT_TYPE_HEADER: Final = "Content-Type"
"""A CloudEvents content type here marks the message as structured mode (CloudEvents NATS binding)."""

STREAM_MISMATCH: Final = 10060
"""JetStream's ``err_code`` for a ``Nats-Expected-Stream`` that is not the stream capturing the subject."""

RECONNECT_WAIT: Final = 2.0
"""Seconds nats-py waits before trying a server again (its own default)."""

PING_INTERVAL: Final = 30.0
"""Seconds between the client's pings: a silently dead connection is noticed within about a minute
(two unanswered pings) instead of nats-py's four."""


def headers(event: Event) -> dict[str, str]:
    """The headers of ``event``'s message: ``Nats-Msg-Id`` (its id) and the structured content type."""
    return {MSG_ID_HEADER: event.id, CONTENT_TYPE_HEADER: STRUCTURED_CONTENT_TYPE}


def to_message(event: Event) -> tuple[bytes, dict[str, str]]:
    """The message of ``event``: its structured CloudEvent JSON (redacted) and its headers."""
    return to_structured(event), headers(event)


@dataclass(frozen=True, slots=True)
class Unacknowledged:
    """Why one message was not acknowledged (an ``ItemFailure``), and whether publishing it again may help."""

    reason: str
    retryable: bool
    mismatch: bool = False
    """The ack named another stream than the expected one, or JetStream refused the expected stream."""

    @property
    def kind(self) -> str:
        """What a log line counts failures by: the reason."""
        return self.reason

    def __str__(self) -> str:
        return self.reason


# -- the client seam -----------------------------------------------------------------------------------


class JetStream(Protocol):
    """The part of nats-py's ``JetStreamContext`` the sender uses (a unit test passes a fake)."""

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> PubAck:
        """Publish one message and return JetStream's acknowledgement (raises when there is none)."""
        ...


class Connection(Protocol):
    """The part of nats-py's ``Client`` the sender uses."""

    @property
    def is_closed(self) -> bool:
        """Whether the client has stopped for good (it reconnects by itself until then)."""
        ...

    def jetstream(self, **options: Any) -> JetStream:
        """A JetStream context on this connection."""
        ...

    async def close(self) -> None:
        """Close the connection and stop its background tasks."""
        ...


Connect = Callable[..., Awaitable[Connection]]
"""Opens a connection from nats-py's ``Client.connect`` keyword arguments (``connect_nats`` by default)."""


async def connect_nats(**options: Any) -> Connection:
    """A connected nats-py ``Client``; one that fails (or is cancelled) half-way is closed first."""
    client = Client()
    try:
        await client.connect(**options)
    except BaseException:
        await asyncio.shield(_quietly_closed(client))  # its reader, pinger and socket must not outlive it
        raise
    return client


async def _quietly_closed(client: Client) -> None:
    try:
        await client.close()
    except Exception:  # the connection failed already; its error is the one reported
        return


# -- the sender ---------------------------------------------------------------------------------------


def _describe(error: BaseException) -> str:
    if isinstance(error, SharedConfigError):
        return error.message
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _split(server: str) -> tuple[str, str, str]:
    """``(scheme, userinfo, host:port)`` of a server URL (nats-py also takes a bare ``host:port``)."""
    parts = urlsplit(server if "://" in server else f"nats://{server}")
    userinfo, _, host = parts.netloc.rpartition("@")
    return parts.scheme, userinfo, host


def _shown(server: str) -> str:
    """What messages may name of a server: scheme, host and port (the user info may hold a token)."""
    scheme, _, host = _split(server)
    return urlunsplit((scheme, host, "", "", ""))


def _url_secrets(server: str) -> list[str]:
    """The secret parts of a server URL's user info: ``user:password`` and the password, or a token."""
    _, userinfo, _ = _split(server)
    if not userinfo:
        return []
    secret = userinfo.partition(":")[2] if ":" in userinfo else userinfo
    return [value for value in {userinfo, secret, unquote(secret)} if value]


async def _bounded(clock: Clock, aw: Awaitable[T], timeout: float) -> T:
    """``aw``'s result within ``timeout`` seconds of ``clock``, else ``TimeoutError``; either way ``aw``
    has finished when this returns (cancelled and awaited: nothing it started outlives the call)."""
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await wait(clock, (task,), max(timeout, 0.0))
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait((task,))
    if not done:
        raise TimeoutError(f"timed out after {timeout:g}s")
    return task.result()


class JetStreamSender:
    """Publishes the messages of an ``ItemBatch`` (its ``parts``) at once and records JetStream's answer
    to each.

    ``send(batch)`` counts one of its ``tries``, connects if need be, starts one publish per
    message (a request answered by a PubAck), then waits for every answer: all of it within ``timeout``
    seconds of the clock. It fills ``batch.outcomes`` and returns when at least one message was
    acknowledged, or when a message failed for good (too large, an invalid subject): the channel settles
    the messages one by one. It raises ``DeliveryError`` (so ``Delivery`` retries the round whole, and
    its breaker counts a failure) when there is no connection, or no message was acknowledged and all
    of them may be retried: a retryable one while tries are left, a final one on the last. A stream
    mismatch of them all raises a final one. Order within a round is not kept.

    With ``stream`` set, each publish carries ``Nats-Expected-Stream`` (JetStream refuses a subject
    captured by another stream) and each ack must name that stream.

    The connection is opened on the running loop at the first ``send`` (a new one on another loop, or
    when the client closed for good); nats-py reconnects by itself meanwhile, and buffers what is
    published while it does, to flush it on reconnect (the wait for acks still ends at ``timeout``).
    ``aclose`` closes it. The password (a token without ``username``) and any user info in the server
    URLs are secrets: never in ``repr``, logs or errors.
    """

    def __init__(
        self,
        servers: Sequence[str],
        subject: str,
        *,
        stream: str | None = None,
        username: str | None = None,
        password: SecretLike | None = None,
        timeout: float = 10.0,
        name: str = "nats",
        clock: Clock = SYSTEM_CLOCK,
        logger: Logger | None = None,
        connect: Connect | None = None,
    ) -> None:
        if not servers:
            raise ValueError("at least one server is needed")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.name = name
        self.subject = subject
        self.stream = stream
        self.timeout = timeout
        self.shown_servers = tuple(_shown(server) for server in servers)
        self._servers = tuple(servers)
        self._username = username
        self._password = password
        self._clock = clock
        self._logger = logger or StdlibLogger("sharedconfig.monitoring.events").bind(channel=name)
        self._connect: Connect = connect or connect_nats
        self._connection: Connection | None = None
        self._jetstream: JetStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._last_error: str | None = None
        self.secrets: tuple[str | SecretLike, ...] = (
            *((password,) if password is not None else ()),
            *(secret for server in servers for secret in _url_secrets(server)),
        )
        """Every value that must never be shown (for the delivery's ``redact``)."""

    # -- the connection

    def _scrub(self, text: str) -> str:
        return hide(text, self.secrets)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "servers": list(self._servers),
            "name": f"sharedconfig {self.name}",
            "connect_timeout": self.timeout,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,  # the channel lives as long as the process: never give up
            "reconnect_time_wait": RECONNECT_WAIT,
            "ping_interval": PING_INTERVAL,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
        }
        secret = self._password.get_secret_value() if self._password is not None else None
        if self._username is not None:
            options["user"] = self._username
            if secret:
                options["password"] = secret
        elif secret:
            options["token"] = secret
        return options

    async def _on_error(self, error: Exception) -> None:
        # a reconnect loop reports every failed try: kept for the next DeliveryError, logged at debug only
        self._last_error = self._scrub(_describe(error))
        self._logger.debug("nats client error", error=self._last_error)

    async def _on_disconnected(self) -> None:
        if self._connection is not None:  # not a first connect failing, not our own close
            self._logger.warning("nats connection lost; reconnecting", servers=list(self.shown_servers))

    async def _on_reconnected(self) -> None:
        if self._connection is not None:
            self._logger.info("nats connection restored", servers=list(self.shown_servers))

    async def _jetstream_now(self) -> JetStream:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # opened on another loop (a runtime restarted, a forked child): anew
            self._connection = self._jetstream = None
            self._lock = asyncio.Lock()
            self._loop = loop
        assert self._lock is not None
        async with self._lock:  # concurrent rounds share one connection
            if self._connection is not None and self._connection.is_closed:
                self._connection = self._jetstream = None
            if self._jetstream is None:
                connection = await self._connect(**self._options())
                self._connection, self._jetstream = connection, connection.jetstream()
            return self._jetstream

    def _error(self, message: str, *, retryable: bool, hint: str | None = None) -> DeliveryError:
        return DeliveryError(
            self._scrub(f"{self.name}: {message}"),
            retryable=retryable,
            hint=hint,
            component="events",
            operation=f"channel:{self.name}",
        )

    async def _connected(self, retryable: bool, spent: str) -> JetStream:
        jetstream, connection = self._jetstream, self._connection
        ready = connection is not None and not connection.is_closed
        if jetstream is not None and ready and self._loop is asyncio.get_running_loop():
            return jetstream  # the common case, without a timer
        servers = ", ".join(self.shown_servers)
        try:
            return await _bounded(self._clock, self._jetstream_now(), self.timeout)
        except TimeoutError:
            last = f" (last error: {self._last_error})" if self._last_error else ""
            raise self._error(
                f"no connection to {servers} within {self.timeout:g} s{last}{spent}", retryable=retryable
            ) from None
        except Exception as exc:  # the client's error may name a server with its credentials: not chained
            raise self._error(
                f"cannot connect to {servers}: {_describe(exc)}{spent}", retryable=retryable
            ) from None

    # -- publishing

    async def _publish(self, jetstream: JetStream, event: Event, body: bytes, deadline: float) -> PubAck:
        return await jetstream.publish(
            self.subject,
            body,
            timeout=max(deadline - self._clock.now(), 0.001),
            stream=self.stream,
            headers=headers(event),
        )

    def _answer(self, outcome: PubAck | BaseException) -> Unacknowledged | None:
        """None for an ack of the expected stream, else why the message does not count."""
        if not isinstance(outcome, BaseException):
            if self.stream is None or outcome.stream == self.stream:
                return None
            return Unacknowledged(
                f"stored by stream {outcome.stream!r}, not the expected {self.stream!r}", False, mismatch=True
            )
        if isinstance(outcome, js_errors.APIError) and outcome.err_code == STREAM_MISMATCH:
            text = f"JetStream: the expected stream {self.stream!r} does not capture {self.subject!r}"
            return Unacknowledged(text, False, mismatch=True)
        if isinstance(outcome, TimeoutError | asyncio.CancelledError):
            return Unacknowledged(f"no acknowledgement within {self.timeout:g} s", True)
        if isinstance(outcome, js_errors.NoStreamResponseError):
            return Unacknowledged(f"no stream answered for subject {self.subject!r}", True)
        if isinstance(outcome, js_errors.APIError):
            text = f"JetStream: {outcome.description} (code {outcome.code}, err_code {outcome.err_code})"
            return Unacknowledged(text, True)
        if isinstance(outcome, nats_errors.MaxPayloadError | nats_errors.BadSubjectError):
            return Unacknowledged(_describe(outcome), False)
        return Unacknowledged(_describe(outcome), isinstance(outcome, nats_errors.Error | OSError))

    def _mismatch(self, found: str, count: int) -> DeliveryError:
        return self._error(
            f"stream mismatch: {found}; {count} message(s) not delivered",
            retryable=False,
            hint="Set the channel's stream to the JetStream stream whose subjects include its subject, "
            "or leave stream unset.",
        )

    async def send(self, payload: Batch[Event]) -> None:
        """Publish every message of ``payload`` (an ``ItemBatch``) once and record the answers."""
        if not isinstance(payload, ItemBatch):
            raise TypeError(f"JetStreamSender sends ItemBatches, not {type(payload).__name__}")
        payload.outcomes.clear()
        if not payload.items:
            return
        spent = payload.attempt()
        more = not spent  # the last allowed attempt fails for good
        deadline = self._clock.now() + self.timeout
        jetstream = await self._connected(more, spent)
        tasks = [
            asyncio.ensure_future(self._publish(jetstream, event, body, deadline))
            for event, body in zip(payload.items, payload.parts, strict=True)
        ]
        try:  # every publish is out before any ack is awaited; then the acks are awaited together
            await wait(self._clock, tasks, max(deadline - self._clock.now(), 0.0))
        finally:
            late = [task for task in tasks if not task.done()]
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        answers = [
            self._answer(
                asyncio.CancelledError() if task.cancelled() else (task.exception() or task.result())
            )
            for task in tasks
        ]
        payload.outcomes[:] = answers
        failed = [answer for answer in answers if answer is not None]
        if len(failed) < len(answers):
            return
        if any(answer.mismatch for answer in failed):
            raise self._mismatch(next(a.reason for a in failed if a.mismatch), len(failed))
        if all(answer.retryable for answer in failed):
            raise self._error(
                f"none of {len(failed)} message(s) acknowledged by JetStream: {summarize(failed)}{spent}",
                retryable=more,
            )

    async def aclose(self) -> None:
        """Close the connection this sender opened (on its loop); a later ``send`` opens a new one."""
        connection, loop = self._connection, self._loop
        self._connection = self._jetstream = None
        self._loop = self._lock = None
        if connection is None or connection.is_closed or loop is not asyncio.get_running_loop():
            return
        try:
            await _bounded(self._clock, connection.close(), self.timeout)
        except Exception as exc:  # closing is best effort: the process is stopping
            self._logger.warning("could not close the nats connection", error=self._scrub(_describe(exc)))

    def __repr__(self) -> str:
        return (
            f"JetStreamSender(servers={list(self.shown_servers)!r}, subject={self.subject!r}, "
            f"stream={self.stream!r}, timeout={self.timeout:g})"
        )


def build(
    settings: NatsChannelSettings, ctx: ChannelContext, *, connect: Connect | None = None
) -> DeliveryChannel:
    """The ``nats`` channel of ``settings`` (entry point ``nats`` of group ``sharedconfig.channels``).

    A ``JetStreamSender`` composed by ``Delivery`` in a ``DeliveryChannel``: events are encoded once
    (``to_structured``; one that cannot be is dead-lettered at once) and cut into rounds of at most
    ``ctx.batch_size``, delivered concurrently (at most ``max_in_flight`` at once); retries, breaker and
    in-flight window from the settings through ``ctx.channel``. A round with no connection, or with nothing
    acknowledged, is retried whole by the delivery; once a round went through, its messages are settled
    one by one (see the module's table). ``connect`` replaces nats-py's connection (tests pass a fake).
    Nothing connects before the first delivery.
    """
    sender = JetStreamSender(
        settings.servers,
        settings.subject,
        stream=settings.stream,
        username=settings.username,
        password=settings.password,
        timeout=settings.timeout.total_seconds(),
        name=ctx.name,
        clock=ctx.clock,
        logger=ctx.logger,
        connect=connect,
    )
    encoder = ItemBatches(to_structured, ctx.batch_size)
    return ctx.channel(sender, settings, encoder=encoder, redact=sender.secrets)
