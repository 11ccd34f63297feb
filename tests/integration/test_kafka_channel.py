"""The kafka channel against a real broker (tansu): the ids, keys and attributes a separate consumer reads
back in both modes, delivery reports counting what arrived, and a proxy cut failing deliveries (dead-lettered)
until the proxy is restored, with the same channel and producer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from integration.servers import ProxiedBroker, Server, require_module

kafka = require_module("confluent_kafka", "kafka")
from cloudevents.core.bindings import kafka as sdk_kafka  # noqa: E402
from cloudevents.core.formats.json import JSONFormat  # noqa: E402

from sharedconfig.clock import SYSTEM_CLOCK  # noqa: E402
from sharedconfig.monitoring.events import Event, from_kafka_binary, from_structured  # noqa: E402
from sharedconfig.monitoring.events.channel import ChannelContext, DeliveryChannel, build_channel  # noqa: E402
from sharedconfig.monitoring.events.deadletter import REASON_ATTRIBUTE, DeadLetterFile, read  # noqa: E402
from sharedconfig.monitoring.settings import KafkaChannelSettings  # noqa: E402
from sharedconfig.testing import NullMetricsRecorder, RecordingLogger  # noqa: E402

pytestmark = pytest.mark.integration

FAST_RECONNECT = {"reconnect.backoff.ms": "100", "reconnect.backoff.max.ms": "500"}
"""librdkafka waits up to 10 s between reconnects by default; a restored proxy should be seen at once."""

CONSUME_TIMEOUT = 30.0
"""Real seconds a consumer may take to read back what was produced."""


def channel(tmp_path: Path, brokers: str, topic: str, **values: Any) -> DeliveryChannel:
    """A kafka channel built from settings through the entry point, on the system clock."""
    settings = KafkaChannelSettings.model_validate(
        {"brokers": [brokers], "topic": topic, "options": dict(FAST_RECONNECT), **values}
    )
    ctx = ChannelContext(
        "kafka",
        SYSTEM_CLOCK,
        RecordingLogger(),
        NullMetricsRecorder(),
        DeadLetterFile(tmp_path / "kafka.jsonl", fsync=False),
        500,
    )
    built = build_channel(settings, ctx)
    assert isinstance(built, DeliveryChannel)
    return built


def new_events(n: int, tag: str = "e") -> list[Event]:
    """``n`` events over 7 subjects (so keys repeat), each with its number in its data."""
    return [
        Event("com.example.order", "/tests/kafka", data={"n": i, "tag": tag}, subject=f"order/{i % 7}")
        for i in range(n)
    ]


def read_messages(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Every message of ``topic`` from the start of each partition, by a separate consumer (no group)."""
    consumer = kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False, **FAST_RECONNECT}
    )
    found: list[Any] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + CONSUME_TIMEOUT
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            found.append(message)
        # a little longer, so that a message too many (a duplicate) would be seen
        extra = consumer.poll(1.0)
        if extra is not None and extra.error() is None:
            found.append(extra)
    finally:
        consumer.close()
    assert len(found) >= expected, f"{len(found)} of {expected} messages after {CONSUME_TIMEOUT}s"
    return found


def deliver(ch: DeliveryChannel, events: list[Event], *, close: bool = True) -> int:
    """``ch.deliver(events)`` on a fresh loop, then close the channel unless told not to."""

    async def main() -> int:
        try:
            return await ch.deliver(events)
        finally:
            if close:
                await ch.aclose()

    return asyncio.run(main())


def sdk_message(message: Any) -> Any:
    """A confluent-kafka message as the CloudEvents SDK's KafkaMessage."""
    return sdk_kafka.KafkaMessage(dict(message.headers() or []), message.key(), message.value())


class TestBinaryMode:
    def test_a_separate_consumer_reads_every_event_back(self, tansu: Server, tmp_path: Path) -> None:
        """300 events in one batch: all reported delivered, and a consumer reads each id exactly once, with
        its subject as the key and its attributes and data as ce_ headers and value (ours and the SDK's
        decoder agree)."""
        topic = f"t-{uuid.uuid4().hex}"
        events = new_events(300)
        assert deliver(channel(tmp_path, tansu.address, topic), events) == 300
        messages = read_messages(tansu.address, topic, 300)
        sent = {event.id: event for event in events}
        assert sorted(from_kafka_binary(m.headers(), m.value()).id for m in messages) == sorted(sent)
        for message in messages:
            ours = from_kafka_binary(message.headers(), message.value())
            assert ours == sent[ours.id]
            assert message.key() == ours.subject.encode()  # type: ignore[union-attr]
            sdk = sdk_kafka.from_binary(sdk_message(message), JSONFormat())
            assert (sdk.get_id(), sdk.get_type(), sdk.get_data()) == (ours.id, ours.type, ours.data)
        assert not (tmp_path / "kafka.jsonl").exists()

    def test_batches_in_parallel_and_one_producer(self, tansu: Server, tmp_path: Path) -> None:
        """Ten batches of 500 delivered at once through one channel: 5000 reported, 5000 ids read back."""
        topic = f"t-{uuid.uuid4().hex}"
        ch = channel(tmp_path, tansu.address, topic, compression="lz4")
        batches = [new_events(500, tag=str(b)) for b in range(10)]

        async def main() -> list[int]:
            try:
                return list(await asyncio.gather(*(ch.deliver(batch) for batch in batches)))
            finally:
                await ch.aclose()

        assert asyncio.run(main()) == [500] * 10
        ids = {event.id for batch in batches for event in batch}
        read = [
            from_kafka_binary(m.headers(), m.value()).id for m in read_messages(tansu.address, topic, 5000)
        ]
        assert set(read) == ids and len(read) == 5000


