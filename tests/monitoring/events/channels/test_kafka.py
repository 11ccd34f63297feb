"""The kafka channel: settings to librdkafka, the message layout of both modes (read back by our decoders
and the CloudEvents SDK), delivery reports driving the counts, retries, dead letters and secrets, on a
fake producer and a FakeClock."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import KafkaError, KafkaException

from sharedconfig.delivery import DeliveryError
from sharedconfig.errors import ValidationError
from sharedconfig.monitoring.events import Event, from_kafka_binary, from_structured
from sharedconfig.monitoring.events.channel import (
    Channel,
    ChannelContext,
    DeliveryChannel,
    ItemBatch,
    build_channel,
)
from sharedconfig.monitoring.events.channels import kafka as kafka_module
from sharedconfig.monitoring.events.channels.kafka import (
    OWNED_OPTIONS,
    KafkaEncoder,
    KafkaSender,
    MessageError,
    build,
    is_transient,
    producer_config,
    secret_options,
)
from sharedconfig.monitoring.events.deadletter import REASON_ATTRIBUTE, DeadLetterFile, read
from sharedconfig.monitoring.settings import KafkaChannelSettings
from sharedconfig.redaction import REDACTED
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

EPOCH = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PASSWORD = "sasl-canary-4c2e9a"
JAAS = "jaas-canary-81f0"
BROKERS = ("kafka-1:9092", "kafka-2:9092")
HOLD = object()
"""A verdict that keeps a message without a report (as a broker that never answers)."""

Verdict = Callable[["FakeMessage"], "KafkaError | object | None"]


def events(n: int, **fields: Any) -> list[Event]:
    """``n`` small events with distinct subjects."""
    return [
        Event("com.example.order", "/tests", data={"n": i}, subject=f"order/{i}", **fields) for i in range(n)
    ]


# -- a fake confluent_kafka.Producer ----------------------------------------------------------------------


@dataclass
class FakeMessage:
    """What a delivery report carries: the produced message."""

    topic: str
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> bytes | None:
        """The value of header ``name``."""
        return dict(self.headers).get(name)


@dataclass
class FakeProducer:
    """confluent_kafka.Producer's surface: ``produce`` queues a report decided by ``verdict`` (None:
    delivered, a KafkaError, or HOLD for none); ``poll``/``flush`` serve the queued reports on the calling
    thread."""

    config: dict[str, Any]
    verdict: Verdict = lambda message: None
    refuse: Callable[[FakeMessage], BaseException | None] = lambda message: None
    sent: list[FakeMessage] = field(default_factory=list)
    produced: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    _queue: deque[tuple[Any, KafkaError | None, FakeMessage]] = field(default_factory=deque)
    _held: list[tuple[Any, FakeMessage]] = field(default_factory=list)
    _ready: threading.Condition = field(default_factory=threading.Condition)

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Any = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one message, or raise what ``refuse`` says."""
        message = FakeMessage(topic, value, key, list(headers or []))
        refused = self.refuse(message)
        if refused is not None:
            raise refused
        verdict = self.verdict(message)
        with self._ready:
            self.sent.append(message)
            if verdict is HOLD:
                self._held.append((on_delivery, message))
            else:
                assert verdict is None or isinstance(verdict, KafkaError)
                self._queue.append((on_delivery, verdict, message))
            self._ready.notify_all()
        self.produced.set()

    def poll(self, timeout: float = -1) -> int:
        """Serve the queued reports (waiting up to ``timeout`` real seconds for one, on the poll thread)."""
        with self._ready:
            if not self._queue and timeout:
                self._ready.wait(None if timeout < 0 else timeout)
            due = list(self._queue)
            self._queue.clear()
        for callback, error, message in due:
            callback(error, message)
        return len(due)

    def flush(self, timeout: float = -1) -> int:
        """Serve every queued report; how many messages are still held."""
        self.poll(0)
        return len(self._held)

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        """Held messages get a _PURGE_QUEUE report at the next poll."""
        with self._ready:
            for callback, message in self._held:
                self._queue.append((callback, KafkaError(KafkaError._PURGE_QUEUE), message))
            self._held.clear()

    def close(self) -> bool:
        """Remember the close."""
        self.closed = True
        return True

    def __len__(self) -> int:
        """Messages whose report was not served yet."""
        with self._ready:
            return len(self._queue) + len(self._held)

    def error(self, error: KafkaError) -> None:
        """librdkafka reporting a client error through ``error_cb``."""
        self.config["error_cb"](error)


