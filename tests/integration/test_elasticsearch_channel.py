"""The Elasticsearch channel against a real HTTP server in a thread speaking the ``_bulk`` API.

The server reads the NDJSON body as Elasticsearch does (an action line, then a source line, each ending in
``\\n``), keeps documents by index and ``_id``, answers ``create`` of a stored id with 409, and answers as
Elasticsearch 7 to 9 do, partial failures included (``"errors": true`` with an error object per failed
item). Its script fails chosen items and whole requests; every test checks that each event ends up stored
exactly once or in the dead-letter file, never both, never neither.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr

from sharedconfig.clock import SYSTEM_CLOCK
from sharedconfig.monitoring.events import Event, from_structured
from sharedconfig.monitoring.events.channel import ChannelContext, DeliveryChannel
from sharedconfig.monitoring.events.channels.elasticsearch import build
from sharedconfig.monitoring.events.deadletter import DeadLetterFile, read
from sharedconfig.monitoring.settings import ElasticsearchChannelSettings
from sharedconfig.testing import InMemoryMetricsRecorder, RecordingLogger

USER, PASSWORD = "elastic", "es-integration-canary"

ItemFailure = tuple[int, str, str]
"""A scripted item answer: status, error type, reason."""

REJECTED: ItemFailure = (
    429,
    "es_rejected_execution_exception",
    "rejected execution of coordinating operation",
)
UNAVAILABLE: ItemFailure = (503, "unavailable_shards_exception", "primary shard is not active")
MAPPING: ItemFailure = (400, "mapper_parsing_exception", "failed to parse field [data.n] of type [long]")


@dataclass
class Cluster:
    """What the test server does and saw.

    ``whole``: answers to whole requests, in order of arrival (status, Retry-After, seconds to wait after
    storing the documents); ``items``: failures per event id, used up one per attempt.
    """

    url: str = ""
    whole: list[tuple[int, str | None, float]] = field(default_factory=list)
    items: dict[str, list[ItemFailure]] = field(default_factory=dict)
    documents: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    created: Counter[str] = field(default_factory=Counter)  # event id -> 201 answers
    requests: list[list[str]] = field(default_factory=list)  # the event ids of each request
    problems: list[str] = field(default_factory=list)  # what was not as Elasticsearch expects
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bulk(self, body: bytes) -> tuple[dict[str, object], float]:
        """The ``_bulk`` answer to ``body`` (and seconds to hold it back)."""
        if not body.endswith(b"\n"):
            self.problems.append("the body does not end with a newline")
        lines = body.split(b"\n")[:-1]
        if len(lines) % 2:
            self.problems.append("an action without its source line")
        answers: list[dict[str, object]] = []
        ids: list[str] = []
        with self.lock:
            whole = self.whole.pop(0) if self.whole else (200, None, 0.0)
            for action, source in zip(lines[::2], lines[1::2], strict=False):
                ((op, meta),) = json.loads(action).items()
                if op != "create" or "_type" in meta:
                    self.problems.append(f"unexpected action {action!r}")
                event = from_structured(source)  # every source is a CloudEvent
                ids.append(event.id)
                answers.append(self.item(meta["_index"], meta["_id"], event.id, json.loads(source)))
            self.requests.append(ids)
        items = [{"create": answer} for answer in answers]
        return {"took": 4, "errors": any("error" in a for a in answers), "items": items}, whole[2]

    def item(self, index: str, doc_id: str, event_id: str, source: dict[str, object]) -> dict[str, object]:
        """One item's answer (under the lock)."""
        script = self.items.get(event_id)
        if script:
            status, kind, reason = script.pop(0)
            return {
                "_index": index,
                "_id": doc_id,
                "status": status,
                "error": {"type": kind, "reason": reason},
            }
        if (index, doc_id) in self.documents:
            return {
                "_index": index,
                "_id": doc_id,
                "status": 409,
                "error": {
                    "type": "version_conflict_engine_exception",
                    "reason": f"[{doc_id}]: version conflict, document already exists (current version [1])",
                },
            }
        self.documents[(index, doc_id)] = source
        self.created[event_id] += 1
        shards = {"total": 2, "successful": 1, "failed": 0}
        return {
            "_index": index,
            "_id": doc_id,
            "_version": 1,
            "result": "created",
            "_shards": shards,
            "status": 201,
        }


