"""The kafka channel: events produced to a topic by an idempotent confluent-kafka producer (acks=all).

Messages follow the CloudEvents Kafka binding: binary mode (``ce_`` headers, the data as the value) by
default, structured mode (the JSON envelope as the value) on request. The key is the attribute named by
the ``key`` setting (the subject by default), so one subject's events stay in one partition, in order.

``producer_config`` maps the settings to librdkafka's, ``KafkaEncoder`` writes one message per event,
``KafkaSender`` produces a batch and waits for every delivery report, setting each message's outcome, and
``build`` (the ``kafka`` entry point) composes it with ``Delivery`` in a ``DeliveryChannel``, which
resends or dead-letters the messages that failed (``channel.ItemBatch``). librdkafka never runs on the
event loop: the producer's own thread encodes and produces each batch and serves the callbacks (delivery
reports, errors, log lines) until ``aclose``, and resolves a future of the loop when a batch's last report
is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, cast

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from sharedconfig.clock import to_thread
from sharedconfig.delivery import DeliveryError
from sharedconfig.errors import SharedConfigError, ValidationError
from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.events.channel import ChannelContext, DeliveryChannel, ItemBatch, ItemBatches
from sharedconfig.monitoring.events.encoding import (
    STRUCTURED_CONTENT_TYPE,
    redacted,
    to_kafka_binary,
    to_structured,
)
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.redaction import REDACTED, looks_secret
from sharedconfig.stdlog import StdlibLogger

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import KafkaChannelSettings

__all__ = [
    "OWNED_OPTIONS",
    "REPORT_GRACE",
    "KafkaEncoder",
    "KafkaSender",
    "Message",
    "MessageError",
    "Producer",
    "ProducerFactory",
    "build",
    "is_transient",
    "producer_config",
    "secret_options",
]

Message = tuple[list[tuple[str, bytes]], bytes, bytes | None]
"""One Kafka message as the encoder writes it: ``(headers, value, key)``."""

REPORT_GRACE: Final = 5.0
"""Real seconds a batch waits for its delivery reports beyond ``message.timeout.ms``, after which librdkafka
has reported every message; only a report that never comes (a bug) makes the wait end there."""

OWNED_OPTIONS: Final[Mapping[str, str]] = {
    "bootstrap.servers": "brokers",
    "metadata.broker.list": "brokers",
    "enable.idempotence": "the idempotent producer, always on",
    "acks": "the idempotent producer, always acks=all",
    "request.required.acks": "the idempotent producer, always acks=all",
    "compression.type": "compression",
    "compression.codec": "compression",
    "linger.ms": "linger",
    "queue.buffering.max.ms": "linger",
    "message.timeout.ms": "timeout",
    "delivery.timeout.ms": "timeout",
    "error_cb": "the channel's own callback",
    "logger": "the channel's own callback",
    "on_delivery": "the channel's own callback",
    "dr_cb": "the channel's own callback",
    "dr_msg_cb": "the channel's own callback",
}
"""librdkafka settings the channel sets itself, and what sets them instead; ``options`` may not name them."""

_SECRET_PARTS: Final = ("jaas", "pem", "oauthbearer.config", "keystore", "client.secret")
_QUOTED_VALUE: Final = re.compile(
    r'(value\s+)"[^"]*"'
)  # librdkafka echoes a refused value: 'Invalid value "x"'
_IDLE_WAIT: Final = 0.1  # seconds the producer's thread waits for a batch when nothing is outstanding
_BUSY_POLL: Final = 0.001  # seconds it waits for reports between looks for a new batch while some are due
_QUEUE_WAIT: Final = 0.05  # seconds a produce waits for room when librdkafka's local queue is full
_STRUCTURED_HEADERS: Final = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
_KEY_ATTRIBUTES: Final = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "datacontenttype",
        "dataschema",
        "traceparent",
        "sampledrate",
    }
)

_TRANSIENT: Final = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._QUEUE_FULL,
        KafkaError._RESOLVE,
        KafkaError._WAIT_COORD,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.KAFKA_STORAGE_ERROR,
        KafkaError.THROTTLING_QUOTA_EXCEEDED,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
    }
)


_RENEW: Final = frozenset(
    {
        KafkaError._FATAL,
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.INVALID_PRODUCER_ID_MAPPING,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    }
)
"""Errors saying the idempotent producer's id or epoch is spent: a new producer (a new id) takes the next
batch. librdkafka reports most as fatal, but a broker may answer so per message, e.g. refusing the epoch
librdkafka bumps after a message timed out (tansu answers PRODUCER_FENCED then, forever after)."""
_RENEW_NAMES: Final = frozenset(KafkaError(code).name() for code in _RENEW)


def is_transient(error: KafkaError) -> bool:
    """Whether another attempt may deliver a message that failed with ``error``.

    True for the errors of a broker that is down, unreachable, electing a leader or throttling
    (librdkafka gives delivery reports without its own ``retriable`` flag, so the codes are listed here),
    for an error librdkafka marks retriable, and for a fatal error or a spent producer id (the next
    attempt gets a new producer). False for what stays wrong: a message too large, no permission, an
    unknown topic or partition, a refused configuration, messages purged at close.
    """
    return error.code() in _TRANSIENT or error.code() in _RENEW or error.retriable() or error.fatal()


# -- settings to librdkafka ------------------------------------------------------------------------------


def _milliseconds(value: timedelta) -> float | int:
    ms = value.total_seconds() * 1000
    return int(ms) if ms == int(ms) else ms


def producer_config(settings: KafkaChannelSettings, *, client_id: str = "sharedconfig") -> dict[str, Any]:
    """The librdkafka settings of the channel's producer (without its callbacks).

    Idempotent with ``acks=all``; ``compression.type``, ``linger.ms`` and ``message.timeout.ms`` (how long a
    message may take, retries included, before its report says it failed) from the settings; then every
    ``options`` entry. Raises ``ValidationError`` (``VALIDATION_006``, never showing a value) when
    ``options`` names a setting in ``OWNED_OPTIONS``, or when ``linger`` is not shorter than ``timeout``
    (librdkafka would refuse the producer at the first delivery).
    """
    for key in settings.options:
        if key in OWNED_OPTIONS:
            raise ValidationError(
                f"options.{key} cannot be set: the kafka channel sets it from {OWNED_OPTIONS[key]}",
                code="VALIDATION_006",
                path=f"options.{key}",
                hint="Remove it from options"
                + ("." if OWNED_OPTIONS[key].startswith("the ") else f"; set {OWNED_OPTIONS[key]} instead."),
                component="events",
            )
    if settings.linger >= settings.timeout:
        raise ValidationError(
            "linger must be shorter than timeout: a message must be able to leave before it times out",
            code="VALIDATION_006",
            path="linger",
            component="events",
        )
    return {
        "bootstrap.servers": ",".join(settings.brokers),
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": settings.compression,
        "linger.ms": _milliseconds(settings.linger),
        "message.timeout.ms": int(settings.timeout.total_seconds() * 1000),
        **plain_options(settings),
    }


def plain_options(settings: KafkaChannelSettings) -> dict[str, str]:
    """``settings.options`` with their values (kept as secrets in the settings, so no ``repr`` shows them)."""
    return {key: value.get_secret_value() for key, value in settings.options.items()}


def secret_options(options: Mapping[str, str]) -> tuple[str, ...]:
    """The values of ``options`` that are credentials (``sasl.password``, ``ssl.key.pem``,
    ``sasl.jaas.config``, ...): scrubbed from every message and log line of the channel."""
    return tuple(
        value
        for key, value in options.items()
        if value and (looks_secret(key) or any(part in key.lower() for part in _SECRET_PARTS))
    )


# -- the encoder ------------------------------------------------------------------------------------------


def _key(event: Event, key_by: str) -> bytes | None:
    """The key ``to_kafka_binary`` writes for ``event`` (already redacted): the attribute or extension
    ``key_by`` names, as text; None when the event has none."""
    value: object
    if key_by in event.extensions:
        value = event.extensions[key_by]
    elif key_by == "time":  # RFC 3339 in UTC with microseconds, as every encoder writes it
        value = None if event.time is None else event.time.isoformat(timespec="microseconds")
        value = None if value is None else str(value).replace("+00:00", "Z")
    elif key_by in ("severity", "category"):
        value = getattr(event, key_by).value
    elif key_by in _KEY_ATTRIBUTES:
        value = getattr(event, key_by)
    else:
        value = None
    return None if value is None else str(value).encode()


class KafkaEncoder:
    """One event to one Kafka message in the CloudEvents Kafka binding, redacted as every encoder is.

    ``binary`` (the default): ``ce_`` headers and ``content-type``, the data as the value
    (``encoding.to_kafka_binary``). ``structured``: a ``content-type: application/cloudevents+json``
    header and the structured JSON event as the value. In both modes the key is the attribute or
    extension ``key_by`` names (None when the event has none, so librdkafka spreads those).
    """

    def __init__(self, mode: Literal["binary", "structured"] | str = "binary", *, key_by: str = "subject"):
        if mode not in ("binary", "structured"):
            raise ValueError(f"mode must be 'binary' or 'structured', not {mode!r}")
        self.mode = mode
        self.key_by = key_by

    def encode(self, event: Event) -> Message:
        """The message of ``event``; ``InvalidEvent`` when its data is not JSON."""
        if self.mode == "binary":
            return to_kafka_binary(event, key_by=self.key_by)
        shown = redacted(event)  # to_structured redacts again: a no-op walk, kept for one code path
        return list(_STRUCTURED_HEADERS), to_structured(shown), _key(shown, self.key_by)

    def __repr__(self) -> str:
        return f"KafkaEncoder(mode={self.mode!r}, key_by={self.key_by!r})"


# -- the sender -------------------------------------------------------------------------------------------


class Producer(Protocol):
    """What the sender uses of ``confluent_kafka.Producer`` (a test passes a fake with these methods)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Callable[[KafkaError | None, Any], None] | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one message (``BufferError`` when the local queue is full)."""
        ...

    def poll(self, timeout: float = -1) -> int:
        """Serve the callbacks that are due, waiting up to ``timeout`` seconds for one."""
        ...

    def flush(self, timeout: float = -1) -> int:
        """Wait up to ``timeout`` seconds for every queued message's report; how many are left."""
        ...

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        """Fail every queued message (their reports come with the next poll)."""
        ...

    def close(self) -> bool:
        """Destroy the client (after a flush)."""
        ...

    def __len__(self) -> int:
        """Messages produced whose report was not served yet."""
        ...