class Producers:
    """A ``ProducerFactory`` keeping every producer it made, each with the same verdict."""

    def __init__(self, verdict: Verdict = lambda message: None) -> None:
        self.made: list[FakeProducer] = []
        self.verdict = verdict
        self.refuse: Callable[[FakeMessage], BaseException | None] = lambda message: None
        self.config_error: KafkaError | None = None

    def __call__(self, config: dict[str, Any]) -> FakeProducer:
        if self.config_error is not None:
            raise KafkaException(self.config_error)
        producer = FakeProducer(config, self.verdict, self.refuse)
        self.made.append(producer)
        return producer

    @property
    def last(self) -> FakeProducer:
        """The producer made last."""
        return self.made[-1]

    def sent(self) -> list[FakeMessage]:
        """Every message produced, by every producer."""
        return [message for producer in self.made for message in producer.sent]


# -- rigs -------------------------------------------------------------------------------------------------


def settings(**values: Any) -> KafkaChannelSettings:
    """Kafka settings on BROKERS, 2 retries (1 s then 2 s, no jitter), no breaker, with ``values``."""
    base: dict[str, Any] = {
        "brokers": list(BROKERS),
        "topic": "events",
        "retry": {"max_retries": 2, "retry_delay": "1s", "jitter": "none", "max_retry_delay": "30s"},
        "circuit_breaker": {"enabled": False},
    }
    return KafkaChannelSettings.model_validate({**base, **values})


@dataclass
class Rig:
    """A built channel, its producers, clock, logger and dead-letter file."""

    channel: DeliveryChannel
    producers: Producers
    clock: FakeClock
    logger: RecordingLogger
    dead: Path

    def deliver(self, batch: list[Event], *, close: bool = True) -> int:
        """Deliver ``batch`` autojumping the clock (then close the channel); events delivered."""

        async def main() -> int:
            try:
                return await self.clock.autojump(self.channel.deliver(batch))
            finally:
                if close:
                    await self.channel.aclose()

        return asyncio.run(main())

    def dead_letters(self) -> list[Event]:
        """The events in the dead-letter file."""
        return list(read(self.dead)) if self.dead.exists() else []

    def reasons(self) -> list[str]:
        """The reason written on each line of the dead-letter file."""
        lines = self.dead.read_text().splitlines() if self.dead.exists() else []
        return [json.loads(line)[REASON_ATTRIBUTE] for line in lines]


def context(
    tmp_path: Path, clock: FakeClock | None = None, logger: RecordingLogger | None = None
) -> ChannelContext:
    """A channel context named ``kafka`` with a dead-letter file in ``tmp_path``."""
    clock = clock or FakeClock(epoch=EPOCH)
    return ChannelContext(
        "kafka",
        clock,
        logger or RecordingLogger(),
        InMemoryMetricsRecorder(),
        DeadLetterFile(tmp_path / "dead.jsonl", fsync=False, clock=clock),
        100,
    )


@pytest.fixture
def rig(tmp_path: Path) -> Callable[..., Rig]:
    """Build rigs: ``rig(verdict, **settings)``."""

    def make(verdict: Verdict = lambda message: None, **values: Any) -> Rig:
        clock, logger = FakeClock(epoch=EPOCH), RecordingLogger()
        producers = Producers(verdict)
        channel = build(settings(**values), context(tmp_path, clock, logger), factory=producers)
        return Rig(channel, producers, clock, logger, tmp_path / "dead.jsonl")

    return make


def fails(
    code: int, *, times: int = 1_000_000, when: Callable[[FakeMessage], bool] = lambda m: True
) -> Verdict:
    """A verdict failing with ``code`` the first ``times`` messages for which ``when`` holds."""
    left = [times]

    def verdict(message: FakeMessage) -> KafkaError | None:
        if when(message) and left[0] > 0:
            left[0] -= 1
            return KafkaError(code)
        return None

    return verdict


