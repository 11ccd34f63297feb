"""The nats channel against a real nats-server with JetStream: the ids a separate consumer reads back, a
batch delivered twice stored once, the stream check, and deliveries bounded while the server is away."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from integration.servers import Server, TcpProxy, free_port, require_module

nats_py = require_module("nats", "nats")
from nats.errors import TimeoutError as NatsTimeout  # noqa: E402 - only once nats-py is known to be there

from integration.jetstream import TIMEOUT, add_stream, stored  # noqa: E402
from sharedconfig.clock import SYSTEM_CLOCK  # noqa: E402
from sharedconfig.monitoring.events import Event, from_structured  # noqa: E402
from sharedconfig.monitoring.events.channel import ChannelContext, build_channel  # noqa: E402
from sharedconfig.monitoring.events.channels.nats import CONTENT_TYPE_HEADER, MSG_ID_HEADER  # noqa: E402
from sharedconfig.monitoring.events.deadletter import REASON_ATTRIBUTE, DeadLetterFile  # noqa: E402
from sharedconfig.monitoring.events.encoding import STRUCTURED_CONTENT_TYPE  # noqa: E402
from sharedconfig.monitoring.settings import NatsChannelSettings  # noqa: E402
from sharedconfig.testing import NullMetricsRecorder, RecordingLogger  # noqa: E402

pytestmark = pytest.mark.integration


async def read_stream(address: str, subject: str, expected: int) -> list[tuple[dict[str, str], bytes]]:
    """Fetch ``expected`` messages from ``subject`` on a new connection (a separate pull consumer)."""
    client = await nats_py.connect(address)
    try:
        subscription = await client.jetstream(timeout=TIMEOUT).pull_subscribe(subject)
        found: list[tuple[dict[str, str], bytes]] = []
        deadline = time.monotonic() + TIMEOUT
        while len(found) < expected and time.monotonic() < deadline:
            with contextlib.suppress(NatsTimeout):  # nothing more yet: fetch again until the deadline
                for message in await subscription.fetch(expected - len(found), timeout=1):
                    await message.ack()
                    found.append((dict(message.headers or {}), message.data))
        assert len(found) == expected, f"{len(found)} of {expected} messages"
        return found
    finally:
        await client.close()


def events(n: int) -> list[Event]:
    """``n`` small events with distinct subjects."""
    return [Event("com.example.thing", "/tests", data={"n": i}, subject=f"s{i}") for i in range(n)]


def channel(address: str, subject: str, tmp_path: Path, **overrides: Any) -> Any:
    """The nats channel built through its entry point: 2 s timeout, one quick retry, no jitter."""
    values: dict[str, Any] = {
        "type": "nats",
        "servers": [address],
        "subject": subject,
        "timeout": "2s",
        "retry": {"max_retries": 1, "retry_delay": "0.1s", "jitter": "none"},
        **overrides,
    }
    ctx = ChannelContext(
        name="nats",
        clock=SYSTEM_CLOCK,
        logger=RecordingLogger(),
        metrics=NullMetricsRecorder(),
        dead_letter=DeadLetterFile(tmp_path / "dead.jsonl", fsync=False),
        batch_size=100,
    )
    return build_channel(NatsChannelSettings.model_validate(values), ctx)


def reasons(tmp_path: Path) -> list[str]:
    """The dead-letter reasons written so far, one per event."""
    path = tmp_path / "dead.jsonl"
    if not path.exists():
        return []
    return [from_structured(line).extensions[REASON_ATTRIBUTE] for line in path.read_text().splitlines()]


def leftover_tasks() -> set[asyncio.Task[Any]]:
    """Tasks of the running loop other than the current one."""
    return asyncio.all_tasks() - {asyncio.current_task()}


class TestJetStream:
    def test_delivered_events_are_read_back_by_a_separate_consumer(
        self, nats: Server, tmp_path: Path
    ) -> None:
        """Ten events acked into the stream; a second connection reads the same ids and events back."""

        async def scenario() -> None:
            stream, subject = await add_stream(nats.address)
            batch = events(10)
            ch = channel(nats.address, subject, tmp_path, stream=stream)
            try:
                assert await ch.deliver(batch) == 10
            finally:
                await ch.aclose()
            messages = await read_stream(nats.address, subject, len(batch))
            assert sorted(headers[MSG_ID_HEADER] for headers, _ in messages) == sorted(e.id for e in batch)
            assert {headers[CONTENT_TYPE_HEADER] for headers, _ in messages} == {STRUCTURED_CONTENT_TYPE}
            by_id = {event.id: event for event in batch}
            assert all(from_structured(body) == by_id[headers[MSG_ID_HEADER]] for headers, body in messages)
            assert leftover_tasks() == set()

        asyncio.run(scenario())

    def test_a_batch_delivered_twice_is_stored_once(self, nats: Server, tmp_path: Path) -> None:
        """The second delivery is acked as duplicates (counted as delivered); the stream keeps one copy."""

        async def scenario() -> None:
            stream, subject = await add_stream(nats.address)
            batch = events(10)
            ch = channel(nats.address, subject, tmp_path, stream=stream)
            try:
                assert await ch.deliver(batch) == 10
                assert await ch.deliver(batch) == 10
            finally:
                await ch.aclose()
            assert await stored(nats.address, stream) == 10
            messages = await read_stream(nats.address, subject, 10)
            assert sorted(headers[MSG_ID_HEADER] for headers, _ in messages) == sorted(e.id for e in batch)

        asyncio.run(scenario())

    def test_a_stream_that_does_not_capture_the_subject_is_a_final_error(
        self, nats: Server, tmp_path: Path
    ) -> None:
        """stream names another stream: JetStream refuses each publish, nothing is retried or stored,
        and every event is dead-lettered with a stream mismatch."""

        async def scenario() -> None:
            stream, subject = await add_stream(nats.address)
            other, _ = await add_stream(nats.address)
            ch = channel(nats.address, subject, tmp_path, stream=other)
            try:
                assert await ch.deliver(events(3)) == 0
            finally:
                await ch.aclose()
            assert await stored(nats.address, stream) == 0
            assert await stored(nats.address, other) == 0

        asyncio.run(scenario())
        found = reasons(tmp_path)
        assert len(found) == 3 and all("stream mismatch" in reason for reason in found), found


class TestOutages:
    def test_no_server_fails_within_the_timeouts(self, tmp_path: Path) -> None:
        """Nobody listening: two attempts of at most 2 s each, then everything is dead-lettered; nothing
        is left running after aclose."""
        address = f"nats://127.0.0.1:{free_port()}"

        async def scenario() -> float:
            ch = channel(address, "nobody.events", tmp_path)
            started = time.monotonic()
            try:
                assert await ch.deliver(events(3)) == 0
                return time.monotonic() - started
            finally:
                await ch.aclose()
                assert leftover_tasks() == set()

        elapsed = asyncio.run(scenario())
        assert elapsed < 2 * 2.0 + 0.1 + 2.0, elapsed  # two attempts, one backoff, and slack
        found = reasons(tmp_path)
        assert len(found) == 3 and "127.0.0.1" in found[0], found

    def test_a_cut_is_bounded_and_the_channel_recovers(
        self, nats: Server, tmp_path: Path, tcp_proxy: Callable[[str], TcpProxy]
    ) -> None:
        """Through a proxy: delivered; cut, a delivery ends within its timeouts with nothing acked;
        restored, the client reconnects by itself and the same events are delivered, stored once."""
        proxy = tcp_proxy(nats.address)

        async def scenario() -> None:
            stream, subject = await add_stream(nats.address)
            before, during = events(5), events(5)
            ch = channel(f"nats://{proxy.address}", subject, tmp_path, stream=stream)
            try:
                assert await ch.deliver(before) == 5
                proxy.cut()
                started = time.monotonic()
                assert await ch.deliver(during) == 0
                assert time.monotonic() - started < 2 * 2.0 + 0.1 + 2.0
                proxy.restore()
                deadline = time.monotonic() + 3 * TIMEOUT
                delivered = 0
                while delivered < 5 and time.monotonic() < deadline:
                    delivered = await ch.deliver(during)  # resent whole: what was stored is a duplicate
                assert delivered == 5
            finally:
                await ch.aclose()
            # what the client buffered while cut may have been flushed on reconnect: deduped, stored once
            assert await stored(nats.address, stream) == 10

        asyncio.run(scenario())
        assert len(reasons(tmp_path)) >= 5  # the cut delivery dead-lettered its five (retried ones too)
