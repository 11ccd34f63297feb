"""A webhook receiver for integration tests: a real HTTP server on a loopback port, in a thread of its own.

It checks every request's signature with ``verify``, reads its events with the cloudevents SDK (an
independent decoder), answers from a script (status, ``Retry-After``, how long to hold the request), and
can go down (its port closed) and come back up on the same port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.core.bindings import http as sdk_http
from cloudevents.core.formats.json import JSONFormat

from sharedconfig.monitoring.events.channels.webhook import SIGNATURE_HEADER, InvalidSignature, verify

__all__ = ["Answer", "Attempt", "WebhookReceiver", "running_receiver"]


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request: ``status``, a ``Retry-After`` header, seconds held first."""

    status: int = 200
    retry_after: str | None = None
    hold: float = 0.0


@dataclass(frozen=True)
class Attempt:
    """One request as received: when (``time.monotonic()``), the answer it got and the event ids in it."""

    at: float
    answer: Answer
    ids: tuple[str, ...]

    @property
    def status(self) -> int:
        """The status answered."""
        return self.answer.status


def decode(headers: dict[str, str], body: bytes) -> list[str]:
    """The ids in a request, read by the cloudevents SDK (structured or batch mode)."""
    if headers["content-type"].startswith("application/cloudevents-batch+json"):
        items = json.loads(body)
        return [JSONFormat().read(None, json.dumps(item).encode()).get_id() for item in items]
    event = sdk_http.from_http(sdk_http.HTTPMessage(headers, body), JSONFormat())
    return [event.get_id()]


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the request threads, held ones included


class WebhookReceiver:
    """The receiver's script and what it saw; ``up()``/``down()`` open and close its port."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.script: list[Answer] = []
        """Answers for the next requests, in order; then 200."""
        self.attempts: list[Attempt] = []
        self.accepted: list[str] = []
        """Ids of the events in requests answered 2xx, in order (a held request counts once answered)."""
        self.rejected: list[str] = []
        """Why requests were refused with 401 (their signature did not verify)."""
        self.lock = threading.Lock()
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where events are posted."""
        return f"http://127.0.0.1:{self.port}/hooks/events"

    def up(self) -> None:
        """Listen (on the same port as before, once it has one)."""
        if self._server is not None:
            return
        self._server = _Server(("127.0.0.1", self.port), _handler(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver"
        )
        self._thread.start()

    def down(self) -> None:
        """Close the port: connections are refused until ``up()``."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            thread.join(10)

    def arrived(self, ids: Iterable[str]) -> bool:
        """Whether every one of ``ids`` has been accepted."""
        with self.lock:
            return set(ids) <= set(self.accepted)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self.lock:
            answer = self.script.pop(0) if self.script else Answer()
        try:
            verify(self.secret, body, headers.get(SIGNATURE_HEADER.lower()))
            ids = tuple(decode(headers, body))
        except InvalidSignature as exc:
            with self.lock:
                self.rejected.append(exc.message)
            answer, ids = Answer(401), ()
        with self.lock:
            self.attempts.append(Attempt(time.monotonic(), answer, ids))
        if answer.hold:
            time.sleep(answer.hold)  # longer than the client's timeout: the client has gone
        if 200 <= answer.status < 300:
            with self.lock:
                self.accepted.extend(ids)
        try:
            handler.send_response(answer.status)
            if answer.retry_after is not None:
                handler.send_header("Retry-After", answer.retry_after)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the client timed out and closed the connection


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver._answer(self)

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def running_receiver(secret: str) -> Iterator[WebhookReceiver]:
    """A receiver listening on a free loopback port; closed at the end."""
    receiver = WebhookReceiver(secret)
    receiver.up()
    try:
        yield receiver
    finally:
        receiver.down()
