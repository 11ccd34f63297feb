"""The tansu fixtures work: confluent-kafka produces to and consumes from a real tansu, and a proxy cut
makes a producer fail until the proxy is restored, with the broker's data intact."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from integration.servers import ProxiedBroker, Server, TcpProxy, require_module

kafka = require_module("confluent_kafka", "kafka")

pytestmark = pytest.mark.integration

FAST_RECONNECT = {"reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500}
"""librdkafka waits up to 10 s between reconnects by default; a restored proxy should be seen at once."""


def new_producer(bootstrap: str, **config: Any) -> Any:
    """An idempotent-style producer (acks=all) that reconnects quickly."""
    return kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all", **FAST_RECONNECT, **config})


def deliver(producer: Any, topic: str, ids: list[str]) -> dict[str, str | None]:
    """Produce one message per id (value = id), flush; each id's delivery error name, or None if delivered."""
    outcome: dict[str, str | None] = {}

    def report(error: Any, message: Any) -> None:
        outcome[message.value().decode()] = None if error is None else error.name()

    for message_id in ids:
        producer.produce(topic, value=message_id.encode(), on_delivery=report)
    assert producer.flush(30) == 0, "messages still queued after 30 s"
    return outcome


def produce(bootstrap: str, topic: str, ids: list[str]) -> dict[str, str | None]:
    """``deliver`` with a producer of its own, closed after."""
    producer = new_producer(bootstrap)
    try:
        return deliver(producer, topic, ids)
    finally:
        producer.close()


def consume(consumer: Any, expected: int, timeout: float = 30) -> list[str]:
    """Poll until ``expected`` messages arrived (failing after ``timeout`` real seconds); their values."""
    found: list[str] = []
    deadline = time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        found.append(message.value().decode())
    assert len(found) == expected, f"{len(found)} of {expected} messages after {timeout}s: {found}"
    return found


def read_topic(bootstrap: str, topic: str, expected: int) -> list[str]:
    """Every message of ``topic`` from the beginning of each partition, read without a consumer group."""
    consumer = kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False, **FAST_RECONNECT}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in partitions])
        return consume(consumer, expected)
    finally:
        consumer.close()


def broker_addresses(bootstrap: str) -> list[str]:
    """The ``host:port`` of every broker in the cluster metadata that ``bootstrap`` answers with."""
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return [f"{broker.host}:{broker.port}" for broker in metadata.brokers.values()]


def closed_by_peer(connection: socket.socket) -> bool:
    """Whether the other end closed ``connection`` (an end of stream, or a reset), within its timeout."""
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def new_ids(count: int) -> list[str]:
    """``count`` distinct message ids."""
    return [str(uuid.uuid4()) for _ in range(count)]


class TestTansu:
    def test_produced_ids_are_read_back_by_a_separate_consumer(self, tansu: Server) -> None:
        """Five messages produced with acks=all are all delivered and read back, ids equal, by assign()."""
        topic, ids = f"t-{uuid.uuid4().hex}", new_ids(5)
        assert produce(tansu.address, topic, ids) == dict.fromkeys(ids)
        assert sorted(read_topic(tansu.address, topic, len(ids))) == sorted(ids)

    def test_a_consumer_group_reads_what_was_produced(self, tansu: Server) -> None:
        """A consumer group (session.timeout.ms 6000, so the first join is quick) gets every produced id."""
        topic, ids = f"t-{uuid.uuid4().hex}", new_ids(3)
        assert produce(tansu.address, topic, ids) == dict.fromkeys(ids)
        consumer = kafka.Consumer(
            {
                "bootstrap.servers": tansu.address,
                "group.id": f"g-{uuid.uuid4().hex}",
                "session.timeout.ms": 6000,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            consumer.subscribe([topic])
            assert sorted(consume(consumer, len(ids), timeout=40)) == sorted(ids)
        finally:
            consumer.close()


class TestTansuViaProxy:
    def test_a_cut_fails_the_producer_and_a_restore_recovers_it(self, tansu_via_proxy: ProxiedBroker) -> None:
        """Via the proxy: delivered, then timed out while cut, then delivered again; the broker kept all."""
        bootstrap, topic = tansu_via_proxy.address, f"t-{uuid.uuid4().hex}"
        before, during, after = new_ids(2), new_ids(2), new_ids(2)
        producer = new_producer(bootstrap, **{"message.timeout.ms": 3000})  # one, like a channel's
        try:
            assert deliver(producer, topic, before) == dict.fromkeys(before)
            tansu_via_proxy.proxy.cut()
            assert deliver(producer, topic, during) == dict.fromkeys(during, "_MSG_TIMED_OUT")
            tansu_via_proxy.proxy.restore()
            assert deliver(producer, topic, after) == dict.fromkeys(after)
        finally:
            producer.close()
        assert tansu_via_proxy.broker.alive()
        assert sorted(read_topic(bootstrap, topic, 4)) == sorted(before + after)

    def test_the_broker_advertises_the_proxy(self, tansu_via_proxy: ProxiedBroker) -> None:
        """Metadata names the proxy's address as the broker, so clients reconnect through the proxy."""
        assert broker_addresses(tansu_via_proxy.address) == [tansu_via_proxy.address]


class TestTcpProxy:
    def test_cut_refuses_and_drops_connections_and_restore_accepts_again(
        self, tansu: Server, tcp_proxy: Callable[[str], TcpProxy]
    ) -> None:
        """A cut closes an open connection and refuses new ones on the same port; restore forwards again."""
        proxy = tcp_proxy(tansu.address)
        assert broker_addresses(proxy.address) == [tansu.address]  # metadata came back through the proxy
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as open_connection:
            proxy.cut()
            assert proxy.cut_off
            assert closed_by_peer(open_connection)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        proxy.restore()
        assert broker_addresses(proxy.address) == [tansu.address]