def _handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path != "/_bulk" or self.headers.get("content-type") != "application/x-ndjson":
                cluster.problems.append(f"POST {self.path} as {self.headers.get('content-type')}")
            if self.headers.get("authorization") != expected:
                self.answer(
                    401, {"error": {"type": "security_exception", "reason": "missing authentication"}}
                )
                return
            with cluster.lock:
                status, retry_after, _ = cluster.whole[0] if cluster.whole else (200, None, 0.0)
                if status != 200:
                    cluster.whole.pop(0)
            if status != 200:
                self.answer(status, {"error": {"type": "scripted", "reason": "scripted"}}, retry_after)
                return
            answer, delay = cluster.bulk(body)
            if delay:
                time.sleep(delay)  # longer than the client's timeout: stored, but the answer is lost
            self.answer(200, answer)

        def answer(self, status: int, document: dict[str, object], retry_after: str | None = None) -> None:
            payload = json.dumps(document).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client timed out and closed the connection

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fake Elasticsearch in a thread on a free loopback port."""
    state = Cluster()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()  # joins the request threads
    thread.join(5)
    assert not state.problems


def make(cluster: Cluster, tmp_path: Path, *, batch_size: int = 100, **settings: object) -> DeliveryChannel:
    """A channel on the real clock with short waits and a 2 s timeout, dead-lettering to tmp_path."""
    options: dict[str, object] = {
        "endpoint": cluster.url,
        "username": USER,
        "password": SecretStr(PASSWORD),
        "timeout": "2s",
        "retry": {"max_retries": 3, "retry_delay": "10ms", "max_retry_delay": "5s"},
        **settings,
    }
    ctx = ChannelContext(
        name="es",
        clock=SYSTEM_CLOCK,
        logger=RecordingLogger(),
        metrics=InMemoryMetricsRecorder(),
        dead_letter=DeadLetterFile(tmp_path / "dead.jsonl", fsync=False),
        batch_size=batch_size,
    )
    return build(ElasticsearchChannelSettings.model_validate(options), ctx)


def deliver(channel: DeliveryChannel, events: list[Event]) -> tuple[int, float]:
    """Deliver on a new loop (at most 30 s) and close the client; events indexed and seconds taken."""

    async def main() -> int:
        try:
            return await asyncio.wait_for(channel.deliver(events), 30)
        finally:
            await channel.aclose()

    start = SYSTEM_CLOCK.now()
    indexed = asyncio.run(main())
    return indexed, SYSTEM_CLOCK.now() - start


def batch(n: int) -> list[Event]:
    """``n`` events."""
    return [Event("com.example.order.created", "/shop", data={"n": i}, subject=f"o{i}") for i in range(n)]


def dead_letters(tmp_path: Path) -> list[str]:
    """The ids in the dead-letter file."""
    path = tmp_path / "dead.jsonl"
    return [e.id for e in read(path)] if path.exists() else []


def test_partial_failures_are_resent_until_all_stored(cluster: Cluster, tmp_path: Path) -> None:
    """429s and 503s inside 200 answers and a whole-request 500: every event is stored exactly once.

    Whichever request takes the 500, no event needs more than the 4 attempts (max_retries 3) its request
    and resends share: two refusals, the 500, then stored."""
    events = batch(20)
    cluster.items = {
        events[1].id: [REJECTED],
        events[2].id: [UNAVAILABLE, REJECTED],
        events[9].id: [REJECTED, REJECTED],
        events[17].id: [UNAVAILABLE],
    }
    cluster.whole = [(200, None, 0.0), (500, None, 0.0)]  # the second request to arrive fails whole
    indexed, _ = deliver(make(cluster, tmp_path, batch_size=8), events)
    assert indexed == 20
    assert cluster.created == Counter({e.id: 1 for e in events})
    assert len(cluster.documents) == 20 and not dead_letters(tmp_path)
    seen: set[str] = set()
    resent: set[str] = set()
    for ids in cluster.requests:  # a resend holds only events sent before, and only the failed ones
        if seen.issuperset(ids):
            resent.update(ids)
        seen.update(ids)
    assert resent == {events[1].id, events[2].id, events[9].id, events[17].id}


def test_refused_item_is_dead_lettered_and_the_rest_stored(cluster: Cluster, tmp_path: Path) -> None:
    """A 400 item goes to the dead-letter file with its reason; an item refused past the retries too."""
    events = batch(5)
    cluster.items = {events[0].id: [MAPPING], events[3].id: [REJECTED] * 4}
    indexed, _ = deliver(make(cluster, tmp_path), events)
    assert indexed == 3
    stored = set(cluster.created)
    letters = dead_letters(tmp_path)
    assert sorted(letters) == sorted([events[0].id, events[3].id])
    assert stored | set(letters) == {e.id for e in events} and not stored & set(letters)
    assert all(count == 1 for count in cluster.created.values())
    reasons = {
        json.loads(line)["id"]: json.loads(line)["deadletterreason"]
        for line in (tmp_path / "dead.jsonl").read_text().splitlines()
    }
    assert "mapper_parsing_exception: failed to parse field [data.n]" in reasons[events[0].id]
    assert "after 4 attempts: 429 es_rejected_execution_exception" in reasons[events[3].id]


def test_answer_lost_after_storing_is_not_stored_twice(cluster: Cluster, tmp_path: Path) -> None:
    """The server stores, then answers after the client's timeout: the retry's 409s count as indexed."""
    cluster.whole = [(200, None, 1.5)]
    events = batch(3)
    indexed, _ = deliver(make(cluster, tmp_path, timeout="500ms"), events)
    assert indexed == 3 and len(cluster.requests) == 2
    assert cluster.created == Counter({e.id: 1 for e in events}) and not dead_letters(tmp_path)


def test_429_honours_retry_after(cluster: Cluster, tmp_path: Path) -> None:
    """A whole-request 429 with Retry-After: 1 makes the channel wait at least 1 s before the retry."""
    cluster.whole = [(429, "1", 0.0)]
    events = batch(2)
    indexed, took = deliver(make(cluster, tmp_path), events)
    assert indexed == 2 and len(cluster.requests) == 1  # the 429 was answered before reading the body
    assert 1.0 <= took < 4.0 and cluster.created == Counter({e.id: 1 for e in events})


def test_one_index_per_day_of_the_events(cluster: Cluster, tmp_path: Path) -> None:
    """Events either side of midnight UTC go to the indices of their own days."""
    days = [datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 1, 0, 1, tzinfo=UTC)]
    events = [Event("com.example.tick", "/clock", time=day) for day in days]
    indexed, _ = deliver(make(cluster, tmp_path, index="events-%Y.%m.%d"), events)
    assert indexed == 2
    assert sorted(index for index, _ in cluster.documents) == ["events-2026.12.31", "events-2027.01.01"]


def test_wrong_credentials_are_not_retried(cluster: Cluster, tmp_path: Path) -> None:
    """A 401 is final: one attempt, every event dead-lettered, the password in no dead-letter line."""
    events = batch(2)
    indexed, _ = deliver(make(cluster, tmp_path, password=SecretStr("wrong-password")), events)
    assert indexed == 0 and not cluster.requests and not cluster.created
    assert dead_letters(tmp_path) == [e.id for e in events]
    assert "wrong-password" not in (tmp_path / "dead.jsonl").read_text()