def subject_is(subject: str) -> Callable[[FakeMessage], bool]:
    """The message's ce_subject header is ``subject``."""
    return lambda message: message.header("ce_subject") == subject.encode()


# -- settings to librdkafka -------------------------------------------------------------------------------


class TestProducerConfig:
    def test_settings_map_to_librdkafka(self) -> None:
        """Brokers, idempotence with acks=all, compression, linger and timeout become librdkafka's keys."""
        config = producer_config(
            settings(
                compression="lz4", linger="20ms", timeout="3s", options={"socket.keepalive.enable": "true"}
            ),
            client_id="sharedconfig-orders",
        )
        assert config == {
            "bootstrap.servers": "kafka-1:9092,kafka-2:9092",
            "client.id": "sharedconfig-orders",
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 20,
            "message.timeout.ms": 3000,
            "socket.keepalive.enable": "true",
        }

    def test_defaults(self) -> None:
        """zstd, 5 ms of linger and a 10 s message timeout by default; a fractional linger stays so."""
        config = producer_config(settings())
        assert (config["compression.type"], config["linger.ms"], config["message.timeout.ms"]) == (
            "zstd",
            5,
            10_000,
        )
        assert producer_config(settings(linger="2500us"))["linger.ms"] == 2.5

    def test_librdkafka_accepts_the_config(self) -> None:
        """A real confluent-kafka producer is made from the mapped config (options included) and closed."""
        config = producer_config(settings(compression="gzip", options={"client.rack": "r1"}))
        producer = confluent_kafka.Producer({**config, "bootstrap.servers": "127.0.0.1:9", "log_level": 0})
        assert producer.close()

    @pytest.mark.parametrize("key", sorted(OWNED_OPTIONS))
    def test_options_cannot_override_what_the_channel_owns(self, key: str) -> None:
        """An owned key in options is VALIDATION_006 at build, naming the key, never its value."""
        with pytest.raises(ValidationError) as caught:
            producer_config(settings(options={key: PASSWORD}))
        assert caught.value.code == "VALIDATION_006" and caught.value.path == f"options.{key}"
        assert PASSWORD not in str(caught.value) and PASSWORD not in caught.value.hint

    def test_linger_must_be_shorter_than_the_timeout(self) -> None:
        """librdkafka refuses linger.ms >= message.timeout.ms: caught at build instead."""
        with pytest.raises(ValidationError, match="linger") as caught:
            producer_config(settings(linger="10s", timeout="10s"))
        assert caught.value.path == "linger"

    def test_secret_options(self) -> None:
        """Passwords, secrets, JAAS configs and PEM keys are secrets; protocols and user names are not."""
        options = {
            "sasl.password": PASSWORD,
            "sasl.jaas.config": JAAS,
            "ssl.key.pem": "pem-canary",
            "sasl.oauthbearer.client.secret": "oauth-canary",
            "sasl.username": "app",
            "security.protocol": "SASL_SSL",
        }
        assert sorted(secret_options(options)) == sorted([PASSWORD, JAAS, "pem-canary", "oauth-canary"])


# -- the message layout -----------------------------------------------------------------------------------


def _sdk_matches(sdk: Any, event: Event) -> None:
    """The SDK read every attribute and the data of ``event``."""
    assert (sdk.get_id(), sdk.get_source(), sdk.get_type()) == (event.id, event.source, event.type)
    assert sdk.get_subject() == event.subject and sdk.get_time() == event.time
    assert sdk.get_extension("severity") == event.severity.value
    assert sdk.get_extension("tenant") == "acme"
    assert sdk.get_data() == event.data


