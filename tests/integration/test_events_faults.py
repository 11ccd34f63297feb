"""Issue 9's delivery faults through a real ``Monitoring``: events emitted with ``monitoring.events.emit``
reach a real HTTP receiver over the webhook channel (signed, verified there) and none is lost.

The receiver answers 500 then 200, 429 with Retry-After, holds a request past the channel's timeout, stays
down past the retries (dead letters, replayed by ``sharedconfig events replay``), or is down while the
process stops (the journal, resent by the next process). Each test waits in real time, bounded, with
retries of milliseconds.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SHAREDCONFIG_CLI, wait_until
from integration.webhook_receiver import Answer, WebhookReceiver, running_receiver
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.events.deadletter import read
from sharedconfig.monitoring.settings import MonitoringSettings

SECRET = "whsec-faults-canary"
FAST_RETRY = {"max_retries": 3, "retry_delay": "20ms", "max_retry_delay": "5s"}
WAIT = 20.0
"""Real seconds a test waits at most for events to arrive."""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver(SECRET) as receiver:
        yield receiver


def settings(
    receiver: WebhookReceiver,
    tmp_path: Path,
    *,
    retry: dict[str, Any] | None = None,
    timeout: str = "2s",
) -> dict[str, Any]:
    """The monitoring section: one webhook channel to ``receiver``; journal and dead letters in tmp_path."""
    return {
        "logging": {"format": "json", "capture_stdlib": False},
        "health": {"enabled": False},
        "events": {
            "batch_size": 10,
            "flush_interval": "100ms",
            "journal": {"path": str(tmp_path / "journal")},
            "dead_letter_dir": str(tmp_path / "dead-letter"),
            "exporters": [
                {
                    "type": "webhook",
                    "url": receiver.url,
                    "secret": SECRET,
                    "timeout": timeout,
                    "retry": retry or FAST_RETRY,
                }
            ],
        },
    }


def start(section: dict[str, Any]) -> Monitoring:
    """A started Monitoring on the real clock (logs kept out of the test output)."""
    return Monitoring(MonitoringSettings.model_validate(section), stream=io.StringIO()).start()


def emit(mon: Monitoring, n: int) -> list[str]:
    """Emit ``n`` order events; their ids (every one taken: nothing overflows here)."""
    ids = []
    for i in range(n):
        event = mon.events.emit("com.example.order.created", f"order-{i}", {"n": i})
        assert event is not None
        ids.append(event.id)
    return ids


def counted(mon: Monitoring, name: str) -> float:
    """``events_<name>_total{channel="webhook"}`` (0 when never recorded)."""
    return mon.metrics.sample_value(f"events_{name}_total", {"channel": "webhook"}) or 0.0


def deliver(mon: Monitoring, receiver: WebhookReceiver, ids: list[str]) -> None:
    """Wait until every one of ``ids`` arrived, then stop (which ends every delivery)."""
    try:
        wait_until(lambda: receiver.arrived(ids), WAIT, f"{len(ids)} events at the receiver")
    finally:
        abandoned = mon.stop(timeout=10)
    assert abandoned == []


def test_500_then_200(receiver: WebhookReceiver, tmp_path: Path) -> None:
    """The first request is answered 500: it is retried, and every one of 25 events arrives exactly once,
    delivered 25, failed 0, nothing dead-lettered."""
    receiver.script = [Answer(500)]
    mon = start(settings(receiver, tmp_path))
    ids = emit(mon, 25)
    deliver(mon, receiver, ids)
    assert sorted(receiver.accepted) == sorted(ids)
    assert [a.status for a in receiver.attempts].count(500) == 1 and not receiver.rejected
    assert counted(mon, "delivered") == 25 and counted(mon, "failed") == 0
    assert not (tmp_path / "dead-letter").exists()


def test_429_waits_for_retry_after(receiver: WebhookReceiver, tmp_path: Path) -> None:
    """A 429 with Retry-After: 1 makes the batch's next attempt come at least 1 s later (the backoff alone
    would be at most 20 ms); all 5 events arrive once."""
    receiver.script = [Answer(429, retry_after="1")]
    mon = start(settings(receiver, tmp_path))
    ids = emit(mon, 5)
    deliver(mon, receiver, ids)
    refused = next(a for a in receiver.attempts if a.status == 429)
    retried = next(a for a in receiver.attempts if a.at > refused.at and a.ids == refused.ids)
    assert retried.at - refused.at >= 1.0
    assert sorted(receiver.accepted) == sorted(ids)
    assert counted(mon, "delivered") == 5 and counted(mon, "failed") == 0


def test_timeout_then_success(receiver: WebhookReceiver, tmp_path: Path) -> None:
    """The first request is held 1 s, past the channel's 0.3 s timeout: the batch is sent again, and every
    one of 15 events arrives (the held request's events twice, once it is answered: dedupe on id)."""
    receiver.script = [Answer(200, hold=1.0)]
    mon = start(settings(receiver, tmp_path, timeout="300ms"))
    ids = emit(mon, 15)
    deliver(mon, receiver, ids)
    wait_until(lambda: len(receiver.accepted) > len(ids), WAIT, "the held request to be answered")
    assert set(receiver.accepted) == set(ids)
    held = next(a for a in receiver.attempts if a.answer.hold)
    assert sorted(receiver.accepted) == sorted([*ids, *held.ids])  # only the held ones came twice
    assert counted(mon, "delivered") == 15 and counted(mon, "failed") == 0


def test_down_past_the_retries_then_replayed(receiver: WebhookReceiver, tmp_path: Path) -> None:
    """A receiver down through every retry: each of 25 events is in the channel's dead-letter file and in
    events_failed_total, none delivered. Once the receiver is back, ``sharedconfig events replay FILE``
    delivers all 25, with their own ids."""
    receiver.down()
    mon = start(settings(receiver, tmp_path, retry={"max_retries": 2, "retry_delay": "10ms"}))
    ids = emit(mon, 25)
    try:
        wait_until(lambda: counted(mon, "failed") == 25, WAIT, "25 events to be given up on")
    finally:
        abandoned = mon.stop(timeout=10)
    assert abandoned == []
    dead = tmp_path / "dead-letter" / "webhook.jsonl"
    assert sorted(e.id for e in read(dead)) == sorted(ids)
    assert counted(mon, "delivered") == 0 and receiver.attempts == []

    receiver.up()
    channel = {**settings(receiver, tmp_path)["events"]["exporters"][0], "secret": "${WEBHOOK_SECRET}"}
    config = tmp_path / "app.yaml"
    config.write_text(json.dumps({"monitoring": {"events": {"exporters": [channel]}}}))
    replayed = subprocess.run(
        [SHAREDCONFIG_CLI, "events", "replay", str(dead), "--config", str(config)],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "WEBHOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == [
        f"replaying 25 events from {dead}",
        "webhook: 25 delivered, 0 failed again",
    ]
    assert sorted(receiver.accepted) == sorted(ids)


# A service that stops while its receiver is down: the events it could not deliver stay in its journal.
_STOPPING_SERVICE = """
import io, json, sys
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings

mon = Monitoring(MonitoringSettings.model_validate(json.loads(sys.argv[1])), stream=io.StringIO()).start()
ids = [mon.events.emit("com.example.order.created", f"order-{i}", {"n": i}).id for i in range(25)]
mon.stop(timeout=1.0)
print(json.dumps({"ids": ids, "journaled": mon.part("events").dispatcher.journaled_at_stop}))
"""


def test_stopped_with_the_receiver_down_the_next_process_delivers(
    receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """A process emits 25 events and stops within 1 s while the receiver is down (its first retry would
    wait 5 s): all 25 go to the journal. A new process with the same journal path, the receiver back,
    delivers all 25: none lost."""
    receiver.down()
    slow_retry = {"max_retries": 5, "retry_delay": "5s", "max_retry_delay": "10s", "jitter": "none"}
    section = settings(receiver, tmp_path, retry=slow_retry)
    stopped = subprocess.run(
        [sys.executable, "-c", _STOPPING_SERVICE, json.dumps(section)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    first = json.loads(stopped.stdout)
    assert first["journaled"] == 25 and len(first["ids"]) == 25
    assert not (tmp_path / "dead-letter").exists()

    receiver.up()
    mon = start(settings(receiver, tmp_path))
    deliver(mon, receiver, first["ids"])
    assert sorted(receiver.accepted) == sorted(first["ids"])
    assert counted(mon, "delivered") == 25 and counted(mon, "failed") == 0
