"""The webhook channel against a real HTTP server in a thread that verifies the HMAC and decodes CloudEvents.

The receiver checks every request with ``verify`` and reads it with the cloudevents SDK (an independent
decoder); the faults of issue 9 (500 then 200, 429 with Retry-After, a timeout) lose nothing.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cloudevents.core.bindings import http as sdk_http
from cloudevents.core.formats.json import JSONFormat

from sharedconfig.clock import SYSTEM_CLOCK
from sharedconfig.delivery import RetryPolicy
from sharedconfig.monitoring.events import Event
from sharedconfig.monitoring.events.channel import DeliveryChannel
from sharedconfig.monitoring.events.channels.webhook import (
    SIGNATURE_HEADER,
    InvalidSignature,
    Mode,
    verify,
    webhook_channel,
)
from sharedconfig.monitoring.events.deadletter import read

SECRET = "whsec-integration-canary"


@dataclass
class Receiver:
    """What the test server does and saw; ``script``: (status, Retry-After, delay) answers, then 200s."""

    secret: str = SECRET
    script: list[tuple[int, str | None, float]] = field(default_factory=list)
    url: str = ""
    attempts: int = 0
    accepted: list[str] = field(default_factory=list)  # ids of events answered 2xx
    rejected: list[str] = field(default_factory=list)  # signature errors
    lock: threading.Lock = field(default_factory=threading.Lock)


def _decode(headers: dict[str, str], body: bytes) -> list[str]:
    """The ids in a request, read by the cloudevents SDK (structured or batch mode)."""
    if headers["content-type"].startswith("application/cloudevents-batch+json"):
        items = json.loads(body)
        return [JSONFormat().read(None, json.dumps(item).encode()).get_id() for item in items]
    event = sdk_http.from_http(sdk_http.HTTPMessage(headers, body), JSONFormat())
    return [event.get_id()]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.attempts += 1
                status, retry_after, delay = receiver.script.pop(0) if receiver.script else (200, None, 0.0)
            try:
                verify(receiver.secret, body, headers.get(SIGNATURE_HEADER.lower()))
            except InvalidSignature as exc:
                with receiver.lock:
                    receiver.rejected.append(exc.message)
                status, retry_after, delay = 401, None, 0.0
            ids = _decode(headers, body) if status != 401 else []
            if delay:
                time.sleep(delay)  # longer than the client's timeout: the client has gone
            if 200 <= status < 300:
                with receiver.lock:
                    receiver.accepted.extend(ids)
            try:
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client timed out and closed the connection

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver in a thread on a free loopback port."""
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/events"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()  # joins the request threads
    thread.join(5)


def make(receiver: Receiver, tmp_path: Path, **kwargs: object) -> DeliveryChannel:
    """A channel on the real clock with short waits, posting to ``receiver``, dead-lettering to tmp_path."""
    options: dict[str, object] = {
        "retry": RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=5.0),
        "timeout": 2.0,
        "dead_letter": str(tmp_path / "dead.jsonl"),
        **kwargs,
    }
    return webhook_channel(receiver.url, SECRET, **options)  # type: ignore[arg-type]


def deliver(channel: DeliveryChannel, events: list[Event]) -> tuple[int, float]:
    """Deliver on a new loop and close the client; events delivered and seconds taken on the clock."""

    async def main() -> int:
        try:
            return await channel.deliver(events)
        finally:
            await channel.aclose()

    start = SYSTEM_CLOCK.now()
    delivered = asyncio.run(main())
    return delivered, SYSTEM_CLOCK.now() - start


def batch(n: int) -> list[Event]:
    """``n`` events."""
    return [Event("com.example.order.created", "/shop", data={"n": i}, subject=f"o{i}") for i in range(n)]


@pytest.mark.parametrize("mode", [Mode.BATCH, Mode.STRUCTURED])
def test_delivered_with_valid_signature(receiver: Receiver, tmp_path: Path, mode: Mode) -> None:
    """Every event arrives once, signed so that verify accepts it, and reads as a CloudEvent in the SDK."""
    events = batch(5)
    delivered, _ = deliver(make(receiver, tmp_path, mode=mode, batch_size=2), events)
    assert delivered == 5 and sorted(receiver.accepted) == sorted(e.id for e in events)
    assert receiver.attempts == (3 if mode is Mode.BATCH else 5) and not receiver.rejected


def test_500_then_200(receiver: Receiver, tmp_path: Path) -> None:
    """A 500 is retried and the batch is then delivered exactly once; nothing is dead-lettered."""
    receiver.script = [(500, None, 0.0)]
    events = batch(3)
    delivered, _ = deliver(make(receiver, tmp_path), events)
    assert delivered == 3 and receiver.attempts == 2
    assert receiver.accepted == [e.id for e in events]
    assert not (tmp_path / "dead.jsonl").exists()


def test_429_honours_retry_after(receiver: Receiver, tmp_path: Path) -> None:
    """A 429 with Retry-After: 1 makes the channel wait at least 1 s of its clock before the retry."""
    receiver.script = [(429, "1", 0.0)]
    events = batch(2)
    delivered, took = deliver(make(receiver, tmp_path), events)
    assert delivered == 2 and receiver.attempts == 2 and receiver.accepted == [e.id for e in events]
    assert 1.0 <= took < 4.0


def test_timeout_retried_then_dead_lettered(receiver: Receiver, tmp_path: Path) -> None:
    """A receiver slower than the timeout every time: 3 attempts, then every id is dead-lettered."""
    receiver.script = [(200, None, 0.6)] * 3
    events = batch(4)
    delivered, _ = deliver(make(receiver, tmp_path, timeout=0.2), events)
    assert delivered == 0 and receiver.attempts == 3
    letters = list(read(tmp_path / "dead.jsonl"))
    assert [e.id for e in letters] == [e.id for e in events]
    reasons = [
        json.loads(line)["deadletterreason"] for line in (tmp_path / "dead.jsonl").read_text().splitlines()
    ]
    assert all("Timeout" in reason for reason in reasons)


def test_timeout_then_success(receiver: Receiver, tmp_path: Path) -> None:
    """A timed-out attempt is retried and the events arrive (at least once: the slow answer may too)."""
    receiver.script = [(200, None, 0.6)]
    events = batch(2)
    delivered, _ = deliver(make(receiver, tmp_path, timeout=0.2), events)
    assert delivered == 2 and set(receiver.accepted) == {e.id for e in events}


def test_receiver_with_another_secret_rejects(receiver: Receiver, tmp_path: Path) -> None:
    """A receiver holding a different secret rejects with 401; the channel does not retry and dead-letters."""
    receiver.secret = "not-the-senders-secret"
    events = batch(2)
    delivered, _ = deliver(make(receiver, tmp_path), events)
    assert delivered == 0 and receiver.attempts == 1 and not receiver.accepted
    assert receiver.rejected == ["signature does not match the body"]
    assert [e.id for e in read(tmp_path / "dead.jsonl")] == [e.id for e in events]