class TestEncoder:
    def event(self) -> Event:
        """An event with data, a subject and an extension."""
        return Event(
            "com.example.order",
            "/svc/orders",
            data={"n": 1},
            subject="order/42",
            extensions={"tenant": "acme"},
        )

    def test_binary_mode_is_ce_headers_and_the_data(self) -> None:
        """Binary: content-type and ce_ headers, the data as the value, the subject as the key; our decoder
        and the SDK's Kafka binding read the same event back."""
        event = self.event()
        headers, value, key = KafkaEncoder("binary").encode(event)
        names = [name for name, _ in headers]
        assert names[0] == "content-type" and {"ce_id", "ce_source", "ce_type", "ce_specversion"} <= set(
            names
        )
        assert json.loads(value) == {"n": 1} and key == b"order/42"
        assert from_kafka_binary(headers, value) == event
        sdk = sdk_kafka.from_binary(sdk_kafka.KafkaMessage(dict(headers), key, value), JSONFormat())
        _sdk_matches(sdk, event)
        assert sdk.get_extension("partitionkey") == "order/42"

    def test_structured_mode_is_the_json_envelope(self) -> None:
        """Structured: one content-type header, the structured JSON event as the value, the same key."""
        event = self.event()
        headers, value, key = KafkaEncoder("structured").encode(event)
        assert headers == [("content-type", b"application/cloudevents+json; charset=utf-8")]
        assert key == b"order/42" and from_structured(value) == event
        sdk = sdk_kafka.from_structured(sdk_kafka.KafkaMessage(dict(headers), key, value), JSONFormat())
        _sdk_matches(sdk, event)
        assert (
            sdk_kafka.from_kafka(sdk_kafka.KafkaMessage(dict(headers), key, value), JSONFormat()).get_id()
            == event.id
        )

    @pytest.mark.parametrize(
        "key_by",
        [
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "severity",
            "category",
            "traceparent",
            "sampledrate",
            "specversion",
            "tenant",
            "absent",
        ],
    )
    def test_both_modes_key_alike(self, key_by: str) -> None:
        """Any attribute or extension gives the same key in both modes (None when the event has none)."""
        event = Event(
            "t",
            "/s",
            subject="a",
            extensions={"tenant": "acme"},
            sampledrate=4,
            dataschema="https://example.com/s.json",
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        binary = KafkaEncoder("binary", key_by=key_by).encode(event)[2]
        assert KafkaEncoder("structured", key_by=key_by).encode(event)[2] == binary
        assert (binary is None) == (key_by == "absent")

    @pytest.mark.parametrize("mode", ["binary", "structured"])
    def test_secrets_in_the_event_are_redacted(self, mode: str) -> None:
        """A password in data and in the subject's URL never reaches the message, its key included."""
        event = Event("t", "/s", data={"password": PASSWORD}, subject=f"redis://app:{PASSWORD}@cache:6379")
        headers, value, key = KafkaEncoder(mode).encode(event)
        assert PASSWORD.encode() not in value + (key or b"") + b"".join(v for _, v in headers)
        assert key == f"redis://app:{REDACTED}@cache:6379".encode()

    def test_an_unknown_mode_is_refused(self) -> None:
        """Only binary and structured exist."""
        with pytest.raises(ValueError, match="mode"):
            KafkaEncoder("batch")


# -- delivery reports drive the counts --------------------------------------------------------------------


class TestDelivery:
    def test_every_report_delivered(self, rig: Callable[..., Rig]) -> None:
        """All reports fine: deliver returns the batch size; one message per event, in order, to the topic."""
        r = rig()
        batch = events(5)
        assert r.deliver(batch) == 5
        sent = r.producers.sent()
        assert [m.topic for m in sent] == ["events"] * 5
        assert [from_kafka_binary(m.headers, m.value).id for m in sent] == [e.id for e in batch]
        assert [m.key for m in sent] == [f"order/{i}".encode() for i in range(5)]
        assert r.dead_letters() == [] and list(r.clock.jumps) == []

    def test_the_producer_is_made_lazily_and_closed(self, rig: Callable[..., Rig]) -> None:
        """No producer before the first delivery; aclose flushes and closes it and stops its thread."""
        r = rig()
        assert r.producers.made == []
        r.deliver(events(1))
        (producer,) = r.producers.made
        assert producer.closed
        assert producer.config["enable.idempotence"] is True and producer.config["acks"] == "all"
        assert not [t for t in threading.enumerate() if t.name.startswith("sharedconfig-kafka")]

    def test_a_batch_waits_for_its_reports_without_a_thread_of_its_own(
        self, rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Once the producer is made, a batch goes to the producer's thread and its last report wakes the
        waiting task: no worker-thread call and no thread started per batch."""
        r = rig()
        started: list[str] = []

        def forbidden(fn: object) -> object:
            raise AssertionError("a batch went to a worker thread")

        def start(thread: threading.Thread) -> None:
            started.append(thread.name)
            real_start(thread)

        real_start = threading.Thread.start

        async def main() -> tuple[int, int]:
            first = await r.channel.deliver(events(2))  # makes the producer and its thread
            with monkeypatch.context() as patched:
                patched.setattr(kafka_module, "to_thread", forbidden)
                patched.setattr(threading.Thread, "start", start)
                second = await r.channel.deliver(events(3))
            await r.channel.aclose()
            return first, second

        assert asyncio.run(main()) == (2, 3)
        assert started == [] and len(r.producers.made) == 1

    def test_a_transient_failure_resends_only_the_failed_message(self, rig: Callable[..., Rig]) -> None:
        """One message times out once: the count still reaches 5 and only that event is produced again,
        after the retry policy's first delay."""
        r = rig(fails(KafkaError._MSG_TIMED_OUT, times=1, when=subject_is("order/2")))
        batch = events(5)
        assert r.deliver(batch) == 5
        subjects = [m.header("ce_subject") for m in r.producers.sent()]
        assert subjects == [f"order/{i}".encode() for i in range(5)] + [b"order/2"]
        assert list(r.clock.jumps) == [1.0] and r.dead_letters() == []

    def test_a_permanent_failure_is_dead_lettered_alone(self, rig: Callable[..., Rig]) -> None:
        """A message too large is not retried: 4 of 5 delivered, that event dead-lettered with its error."""
        r = rig(fails(KafkaError.MSG_SIZE_TOO_LARGE, when=subject_is("order/3")))
        batch = events(5)
        assert r.deliver(batch) == 4
        assert len(r.producers.sent()) == 5
        (dead,) = r.dead_letters()
        assert dead.id == batch[3].id and "MSG_SIZE_TOO_LARGE" in r.reasons()[0]

    def test_a_message_failing_every_time_is_dead_lettered_after_the_retries(
        self, rig: Callable[..., Rig]
    ) -> None:
        """A message that keeps timing out while the others of each resend go through is produced 3 times
        (the first try and 2 resends), then dead-lettered; the others all count."""
        failures = {"order/1": 1_000_000, "order/2": 1, "order/3": 2}

        def verdict(message: FakeMessage) -> KafkaError | None:
            subject = (message.header("ce_subject") or b"").decode()
            if failures.get(subject, 0) > 0:
                failures[subject] -= 1
                return KafkaError(KafkaError._MSG_TIMED_OUT)
            return None

        r = rig(verdict)
        assert r.deliver(events(4)) == 3
        assert [m.header("ce_subject") for m in r.producers.sent()].count(b"order/1") == 3
        assert [e.subject for e in r.dead_letters()] == ["order/1"]
        assert "not delivered after 3 attempts: _MSG_TIMED_OUT" in r.reasons()[0]
        assert list(r.clock.jumps) == [1.0, 2.0]

    def test_a_resend_failing_whole_shares_the_count(self, rig: Callable[..., Rig]) -> None:
        """A resend of one message that fails whole is a failed batch, retried by the delivery within the
        same count: the message is produced 3 times in all (max_retries + 1), then dead-lettered."""
        r = rig(fails(KafkaError._MSG_TIMED_OUT, when=subject_is("order/1")))
        assert r.deliver(events(3)) == 2
        assert [m.header("ce_subject") for m in r.producers.sent()].count(b"order/1") == 3
        assert [e.subject for e in r.dead_letters()] == ["order/1"]
        assert "1 of 1 events not delivered" in r.reasons()[0] and "retries spent" in r.reasons()[0]

    def test_a_broker_down_retries_the_batch_then_dead_letters_it(self, rig: Callable[..., Rig]) -> None:
        """Every message timing out fails the batch: the delivery retries it whole, then dead-letters all of
        it with a reason naming the topic and the brokers; nothing counts as delivered."""
        r = rig(fails(KafkaError._MSG_TIMED_OUT))
        batch = events(4)
        assert r.deliver(batch) == 0
        assert len(r.producers.sent()) == 12
        dead = r.dead_letters()
        assert [e.id for e in dead] == [e.id for e in batch]
        reason = r.reasons()[0]
        assert "4 of 4 events not delivered to topic 'events' on kafka-1:9092,kafka-2:9092" in reason
        assert "_MSG_TIMED_OUT" in reason

    def test_a_broker_back_before_the_retries_end_delivers_everything(self, rig: Callable[..., Rig]) -> None:
        """A batch that failed whole twice goes through on the third attempt: all counted, none dead."""
        r = rig(fails(KafkaError._ALL_BROKERS_DOWN, times=6))
        assert r.deliver(events(3)) == 3
        assert len(r.producers.sent()) == 9 and r.dead_letters() == []

    def test_an_event_that_cannot_be_encoded_is_dead_lettered(self, rig: Callable[..., Rig]) -> None:
        """Data that is not JSON (NaN) never leaves; the other events are delivered."""
        r = rig()
        batch = [*events(2), Event("t", "/s", data={"x": float("nan")})]
        assert r.deliver(batch) == 2
        assert len(r.producers.sent()) == 2
        letters = r.channel.dead_letter
        assert letters is not None and letters.lost == 1  # the dead-letter file cannot write it either

    def test_a_full_local_queue_waits_for_room(self, rig: Callable[..., Rig]) -> None:
        """produce raising BufferError once (librdkafka's queue full) is tried again after a poll."""
        r = rig()
        left = [1]

        def refuse(message: FakeMessage) -> BaseException | None:
            if left[0]:
                left[0] -= 1
                return BufferError("Local: Queue full")
            return None

        r.producers.refuse = refuse
        assert r.deliver(events(2)) == 2

    def test_produce_refusing_a_message_fails_it_alone(self, rig: Callable[..., Rig]) -> None:
        """A KafkaException from produce (a message too large for the client) fails that message only."""
        r = rig()
        r.producers.refuse = lambda m: (
            KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)) if subject_is("order/0")(m) else None
        )
        assert r.deliver(events(2)) == 1
        assert [e.subject for e in r.dead_letters()] == ["order/0"]

    def test_a_missing_report_counts_as_a_transient_failure(self, tmp_path: Path) -> None:
        """A report that never comes ends the wait at report_timeout: the message is failed and resent."""
        held = [True]

        def verdict(message: FakeMessage) -> object | None:
            if held[0]:
                held[0] = False
                return HOLD
            return None

        producers = Producers(verdict)
        sender = KafkaSender({"bootstrap.servers": "k:9092"}, "events", factory=producers, report_timeout=0)
        batch = ItemBatch.of(events(1))

        async def main() -> None:
            try:
                await sender.send(batch)
            finally:
                await sender.aclose()

        with pytest.raises(DeliveryError, match="_NO_REPORT"):
            asyncio.run(main())
        assert batch.outcomes == [MessageError("_NO_REPORT", "no delivery report within 0 s", True)]

    def test_close_fails_what_is_still_waiting(self, rig: Callable[..., Rig]) -> None:
        """aclose while a batch waits for a report flushes, purges the rest and stops: the waiting batch
        ends at once, its message dead-lettered as purged (not retried)."""
        r = rig(lambda message: HOLD)

        async def main() -> int:
            task = asyncio.ensure_future(r.channel.deliver(events(1)))
            while not r.producers.made:
                await asyncio.sleep(0)
            await asyncio.to_thread(r.producers.last.produced.wait, 10)
            await r.channel.aclose()
            return await task

        assert asyncio.run(main()) == 0
        assert len(r.dead_letters()) == 1
        assert "_PURGE_QUEUE" in r.reasons()[0]
        assert r.producers.last.closed

    def test_a_fatal_error_replaces_the_producer(self, rig: Callable[..., Rig]) -> None:
        """After librdkafka reports a fatal error, the next batch goes through a new producer."""
        r = rig()

        async def main() -> tuple[int, int]:
            first = await r.channel.deliver(events(1))
            r.producers.last.error(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
            second = await r.channel.deliver(events(1))
            await r.channel.aclose()
            return first, second

        assert asyncio.run(main()) == (1, 1)
        assert len(r.producers.made) == 2 and all(p.closed for p in r.producers.made)
        assert any(rec.level == "error" for rec in r.logger.records)

    def test_a_spent_producer_id_renews_the_producer(self, rig: Callable[..., Rig]) -> None:
        """A batch refused as PRODUCER_FENCED (a broker refusing the epoch bumped after a timeout) is retried
        through a new producer, which delivers it."""
        r = rig(fails(KafkaError.PRODUCER_FENCED, times=3))
        assert r.deliver(events(3)) == 3
        assert len(r.producers.made) == 2 and r.producers.made[0].closed
        assert [len(p.sent) for p in r.producers.made] == [3, 3]

    def test_deliver_of_nothing_makes_no_producer(self, rig: Callable[..., Rig]) -> None:
        """An empty batch is 0 delivered, without a producer."""
        r = rig()
        assert r.deliver([]) == 0 and r.producers.made == []

    def test_a_plain_batch_fails_whole(self) -> None:
        """A sender given a plain Batch (DeliveryChannel's) raises when any message failed."""
        from sharedconfig.monitoring.metrics.push import Batch

        producers = Producers(fails(KafkaError._MSG_TIMED_OUT, times=1))
        sender = KafkaSender({"bootstrap.servers": "k:9092"}, "events", factory=producers)

        async def main() -> None:
            try:
                await sender.send(Batch(b"", tuple(events(2))))
            finally:
                await sender.aclose()

        with pytest.raises(DeliveryError, match="1 of 2 events") as caught:
            asyncio.run(main())
        assert caught.value.retryable is True


# -- errors and secrets -----------------------------------------------------------------------------------


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "transient"),
        [
            (KafkaError._MSG_TIMED_OUT, True),
            (KafkaError._TRANSPORT, True),
            (KafkaError._ALL_BROKERS_DOWN, True),
            (KafkaError.NOT_LEADER_FOR_PARTITION, True),
            (KafkaError.NOT_ENOUGH_REPLICAS, True),
            (KafkaError.REQUEST_TIMED_OUT, True),
            (KafkaError.PRODUCER_FENCED, True),
            (KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, True),
            (KafkaError.MSG_SIZE_TOO_LARGE, False),
            (KafkaError.TOPIC_AUTHORIZATION_FAILED, False),
            (KafkaError._INVALID_ARG, False),
            (KafkaError._UNKNOWN_TOPIC, False),
            (KafkaError._PURGE_QUEUE, False),
        ],
    )
    def test_transient_errors(self, code: int, transient: bool) -> None:
        """A broker down or moving is worth another attempt; a refused message or configuration is not."""
        assert is_transient(KafkaError(code)) is transient

    def test_retriable_and_fatal_errors_are_transient(self) -> None:
        """librdkafka's own retriable flag, and a fatal error (a new producer follows), are transient."""
        assert is_transient(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, retriable=True))
        assert is_transient(KafkaError(KafkaError._FATAL, fatal=True))

    def test_a_refused_configuration_fails_without_retries_or_secrets(self, rig: Callable[..., Rig]) -> None:
        """librdkafka refusing the config (quoting a value) fails the batch once, dead-lettered; no log line,
        reason or message shows the value or the password."""
        r = rig(options={"sasl.password": PASSWORD, "sasl.mechanisms": "PLAIN"})
        r.producers.config_error = KafkaError(
            KafkaError._INVALID_ARG, f'Invalid value "{PASSWORD}" for configuration property "sasl.password"'
        )
        assert r.deliver(events(2)) == 0
        dead = r.dead_letters()
        assert len(dead) == 2 and "_INVALID_ARG" in r.reasons()[0]
        assert PASSWORD not in r.dead.read_text()
        assert PASSWORD not in repr(r.logger.records)
        assert list(r.clock.jumps) == []  # not retried

    def test_librdkafka_log_lines_and_errors_are_scrubbed(self, rig: Callable[..., Rig]) -> None:
        """A librdkafka log line or client error quoting a secret option reaches the log scrubbed; warnings
        and above stay warnings, the rest is debug."""
        r = rig(options={"sasl.password": PASSWORD, "sasl.jaas.config": JAAS})
        r.deliver(events(1), close=False)
        config = r.producers.last.config
        config["logger"].log(40, "%s [%s] %s", "FAIL", "rdkafka#producer-1", f"auth {PASSWORD} refused")
        config["logger"].log(10, "%s [%s] %s", "CONF", "rdkafka#producer-1", f"jaas {JAAS}")
        r.producers.last.error(KafkaError(KafkaError._AUTHENTICATION, f"bad {PASSWORD}"))
        asyncio.run(r.channel.aclose())
        text = repr(r.logger.records)
        assert PASSWORD not in text and JAAS not in text and REDACTED in text
        levels = [
            (rec.level, rec.fields.get("line", "")) for rec in r.logger.records if rec.message == "librdkafka"
        ]
        assert [level for level, _ in levels] == ["warning", "debug"]

    def test_no_secret_in_repr(self, rig: Callable[..., Rig]) -> None:
        """The channel's, sender's and delivery's repr name the topic and brokers, never an option value."""
        r = rig(options={"sasl.password": PASSWORD, "sasl.jaas.config": JAAS})
        text = repr(r.channel) + repr(r.channel.delivery) + repr(r.channel.delivery.sender)
        assert "events" in text and "kafka-1:9092" in text
        assert PASSWORD not in text and JAAS not in text

    def test_delivery_error_names_topic_brokers_and_counts(self) -> None:
        """The sender's error says how many of the batch failed, where, and why; details carry the counts."""
        sender = KafkaSender({"bootstrap.servers": "k:9092"}, "orders", name="kafka", secrets=[PASSWORD])
        error = sender._error(
            {
                0: MessageError("_MSG_TIMED_OUT", "Local: Message timed out", True),
                1: MessageError("_MSG_TIMED_OUT", "Local: Message timed out", True),
                2: MessageError("MSG_SIZE_TOO_LARGE", f"too large {PASSWORD}", False),
            },
            5,
        )
        assert error.message == (
            "kafka: 3 of 5 events not delivered to topic 'orders' on k:9092: "
            "_MSG_TIMED_OUT (Local: Message timed out) and 1 other error"
        )
        assert error.retryable is True and error.code == "DELIVERY_001"
        assert error.details["errors"] == {"_MSG_TIMED_OUT": 2, "MSG_SIZE_TOO_LARGE": 1}
        assert PASSWORD not in sender.scrub(f"x {PASSWORD} y")