ProducerFactory = Callable[[dict[str, Any]], Producer]
"""Makes a producer from librdkafka settings (callbacks included): ``confluent_kafka.Producer`` by default."""


def _confluent_producer(config: dict[str, Any]) -> Producer:
    return cast(Producer, confluent_kafka.Producer(config))


@dataclass(frozen=True, slots=True)
class MessageError:
    """Why one message was not delivered (an ``ItemFailure``): librdkafka's error name and text, and whether
    to try again."""

    name: str
    reason: str
    retryable: bool

    @classmethod
    def of(cls, error: KafkaError) -> MessageError:
        """The error of a delivery report (or of ``produce``)."""
        return cls(error.name(), error.str(), is_transient(error))

    @property
    def kind(self) -> str:
        """What a log line counts failures by: the error's name."""
        return self.name

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Reports:
    """The outcome of one attempt's messages, written by whichever thread serves their delivery reports.

    ``done`` (a future of the loop that made it) is resolved when every message has its outcome, from
    that thread, so the loop waits without a thread of its own. ``close`` ends the attempt: a report
    arriving after it (only if librdkafka outlived its own timeout) changes nothing.
    """

    __slots__ = ("_closed", "_lock", "_loop", "_pending", "_seen", "done", "failures")

    def __init__(self, count: int, loop: asyncio.AbstractEventLoop) -> None:
        self._pending = count
        self._seen = bytearray(count)
        self._closed = False
        self._lock = threading.Lock()
        self._loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        self.failures: dict[int, MessageError] = {}
        if not count:
            self.done.set_result(None)

    def _finish(self) -> None:
        if self.done.done():  # resolved already (close after the wait): no wake-up of the loop for nothing
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            self._loop.call_soon_threadsafe(_resolve, self.done)

    def report(self, index: int, error: KafkaError | None, _message: object) -> None:
        """The delivery report of message ``index`` (librdkafka's ``on_delivery``)."""
        if error is not None:
            self.settle(index, MessageError.of(error))
            return
        with self._lock:  # settle's delivered case inline: this runs once per message produced
            if self._closed or self._seen[index]:
                return
            self._seen[index] = 1
            self._pending -= 1
            if self._pending:
                return
        self._finish()

    def settle(self, index: int, failure: MessageError | None) -> None:
        """Message ``index`` is delivered (None) or failed."""
        with self._lock:
            if self._closed or self._seen[index]:
                return
            self._seen[index] = 1
            if failure is not None:
                self.failures[index] = failure
            self._pending -= 1
            if self._pending:
                return
        self._finish()

    def close(self, silent: MessageError) -> dict[int, MessageError]:
        """End the attempt: the failures, counting every message still without a report as failed with
        ``silent``."""
        with self._lock:
            self._closed = True
            if self._pending:
                for index, seen in enumerate(self._seen):
                    if not seen:
                        self.failures[index] = silent
                self._pending = 0
            failures = self.failures
        self._finish()
        return failures