class TestStructuredMode:
    def test_the_value_is_the_json_event(self, tansu: Server, tmp_path: Path) -> None:
        """Structured mode: one content-type header, the CloudEvent JSON as the value, the subject as key;
        both our decoder and the SDK's structured (and auto-detecting) binding read it."""
        topic = f"t-{uuid.uuid4().hex}"
        events = new_events(20)
        assert deliver(channel(tmp_path, tansu.address, topic, mode="structured"), events) == 20
        messages = read_messages(tansu.address, topic, 20)
        assert sorted(from_structured(m.value()).id for m in messages) == sorted(e.id for e in events)
        for message in messages:
            assert message.headers() == [("content-type", b"application/cloudevents+json; charset=utf-8")]
            document = json.loads(message.value())
            assert message.key() == document["subject"].encode()
            sdk = sdk_kafka.from_kafka(sdk_message(message), JSONFormat())
            assert (sdk.get_id(), sdk.get_data()) == (document["id"], document["data"])


class TestOutage:
    def test_a_cut_dead_letters_and_a_restore_delivers_again(
        self, tansu_via_proxy: ProxiedBroker, tmp_path: Path
    ) -> None:
        """Through the proxy, with a 2 s timeout and one retry: delivered; then, cut, 0 delivered and the
        batch dead-lettered as timed out; then, restored, the same channel delivers again (tansu refuses
        the epoch librdkafka bumps after a timeout, once: the retry goes through a new producer). The
        consumer reads exactly what was reported delivered."""
        bootstrap, topic = tansu_via_proxy.address, f"t-{uuid.uuid4().hex}"
        retry = {"max_retries": 1, "retry_delay": "100ms", "jitter": "none"}
        ch = channel(
            tmp_path, bootstrap, topic, timeout="2s", retry=retry, circuit_breaker={"enabled": False}
        )
        before, during, after = new_events(5, "before"), new_events(5, "during"), new_events(5, "after")

        async def main() -> tuple[int, int, int, float]:
            try:
                first = await ch.deliver(before)
                tansu_via_proxy.proxy.cut()
                start = time.monotonic()
                second = await ch.deliver(during)
                waited = time.monotonic() - start
                tansu_via_proxy.proxy.restore()
                third = await ch.deliver(after)
                return first, second, third, waited
            finally:
                await ch.aclose()

        first, second, third, waited = asyncio.run(main())
        assert (first, second, third) == (5, 0, 5)
        assert waited < 2 * (2.0 + 5.0) + 1.0  # two attempts' timeout and report grace: never a hang
        dead = list(read(tmp_path / "kafka.jsonl"))
        assert [e.id for e in dead] == [e.id for e in during]
        reasons = [
            json.loads(line)[REASON_ATTRIBUTE] for line in (tmp_path / "kafka.jsonl").read_text().splitlines()
        ]
        assert all("_MSG_TIMED_OUT" in reason and topic in reason for reason in reasons)
        read_ids = [from_kafka_binary(m.headers(), m.value()).id for m in read_messages(bootstrap, topic, 10)]
        assert sorted(read_ids) == sorted(e.id for e in before + after)

    def test_retries_outlast_a_short_cut(self, tansu_via_proxy: ProxiedBroker, tmp_path: Path) -> None:
        """A cut of about 3 s while a batch is produced with a 2 s timeout and 5 retries: the batch is
        delivered once the proxy is back, every id read back, nothing dead-lettered."""
        bootstrap, topic = tansu_via_proxy.address, f"t-{uuid.uuid4().hex}"
        ch = channel(
            tmp_path,
            bootstrap,
            topic,
            timeout="2s",
            retry={"max_retries": 5, "retry_delay": "500ms", "max_retry_delay": "1s"},
            circuit_breaker={"enabled": False},
        )
        events = new_events(50)

        async def main() -> int:
            try:
                assert await ch.deliver(new_events(1, "warm")) == 1  # metadata and the topic, before the cut
                tansu_via_proxy.proxy.cut()
                loop = asyncio.get_running_loop()
                loop.call_later(3.0, tansu_via_proxy.proxy.restore)
                return await asyncio.wait_for(ch.deliver(events), 40)
            finally:
                await ch.aclose()

        assert asyncio.run(main()) == 50
        assert not (tmp_path / "kafka.jsonl").exists()
        read_ids = {from_kafka_binary(m.headers(), m.value()).id for m in read_messages(bootstrap, topic, 51)}
        assert {e.id for e in events} <= read_ids