# -- the entry point --------------------------------------------------------------------------------------


class TestBuild:
    def test_entry_point(self, tmp_path: Path) -> None:
        """build_channel finds the kafka channel by its type; nothing connects until the first delivery."""
        channel = build_channel(settings(name="orders"), context(tmp_path))
        assert isinstance(channel, DeliveryChannel) and isinstance(channel, Channel)
        assert isinstance(channel.delivery.sender, KafkaSender)
        assert channel.name == "kafka"
        assert not [t for t in threading.enumerate() if t.name.startswith("sharedconfig-kafka")]

    def test_retry_and_breaker_come_from_the_settings(self, tmp_path: Path) -> None:
        """The delivery's retry policy and in-flight bound are the settings'."""
        channel = build(settings(max_in_flight=7), context(tmp_path), factory=Producers())
        assert channel.delivery.retry.max_retries == 2
        assert channel.delivery.bulkhead is not None and channel.delivery.bulkhead.max_concurrent == 7

    def test_timeout_bounds_the_wait_for_reports(self, tmp_path: Path) -> None:
        """A message may take ``timeout``; the sender waits that plus a grace for its report."""
        channel = build(settings(timeout="3s"), context(tmp_path), factory=Producers())
        sender = channel.delivery.sender
        assert isinstance(sender, KafkaSender)
        assert sender.close_timeout == 3.0 and sender.report_timeout == 3.0 + 5.0

    def test_owned_option_fails_the_build(self, tmp_path: Path) -> None:
        """A configuration weakening the producer's guarantees is refused when the channel is built."""
        with pytest.raises(ValidationError, match="acks"):
            build(settings(options={"acks": "1"}), context(tmp_path))