@dataclass(eq=False)
class _Job:
    """One attempt's events, for the client's thread to encode and produce; ``reports`` fill in as
    librdkafka reports on them, until ``deadline`` (``time.monotonic``)."""

    events: Sequence[Event]
    reports: _Reports
    deadline: float


class _LibrdkafkaLog:
    """librdkafka's log lines (the producer's ``logger``), scrubbed, into the channel's logger."""

    def __init__(self, logger: Logger, scrub: Callable[[str], str]) -> None:
        self._logger = logger
        self._scrub = scrub

    def log(self, level: int, template: str, *args: object) -> None:
        """One line, at warning when librdkafka logged it at warning or above, else at debug."""
        line = self._scrub(template % args if args else template)
        if level >= logging.WARNING:
            self._logger.warning("librdkafka", line=line)
        else:
            self._logger.debug("librdkafka", line=line)


class _Client:
    """One producer and the daemon thread that owns it until ``close``.

    The thread encodes and produces each submitted batch and serves the producer's callbacks (delivery
    reports, errors, log lines) in between, as a hand-written producer loop does: the reports of a batch
    never wait for the interpreter lock held by the thread producing the next one (a report served on
    another thread would, once per message). ``fatal`` is set when librdkafka reports a fatal error (the
    idempotent producer lost its guarantees): the sender then replaces the client before the next batch.
    """

    def __init__(
        self,
        factory: ProducerFactory,
        config: Mapping[str, Any],
        *,
        topic: str,
        encoder: KafkaEncoder,
        name: str,
        logger: Logger,
        scrub: Callable[[str], str],
    ) -> None:
        self._logger = logger
        self._scrub = scrub
        self._topic = topic
        self._encode = encoder.encode
        self.fatal: str | None = None
        self.producer = factory(
            {**config, "error_cb": self._on_error, "logger": _LibrdkafkaLog(logger, scrub)}
        )
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"sharedconfig-kafka-{name}", daemon=True)
        self._thread.start()

    def _on_error(self, error: KafkaError) -> None:
        text = self._scrub(error.str())
        if error.fatal():
            self.fatal = f"{error.name()}: {text}"
            self._logger.error("kafka producer failed; a new one takes the next batch", error=text)
        elif error.code() in _TRANSIENT:
            self._logger.debug("kafka client error", code=error.name(), error=text)
        else:
            self._logger.warning("kafka client error", code=error.name(), error=text)

    def submit(self, job: _Job) -> None:
        """Hand ``job`` to the thread; after ``close`` its messages fail at once, as purged."""
        with self._lock:
            if not self._closed:
                self._jobs.put(job)
                return
        job.reports.close(MessageError.of(KafkaError(KafkaError._PURGE_QUEUE)))

    def _serve(self) -> None:
        producer = self.producer
        while not self._stop.is_set():
            try:
                outstanding = len(producer) > 0
                try:
                    job = self._jobs.get_nowait() if outstanding else self._jobs.get(timeout=_IDLE_WAIT)
                except queue.Empty:
                    job = None
                if job is not None:
                    self._produce(job)
                producer.poll(_BUSY_POLL if outstanding and job is None else 0)
            except Exception as exc:  # our callbacks do not raise; this keeps the thread alive if one does
                self._logger.error("kafka callback failed", error=self._scrub(f"{type(exc).__name__}: {exc}"))

    def _produce(self, job: _Job) -> None:
        """Encode and produce every event of ``job`` (on the client's thread)."""
        producer, topic, encode, reports = self.producer, self._topic, self._encode, job.reports
        produce, report = producer.produce, reports.report
        for index, event in enumerate(job.events):
            try:
                headers, value, key = encode(event)
            except SharedConfigError as exc:
                reports.settle(index, MessageError("INVALID_EVENT", exc.message, False))
                continue
            while True:
                try:
                    produce(topic, value, key, on_delivery=partial(report, index), headers=headers)
                    break
                except BufferError:  # librdkafka's local queue is full: reports make room, or time runs out
                    if time.monotonic() >= job.deadline:
                        reports.settle(index, MessageError.of(KafkaError(KafkaError._QUEUE_FULL)))
                        break
                    producer.poll(_QUEUE_WAIT)
                except KafkaException as exc:
                    reports.settle(index, MessageError.of(exc.args[0]))
                    break

    def close(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the messages already submitted, fail the rest, stop the
        thread; how many messages were still queued."""
        with self._lock:
            self._closed = True
        try:
            left = self.producer.flush(timeout)
            if left:
                self.producer.purge()
                self.producer.flush(0)  # serves the purged messages' reports: their batches end now
            return left
        finally:
            self._stop.set()
            self._jobs.put(None)  # wakes the thread if it waits for a batch
            if self._thread is not threading.current_thread():
                self._thread.join()
            purged = MessageError.of(KafkaError(KafkaError._PURGE_QUEUE))
            while True:  # what was submitted but never produced
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.reports.close(purged)
            self.producer.close()


class KafkaSender:
    """Produces one batch of events and waits for all their delivery reports (a ``Delivery`` sender).

    ``send`` hands the whole batch to the producer's thread, which encodes and produces it, and waits until
    librdkafka has reported on every message (within ``message.timeout.ms``, plus ``REPORT_GRACE``, in
    real time: librdkafka's own timeout is). An ``ItemBatch``
    gets each message's outcome in ``outcomes``, and ``send`` returns once at least one message
    was delivered: the channel settles the others one by one. When none was (a broker down, say), or
    for a plain ``Batch`` when any was not, it raises a ``DeliveryError`` naming the topic, the brokers
    and the commonest error, retryable when one of the errors is transient (``is_transient``) and the
    batch's ``tries`` are not spent. An event whose data is not JSON fails alone, not transient.

    The producer is made at the first ``send`` (with ``factory``) and closed by ``aclose``; a fatal error,
    or a message refused because the producer's id or epoch is spent, replaces it before the next batch.
    Messages and log lines never contain a ``secrets`` value, nor any value librdkafka quotes from the
    configuration.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        topic: str,
        encoder: KafkaEncoder | None = None,
        *,
        name: str = "kafka",
        secrets: Iterable[str] = (),
        logger: Logger | None = None,
        factory: ProducerFactory = _confluent_producer,
        report_timeout: float | None = None,
    ) -> None:
        self.name = name
        self.topic = topic
        self.encoder = encoder or KafkaEncoder()
        self.brokers = str(config.get("bootstrap.servers", ""))
        self.secrets: tuple[str, ...] = tuple(s for s in secrets if s)
        """Every value that must never be shown (for the delivery's ``redact``)."""
        self._config = dict(config)
        self._factory = factory
        self._logger = logger or StdlibLogger("sharedconfig.monitoring.events").bind(channel=name)
        timeout = float(config.get("message.timeout.ms", 300_000)) / 1000
        self.close_timeout = timeout
        self.report_timeout = timeout + REPORT_GRACE if report_timeout is None else report_timeout
        self._client: _Client | None = None
        self._lock = threading.Lock()

    def scrub(self, text: str) -> str:
        """``text`` without any secret value, nor a configuration value librdkafka quoted."""
        text = _QUOTED_VALUE.sub(rf'\1"{REDACTED}"', text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _current(self) -> _Client:
        with self._lock:
            client = self._client
            if client is not None and client.fatal is not None:
                self._client = None
                client.close(0)
                client = None
            if client is None:
                client = self._client = _Client(
                    self._factory,
                    self._config,
                    topic=self.topic,
                    encoder=self.encoder,
                    name=self.name,
                    logger=self._logger,
                    scrub=self.scrub,
                )
            return client

    async def _produce(self, events: Sequence[Event]) -> dict[int, MessageError]:
        """Have the client's thread produce ``events`` and wait for their reports; the failures by index."""
        client = self._client
        if client is None or client.fatal is not None:
            try:  # made (or replaced) on a worker thread: a replaced one is flushed and its thread joined
                client = await to_thread(self._current)
            except KafkaException as exc:  # the configuration was refused: no attempt will do better
                error = exc.args[0]
                refused = MessageError(error.name(), self.scrub(error.str()), False)
                return dict.fromkeys(range(len(events)), refused)
        loop = asyncio.get_running_loop()
        reports = _Reports(len(events), loop)
        client.submit(_Job(events, reports, time.monotonic() + self.report_timeout))
        # librdkafka's own timeout has passed: a safety net. A timer, not wait_for(shield(...)): the batch's
        # last report wakes this task in one turn of the loop instead of three (bench/events.py, kafka)
        timer = loop.call_later(self.report_timeout, _resolve, reports.done)
        try:
            await reports.done
        finally:
            timer.cancel()
        silent = MessageError("_NO_REPORT", f"no delivery report within {self.report_timeout:g} s", True)
        failures = reports.close(silent)
        spent = next((f for f in failures.values() if f.name in _RENEW_NAMES), None)
        if spent is not None and client.fatal is None:
            client.fatal = str(spent)
            self._logger.warning(
                "kafka producer id refused; a new producer takes the next batch", error=str(spent)
            )
        return failures

    def _error(self, failures: Mapping[int, MessageError], total: int, *, spent: str = "") -> DeliveryError:
        names = Counter(failure.name for failure in failures.values())
        commonest, _ = names.most_common(1)[0]
        reason = next(f.reason for f in failures.values() if f.name == commonest)
        others = len(names) - 1
        message = (
            f"{self.name}: {len(failures)} of {total} events not delivered to topic {self.topic!r} "
            f"on {self.brokers}: {commonest} ({reason})"
            + (f" and {others} other error{'s' if others > 1 else ''}" if others else "")
            + spent
        )
        return DeliveryError(
            self.scrub(message),
            retryable=not spent and any(failure.retryable for failure in failures.values()),
            component="events",
            operation=f"channel:{self.name}",
            details={
                "topic": self.topic,
                "brokers": self.brokers,
                "failed": len(failures),
                "errors": dict(names),
            },
        )

    async def send(self, payload: Batch[Event]) -> None:
        """Produce ``payload.items`` and wait for their delivery reports."""
        events = payload.items
        if not events:
            return
        batch = payload if isinstance(payload, ItemBatch) else None
        spent = batch.attempt() if batch is not None else ""
        failures = await self._produce(events)
        if batch is not None:
            if failures:
                batch.outcomes[:] = [failures.get(index) for index in range(len(events))]
            else:
                batch.outcomes[:] = [None] * len(events)
            if len(failures) < len(events):
                return  # some went through: the channel resends or dead-letters the others
        if failures:
            raise self._error(failures, len(events), spent=spent)

    async def aclose(self) -> None:
        """Flush what is queued (up to the message timeout), then close the producer and stop its thread;
        a later ``send`` makes a new producer."""
        with self._lock:
            client, self._client = self._client, None
        if client is None:
            return
        left = await to_thread(lambda: client.close(self.close_timeout))
        if left:
            self._logger.warning("kafka messages still queued at close were purged", messages=left)

    def __repr__(self) -> str:
        return f"KafkaSender(topic={self.topic!r}, brokers={self.brokers!r}, mode={self.encoder.mode!r})"


def build(
    settings: KafkaChannelSettings, ctx: ChannelContext, *, factory: ProducerFactory = _confluent_producer
) -> DeliveryChannel:
    """The ``kafka`` entry point: the channel ``settings`` describe, named ``ctx.name``.

    A ``KafkaSender`` composed by ``Delivery`` in a ``DeliveryChannel``: one ``deliver`` call is one
    ``ItemBatch``, its messages produced together and their reports awaited together. A batch of which no
    message was delivered goes through the delivery's retries, breaker and in-flight bound, and a give-up
    dead-letters it; once some went through, the channel settles the others one by one (a message refused
    for good dead-lettered with its error, the transient ones produced again, alone, after the retry
    policy's ``delay``). An event is produced at most ``max_retries + 1`` times in all.

    Nothing connects yet: the producer is made (by ``factory``, a test's fake) at the first delivery.
    Raises ``ValidationError`` when ``options`` names a setting the channel owns (see ``producer_config``).
    """
    config = producer_config(settings, client_id=f"sharedconfig-{ctx.name}")
    sender = KafkaSender(
        config,
        settings.topic,
        KafkaEncoder(settings.mode, key_by=settings.key),
        name=ctx.name,
        secrets=secret_options(plain_options(settings)),
        logger=ctx.logger,
        factory=factory,
    )
    return ctx.channel(sender, settings, encoder=ItemBatches(), redact=sender.secrets)
