"""Issue 9's broker faults through a real ``Monitoring``: events emitted with ``monitoring.events.emit`` reach
a real broker (tansu, behind a proxy that can be cut) over the kafka channel, and none is lost.

The broker becomes unreachable while 20,000 events are emitted and comes back 10 s later (the buffer spills
to the journal meanwhile); or the process stops while the broker is unreachable, and the next process with
the same journal delivers what it left. Each test waits in real time, bounded, and reads the topic back
with a separate consumer, decoding every message with the CloudEvents SDK.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_until
from integration.servers import ProxiedBroker, require_module

kafka = require_module("confluent_kafka", "kafka")
from cloudevents.core.bindings import kafka as sdk_kafka  # noqa: E402
from cloudevents.core.formats.json import JSONFormat  # noqa: E402

from sharedconfig.monitoring import Monitoring  # noqa: E402
from sharedconfig.monitoring.events.buffer import DropReason  # noqa: E402
from sharedconfig.monitoring.settings import MonitoringSettings  # noqa: E402

pytestmark = pytest.mark.integration

FAST_RECONNECT = {"reconnect.backoff.ms": "100", "reconnect.backoff.max.ms": "500"}
"""librdkafka waits up to 10 s between reconnects by default; a restored proxy should be seen at once."""

OUTAGE = 10.0
"""Real seconds the broker is unreachable in the outage test."""


def section(bootstrap: str, topic: str, tmp_path: Path, **events: Any) -> dict[str, Any]:
    """The monitoring section: one kafka channel through the proxy, retries that outlast the outage (a 2 s
    message timeout, up to 40 retries of at most 1 s, no breaker), journal and dead letters in tmp_path."""
    return {
        "logging": {"format": "json", "capture_stdlib": False},
        "health": {"enabled": False},
        "events": {
            "batch_size": 500,
            "flush_interval": "100ms",
            "overflow": "spill",
            "journal": {"path": str(tmp_path / "journal"), "fsync": "never"},
            "dead_letter_dir": str(tmp_path / "dead-letter"),
            "exporters": [
                {
                    "type": "kafka",
                    "brokers": [bootstrap],
                    "topic": topic,
                    "timeout": "2s",
                    "retry": {"max_retries": 40, "retry_delay": "200ms", "max_retry_delay": "1s"},
                    "circuit_breaker": {"enabled": False},
                    "options": FAST_RECONNECT,
                }
            ],
            **events,
        },
    }


def start(settings: dict[str, Any], logs: io.StringIO | None = None) -> Monitoring:
    """A started Monitoring on the real clock, logging into ``logs`` (kept out of the test output)."""
    return Monitoring(MonitoringSettings.model_validate(settings), stream=logs or io.StringIO()).start()


def counted(mon: Monitoring, name: str) -> float:
    """``events_<name>_total{channel="kafka"}`` (0 when never recorded)."""
    return mon.metrics.sample_value(f"events_{name}_total", {"channel": "kafka"}) or 0.0


def dropped(mon: Monitoring) -> float:
    """``events_dropped_total`` over every reason."""
    return sum(
        mon.metrics.sample_value("events_dropped_total", {"reason": r.value}) or 0.0 for r in DropReason
    )


def read_ids(bootstrap: str, topic: str, expected: set[str], timeout: float) -> list[str]:
    """The id of every message of ``topic`` (from the start), decoded with the CloudEvents SDK, read by a
    separate consumer until every one of ``expected`` was seen or ``timeout`` real seconds passed."""
    consumer = kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False, **FAST_RECONNECT}
    )
    ids: list[str] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not expected <= set(ids):
            for message in consumer.consume(1000, 0.5):
                assert message.error() is None, message.error()
                sdk_message = sdk_kafka.KafkaMessage(
                    dict(message.headers() or []), message.key(), message.value()
                )
                ids.append(sdk_kafka.from_binary(sdk_message, JSONFormat()).get_id())
    finally:
        consumer.close()
    return ids


def test_an_outage_while_publishing_loses_nothing(tansu_via_proxy: ProxiedBroker, tmp_path: Path) -> None:
    """20,000 events are emitted as fast as the loop goes; after the first 5,000 the broker becomes
    unreachable, and it comes back 10 s later. Every id reaches a separate consumer at least once, nothing
    is dropped (the buffer spilled to the journal) and nothing is dead-lettered."""
    bootstrap, topic = tansu_via_proxy.address, f"t-{uuid.uuid4().hex}"
    logs = io.StringIO()
    mon = start(section(bootstrap, topic, tmp_path), logs)
    restore = threading.Timer(OUTAGE, tansu_via_proxy.proxy.restore)
    ids: list[str] = []
    try:
        for i in range(20_000):
            if i == 5_000:
                tansu_via_proxy.proxy.cut()
                restore.start()
            event = mon.events.emit("com.example.order.created", f"order-{i % 50}", {"n": i})
            assert event is not None
            ids.append(event.id)
        wait_until(lambda: counted(mon, "delivered") >= 20_000, OUTAGE + 30, "20,000 events delivered")
    finally:
        restore.cancel()
        restore.join()
        tansu_via_proxy.proxy.restore()
        abandoned = mon.stop(timeout=10)
    assert abandoned == []
    arrived = read_ids(bootstrap, topic, set(ids), timeout=30)
    lost = set(ids) - set(arrived)
    print(f"{len(lost)} lost ids out of {len(ids)} ({len(arrived) - len(set(arrived))} duplicates)")
    assert not lost, f"{len(lost)} lost ids out of {len(ids)}"
    assert dropped(mon) == 0 and counted(mon, "failed") == 0
    assert not (tmp_path / "dead-letter").exists()
    assert "Connection refused" in logs.getvalue()  # the channel's producer did meet the outage


# A service that stops while the broker is unreachable: what it could not deliver stays in its journal.
_STOPPING_SERVICE = """
import io, json, sys
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings

mon = Monitoring(MonitoringSettings.model_validate(json.loads(sys.argv[1])), stream=io.StringIO()).start()
ids = [mon.events.emit("com.example.order.created", f"order-{i}", {"n": i}).id for i in range(300)]
mon.stop(timeout=1.0)
print(json.dumps({"ids": ids, "journaled": mon.part("events").dispatcher.journaled_at_stop}))
"""


def test_stopped_with_the_broker_unreachable_the_next_process_delivers(
    tansu_via_proxy: ProxiedBroker, tmp_path: Path
) -> None:
    """A process emits 300 events and stops within 1 s while the broker is unreachable: all 300 go to the
    journal. A new Monitoring with the same journal path, the broker back, delivers all 300: none lost."""
    bootstrap, topic = tansu_via_proxy.address, f"t-{uuid.uuid4().hex}"
    settings = section(bootstrap, topic, tmp_path)
    tansu_via_proxy.proxy.cut()
    try:
        stopped = subprocess.run(
            [sys.executable, "-c", _STOPPING_SERVICE, json.dumps(settings)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        tansu_via_proxy.proxy.restore()
    first = json.loads(stopped.stdout)
    assert first["journaled"] == 300 and len(first["ids"]) == 300
    assert not (tmp_path / "dead-letter").exists()

    mon = start(settings)
    try:
        wait_until(lambda: counted(mon, "delivered") >= 300, 30, "the journaled events delivered")
    finally:
        abandoned = mon.stop(timeout=10)
    assert abandoned == []
    arrived = read_ids(bootstrap, topic, set(first["ids"]), timeout=30)
    lost = set(first["ids"]) - set(arrived)
    print(f"{len(lost)} lost ids out of {len(first['ids'])}")
    assert not lost
    assert counted(mon, "failed") == 0 and dropped(mon) == 0
