"""The Elasticsearch channel: ids, index names, the NDJSON body, and the channel against a fake ``_bulk``
on httpx.MockTransport with a FakeClock (whole-request and per-item failures, dead letters, secrets)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from sharedconfig.delivery import DeliveryError
from sharedconfig.monitoring.events import Event, from_structured
from sharedconfig.monitoring.events.channel import (
    Channel,
    ChannelContext,
    DeliveryChannel,
    ItemBatch,
    build_channel,
)
from sharedconfig.monitoring.events.channels.elasticsearch import (
    CONTENT_TYPE,
    BulkEncoder,
    BulkSender,
    ItemError,
    build,
    document_id,
    index_name,
)
from sharedconfig.monitoring.events.deadletter import DeadLetterFile, read
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.monitoring.settings import ElasticsearchChannelSettings
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

EPOCH = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ENDPOINT = "http://es.test:9200"
PASSWORD = "es-password-canary-41c7"
API_KEY = "es-apikey-canary-9d2e"

Answer = tuple[int, dict[str, object] | None]
"""An item's scripted answer: its status and error object (None: store the document)."""

REJECTED: Answer = (429, {"type": "es_rejected_execution_exception", "reason": "rejected execution of bulk"})
UNAVAILABLE: Answer = (503, {"type": "unavailable_shards_exception", "reason": "primary shard is not active"})
MAPPING: Answer = (
    400,
    {
        "type": "mapper_parsing_exception",
        "reason": "failed to parse field [data.n] of type [long]",
        "caused_by": {"type": "illegal_argument_exception", "reason": 'For input string: "x"'},
    },
)


def events(n: int, *, when: datetime = EPOCH) -> list[Event]:
    """``n`` small events at ``when``."""
    return [Event("com.example.thing", "/tests", data={"n": i}, subject=f"s{i}", time=when) for i in range(n)]


@dataclass
class FakeElasticsearch:
    """A MockTransport handler speaking ``_bulk``: ``create`` stores a document or answers 409 when its id
    is stored; ``whole`` are statuses for whole requests first; ``items`` script answers per event id."""

    whole: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    items: dict[str, list[Answer]] = field(default_factory=dict)
    stored: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record, then answer the whole request or each item."""
        self.requests.append(request)
        if self.whole:
            status, headers = self.whole.pop(0)
            return httpx.Response(status, headers=headers, text='{"error":"scripted"}')
        lines = request.content.split(b"\n")
        assert lines[-1] == b"" and len(lines) % 2 == 1
        answers = [self.answer(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
        errors = any("error" in answer for answer in answers)
        items = [{"create": answer} for answer in answers]
        return httpx.Response(200, json={"took": 3, "errors": errors, "items": items})

    def answer(self, action_line: bytes, source: bytes) -> dict[str, object]:
        """One item's answer (what goes under ``create``), as Elasticsearch 7 to 9 write it."""
        ((op, meta),) = json.loads(action_line).items()
        assert op == "create" and set(meta) == {"_index", "_id"}
        event_id = json.loads(source)["id"]
        key = (meta["_index"], meta["_id"])
        script = self.items.get(event_id)
        status, error = script.pop(0) if script else (None, None)
        if status is None and key in self.stored:
            status, error = 409, {"type": "version_conflict_engine_exception", "reason": "document exists"}
        if status is None:
            self.stored[key] = source
            return {**meta, "_version": 1, "result": "created", "status": 201}
        return {**meta, "status": status, "error": error}

    def bodies(self) -> list[list[str]]:
        """The event ids of each request, in order."""
        return [[json.loads(line)["id"] for line in r.content.splitlines()[1::2]] for r in self.requests]


@dataclass
class Rig:
    """A channel built from settings on a FakeClock, its fake Elasticsearch, logs and dead letters."""

    channel: DeliveryChannel
    es: FakeElasticsearch
    clock: FakeClock
    logger: RecordingLogger
    dead: Path
    client: httpx.AsyncClient

    def run(self, batch: list[Event]) -> int:
        """Deliver ``batch`` autojumping the clock, then close the channel and the client; events indexed."""

        async def main() -> int:
            try:
                return await self.clock.autojump(self.channel.deliver(batch))
            finally:
                await self.channel.aclose()
                await self.client.aclose()

        return asyncio.run(main())

    def letters(self) -> list[tuple[str, str]]:
        """(event id, reason) of each dead-letter line."""
        if not self.dead.exists():
            return []
        lines = [json.loads(line) for line in self.dead.read_text().splitlines()]
        return [(line["id"], line["deadletterreason"]) for line in lines]


def rig(
    tmp_path: Path,
    es: FakeElasticsearch | Callable[[httpx.Request], httpx.Response] | None = None,
    *,
    batch_size: int = 100,
    **settings: object,
) -> Rig:
    """The channel of ``settings`` (retries: 2, 1 s then 2 s without jitter) on a MockTransport."""
    clock = FakeClock(epoch=EPOCH)
    logger = RecordingLogger()
    fake = es if isinstance(es, FakeElasticsearch) else FakeElasticsearch()
    handler = fake if es is None or isinstance(es, FakeElasticsearch) else es
    options: dict[str, object] = {
        "endpoint": ENDPOINT,
        "retry": {"max_retries": 2, "retry_delay": "1s", "jitter": "none", "max_retry_delay": "30s"},
        **settings,
    }
    ctx = ChannelContext(
        name="es",
        clock=clock,
        logger=logger,
        metrics=InMemoryMetricsRecorder(),
        dead_letter=DeadLetterFile(tmp_path / "dead.jsonl", fsync=False, clock=clock),
        batch_size=batch_size,
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    channel = build(ElasticsearchChannelSettings.model_validate(options), ctx, client=client)
    return Rig(channel, fake, clock, logger, tmp_path / "dead.jsonl", client)


class TestIdsAndIndexNames:
    """document_id and index_name: what makes a retry land on the same document."""

    def test_id_is_stable_per_source_and_id(self) -> None:
        """The id depends on source and id only: the same for other data, another for another source."""
        event = Event("t", "/a", data={"n": 1})
        again = Event("t2", "/a", id=event.id, data={"n": 2})
        other = Event("t", "/b", id=event.id)
        assert document_id(event) == document_id(again) != document_id(other)
        assert len(document_id(event)) == 43 and document_id(event).isascii()
        assert set(document_id(event)) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )

    def test_id_ignores_a_source_password(self) -> None:
        """A URL password in the source is masked before hashing, as it is in the stored document."""
        a = Event("t", "https://user:one@example.com/x", id="1")
        b = Event("t", "https://user:two@example.com/x", id="1")
        assert document_id(a) == document_id(b)

    def test_index_name_by_utc_day(self) -> None:
        """strftime fields are filled from the time in UTC; a name without them is left alone."""
        late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
        assert index_name("events-%Y.%m.%d", late) == "events-2027.01.01"
        assert index_name("events", late) == "events"


class TestEncoder:
    """BulkEncoder: NDJSON create actions, one index per day, request limits."""

    def test_ndjson(self) -> None:
        """Each event is an action line and its structured CloudEvent; the body ends with a newline."""
        batch = events(3)
        (request,), rejected = BulkEncoder("events").encode(batch)
        body = b"".join(request.parts)
        assert not rejected and request.items == tuple(batch)
        assert body.endswith(b"\n") and body.count(b"\n") == 6 and len(request.parts) == 3
        lines = body.splitlines()
        for event, action, source in zip(batch, lines[::2], lines[1::2], strict=True):
            assert json.loads(action) == {"create": {"_index": "events", "_id": document_id(event)}}
            assert from_structured(source) == event

    def test_index_per_day_of_the_event(self) -> None:
        """The index is named from each event's own time in UTC, not from when it is sent."""
        day1 = events(1, when=datetime(2026, 12, 7, 23, 59, tzinfo=UTC))
        day2 = events(1, when=datetime(2026, 12, 8, 1, 0, tzinfo=timezone(timedelta(hours=2))))
        (request,), _ = BulkEncoder("ev-%Y.%m.%d").encode(day1 + day2)
        indices = [json.loads(part.splitlines()[0])["create"]["_index"] for part in request.parts]
        assert indices == ["ev-2026.12.07", "ev-2026.12.07"]  # 01:00+02:00 is 23:00 UTC the day before
        (request,), _ = BulkEncoder("ev-%Y.%m.%d").encode(events(1, when=datetime(2026, 12, 8, tzinfo=UTC)))
        assert json.loads(request.parts[0].splitlines()[0])["create"]["_index"] == "ev-2026.12.08"

    def test_event_without_time_takes_the_clock(self) -> None:
        """An event without a time goes to the index of the clock's day when it is encoded."""
        clock = FakeClock(epoch=datetime(2027, 3, 4, 5, tzinfo=UTC))
        (request,), _ = BulkEncoder("ev-%Y%m%d", clock=clock).encode([Event("t", "/s", time=None)])
        assert json.loads(request.parts[0].splitlines()[0])["create"]["_index"] == "ev-20270304"

    def test_requests_are_cut_by_count_and_bytes(self) -> None:
        """At most batch_size events and max_bytes per request; a larger event goes alone."""
        requests, _ = BulkEncoder(batch_size=2).encode(events(5))
        assert [len(r.items) for r in requests] == [2, 2, 1]
        one = len(BulkEncoder().lines(events(1)[0]))
        requests, _ = BulkEncoder(max_bytes=one * 2).encode(events(5))
        assert [len(r.items) for r in requests] == [2, 2, 1]
        assert all(sum(map(len, r.parts)) <= one * 2 for r in requests)
        big = Event("t", "/s", data={"blob": "x" * 1000})
        requests, _ = BulkEncoder(max_bytes=100).encode([big, *events(1)])
        assert [len(r.items) for r in requests] == [1, 1]

    def test_redacts_and_sets_aside_what_cannot_be_encoded(self) -> None:
        """Secret-looking data is redacted in the source line; data that is not JSON is returned aside."""
        bad = Event("t", "/s", data={"x": float("nan")})
        (request,), rejected = BulkEncoder().encode([Event("t", "/s", data={"password": "hunter2"}), bad])
        assert b"hunter2" not in request.parts[0] and len(request.items) == 1
        assert [event for event, _ in rejected] == [bad]

    def test_bad_arguments(self) -> None:
        """An empty index or a zero limit is refused."""
        with pytest.raises(ValueError, match="index must not be empty"):
            BulkEncoder("")
        for size, limit in ((0, 1), (1, 0)):
            with pytest.raises(ValueError, match="at least 1"):
                BulkEncoder(batch_size=size, max_bytes=limit)


class TestSender:
    """BulkSender: the request it makes, credentials, and answers that are not _bulk answers."""

    def send(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        payload: Batch[Event],
        endpoint: str = ENDPOINT,
        **kwargs: object,
    ) -> tuple[DeliveryError | None, list[httpx.Request], BulkSender]:
        """Send once to ``handler`` on a fresh loop: the DeliveryError raised, the requests, the sender."""
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        async def main() -> tuple[DeliveryError | None, BulkSender]:
            async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
                sender = BulkSender(endpoint, client=client, **kwargs)  # type: ignore[arg-type]
                try:
                    await sender.send(payload)
                except DeliveryError as exc:
                    return exc, sender
                finally:
                    await sender.aclose()
                return None, sender

        error, sender = asyncio.run(main())
        return error, seen, sender

    def test_request(self) -> None:
        """POST <endpoint path>/_bulk with the NDJSON content type and basic auth from the settings."""
        (request,), _ = BulkEncoder().encode(events(2))
        endpoint = "https://es.test:9243/proxy/es/"
        error, (sent,), _ = self.send(
            FakeElasticsearch(), request, endpoint, username="elastic", password=SecretStr(PASSWORD)
        )
        assert error is None and request.outcomes == [None, None]
        assert str(sent.url) == "https://es.test:9243/proxy/es/_bulk" and sent.method == "POST"
        assert sent.headers["content-type"] == CONTENT_TYPE and sent.content == b"".join(request.parts)
        basic = base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
        assert sent.headers["authorization"] == f"Basic {basic}"

    @pytest.mark.parametrize("key", ["bXlpZDpteWtleQ==", "myid:mykey"])
    def test_api_key(self, key: str) -> None:
        """An API key goes as Authorization: ApiKey, encoded when given as id:key."""
        (request,), _ = BulkEncoder().encode(events(1))
        error, (sent,), sender = self.send(FakeElasticsearch(), request, api_key=SecretStr(key))
        assert error is None and sender.auth_kind == "api_key"
        assert sent.headers["authorization"] == "ApiKey bXlpZDpteWtleQ=="

    def test_credentials_in_the_endpoint(self) -> None:
        """User info in the endpoint becomes basic auth and is never shown."""
        (request,), _ = BulkEncoder().encode(events(1))
        error, (sent,), sender = self.send(
            FakeElasticsearch(), request, f"http://elastic:{PASSWORD}@es.test:9200"
        )
        assert (
            error is None and sent.url.userinfo == b"" and sent.headers["authorization"].startswith("Basic ")
        )
        assert PASSWORD not in repr(sender) and sender.shown_url == "http://es.test:9200"

    @pytest.mark.parametrize(
        "answer",
        [
            httpx.Response(200, text="not json"),
            httpx.Response(200, json={"took": 1, "errors": False, "items": []}),
            httpx.Response(200, json={"took": 1, "errors": False, "items": [{"create": {"_id": "x"}}]}),
            httpx.Response(200, json=[1]),
        ],
    )
    def test_not_a_bulk_answer_is_retryable(self, answer: httpx.Response) -> None:
        """A 2xx that does not answer every item is a retryable failure (a resend is harmless)."""
        (request,), _ = BulkEncoder().encode(events(1))
        error, _, _ = self.send(lambda r: answer, request)
        assert error is not None and error.retryable and "not a _bulk answer" in error.message

    def test_a_plain_batch_is_taken_whole(self) -> None:
        """Any other Batch succeeds only when every item is indexed; else it raises with the item's status."""
        event = events(1)[0]
        es = FakeElasticsearch(items={event.id: [REJECTED]})
        batch = Batch(BulkEncoder().lines(event), (event,))
        error, _, _ = self.send(es, batch)
        assert (
            error is not None and error.status == 429 and "es_rejected_execution_exception" in error.message
        )
        assert self.send(es, batch)[0] is None

    def test_status_and_retry_after(self) -> None:
        """A whole-request answer keeps its status and Retry-After, and quotes the start of the body."""
        answer = httpx.Response(429, headers={"Retry-After": "12"}, text="too many requests")
        error, _, _ = self.send(lambda r: answer, BulkEncoder().encode(events(1))[0][0])
        assert error is not None and error.status == 429 and error.retry_after == 12.0
        assert error.message == f"elasticsearch: HTTP 429 from {ENDPOINT}: too many requests"

    def test_item_error_text(self) -> None:
        """An item's error reads as status, type and reason, its cause in brackets."""
        assert str(ItemError.of(*MAPPING)) == (
            "400 mapper_parsing_exception: failed to parse field [data.n] of type [long] "
            '(caused by illegal_argument_exception: For input string: "x")'
        )
        assert str(ItemError.of(404, None)) == "404" and str(ItemError.of(500, "boom")) == "500: boom"


class TestChannel:
    """The channel on a FakeClock: per-item outcomes, whole-request retries, dead letters, counts."""

    def test_all_created(self, tmp_path: Path) -> None:
        """Every event is stored in one request and counted; nothing is dead-lettered."""
        r = rig(tmp_path)
        batch = events(4)
        assert r.run(batch) == 4
        assert len(r.es.requests) == 1 and len(r.es.stored) == 4 and not r.letters()

    @pytest.mark.parametrize("failure", [REJECTED, UNAVAILABLE])
    def test_failed_items_are_resent_alone(self, tmp_path: Path, failure: Answer) -> None:
        """Items answered 429/503 inside a 200 are resent, only they, after the backoff; all 5 count."""
        batch = events(5)
        es = FakeElasticsearch(items={batch[1].id: [failure], batch[3].id: [failure, failure]})
        r = rig(tmp_path, es)
        assert r.run(batch) == 5
        ids = [e.id for e in batch]
        assert es.bodies() == [ids, [ids[1], ids[3]], [ids[3]]]
        assert r.clock.jumps == (1.0, 2.0)
        assert len(es.stored) == 5 and not r.letters()
        # a resend carries the first request's lines byte for byte
        first = es.requests[0].content.splitlines(keepends=True)
        assert es.requests[2].content == first[6] + first[7]

    def test_rejected_item_is_dead_lettered_with_its_reason(self, tmp_path: Path) -> None:
        """A 400 item is not resent: it is dead-lettered with its error; the others count."""
        batch = events(3)
        es = FakeElasticsearch(items={batch[1].id: [MAPPING]})
        r = rig(tmp_path, es)
        assert r.run(batch) == 2
        assert len(es.requests) == 1 and len(es.stored) == 2
        ((event_id, reason),) = r.letters()
        assert event_id == batch[1].id
        assert reason == (
            "es: not delivered: 400 mapper_parsing_exception: failed to parse field [data.n] of type [long] "
            '(caused by illegal_argument_exception: For input string: "x")'
        )
        assert r.logger.messages("warning") == ["delivery failed"]
        assert [e.id for e in read(r.dead)] == [batch[1].id]

    def test_conflict_counts_as_indexed(self, tmp_path: Path) -> None:
        """A 409 (the id is stored already) counts as indexed: not resent, not dead-lettered."""
        batch = events(3)
        r = rig(tmp_path)
        r.es.stored[("sharedconfig-events", document_id(batch[0]))] = b"{}"
        assert r.run(batch) == 3
        assert len(r.es.requests) == 1 and not r.letters() and not r.logger.messages("warning")

    def test_item_retries_spent_then_dead_lettered(self, tmp_path: Path) -> None:
        """An item refused on every attempt is sent 3 times (max_retries 2), then dead-lettered."""
        batch = events(2)
        es = FakeElasticsearch(items={batch[0].id: [REJECTED] * 3})
        r = rig(tmp_path, es)
        assert r.run(batch) == 1
        assert es.bodies() == [[batch[0].id, batch[1].id], [batch[0].id], [batch[0].id]]
        assert r.clock.jumps == (1.0, 2.0)
        assert r.letters() == [
            (
                batch[0].id,
                "es: not delivered after 3 attempts: 429 es_rejected_execution_exception: "
                "rejected execution of bulk",
            )
        ]

    def test_mixed_answers(self, tmp_path: Path) -> None:
        """201, 409, 400 and 429-then-201 in one request: 3 indexed, 1 dead-lettered, one resend of one."""
        batch = events(4)
        es = FakeElasticsearch(items={batch[2].id: [MAPPING], batch[3].id: [REJECTED]})
        r = rig(tmp_path, es)
        r.es.stored[("sharedconfig-events", document_id(batch[1]))] = b"{}"
        assert r.run(batch) == 3
        assert es.bodies()[1:] == [[batch[3].id]]
        assert [event_id for event_id, _ in r.letters()] == [batch[2].id]

    def test_500_then_200(self, tmp_path: Path) -> None:
        """A whole-request 500 is retried after the backoff with the same body; stored once each."""
        r = rig(tmp_path, FakeElasticsearch(whole=[(500, {})]))
        batch = events(3)
        assert r.run(batch) == 3
        assert len(r.es.requests) == 2 and r.es.requests[0].content == r.es.requests[1].content
        assert r.clock.jumps == (1.0,) and len(r.es.stored) == 3 and not r.letters()

    def test_429_waits_retry_after(self, tmp_path: Path) -> None:
        """A whole-request 429 with Retry-After: 7 waits 7 s of the clock, not the 1 s backoff."""
        r = rig(tmp_path, FakeElasticsearch(whole=[(429, {"Retry-After": "7"})]))
        assert r.run(events(2)) == 2
        assert r.clock.jumps == (7.0,) and len(r.es.requests) == 2

    def test_timeout_after_storing_is_not_a_duplicate(self, tmp_path: Path) -> None:
        """Stored, then the answer lost to a timeout: the retry's 409s count, each event is stored once."""
        es = FakeElasticsearch()
        timed_out: list[bool] = []

        def handler(request: httpx.Request) -> httpx.Response:
            answer = es(request)
            if not timed_out:
                timed_out.append(True)
                raise httpx.ReadTimeout("timed out", request=request)
            return answer

        r = rig(tmp_path, handler)
        assert r.run(events(3)) == 3
        assert len(es.requests) == 2 and len(es.stored) == 3 and not r.letters()

    def test_final_answer_dead_letters_the_request(self, tmp_path: Path) -> None:
        """A whole-request 401 is not retried: every event is dead-lettered with the status."""
        r = rig(tmp_path, FakeElasticsearch(whole=[(401, {})]))
        batch = events(2)
        assert r.run(batch) == 0 and len(r.es.requests) == 1
        assert [event_id for event_id, _ in r.letters()] == [e.id for e in batch]
        assert all(reason.startswith("es: HTTP 401 from http://es.test:9200") for _, reason in r.letters())

    def test_resend_given_up_dead_letters_only_the_resent(self, tmp_path: Path) -> None:
        """Indexed on the first try, one item to resend, then 503s: the resend's whole-request retries
        share the request's tries (3 posts in all), then only that item is dead-lettered."""
        batch = events(3)
        es = FakeElasticsearch(items={batch[2].id: [REJECTED]})
        calls: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(1)
            return es(request) if len(calls) == 1 else httpx.Response(503)

        r = rig(tmp_path, handler)
        assert r.run(batch) == 2
        assert len(calls) == 3  # the first request, the resend, the delivery's retry of the resend
        assert [event_id for event_id, _ in r.letters()] == [batch[2].id]
        assert "HTTP 503" in r.letters()[0][1] and "retries spent (3 attempts)" in r.letters()[0][1]

    def test_unencodable_event_is_dead_lettered(self, tmp_path: Path) -> None:
        """An event whose data is not JSON is counted as failed and written aside; the others are sent."""
        r = rig(tmp_path)
        bad = Event("t", "/s", data={"x": float("nan")})
        assert r.run([*events(2), bad]) == 2
        assert r.logger.messages("warning") == ["delivery failed"]
        assert r.channel.dead_letter is not None and r.channel.dead_letter.lost == 1

    def test_requests_of_batch_size(self, tmp_path: Path) -> None:
        """A call's events go in requests of the dispatcher's batch_size."""
        r = rig(tmp_path, batch_size=2)
        assert r.run(events(5)) == 5 and [len(b) for b in r.es.bodies()] == [2, 2, 1]

    @pytest.mark.parametrize(
        "credentials", [{"username": "elastic", "password": PASSWORD}, {"api_key": API_KEY}]
    )
    def test_secrets_never_shown(self, tmp_path: Path, credentials: dict[str, str]) -> None:
        """With answers echoing Authorization, no log, error, repr or dead letter holds a secret."""
        first, second = events(2)
        secret = credentials.get("password") or credentials["api_key"]

        def echo(request: httpx.Request) -> httpx.Response:
            auth = request.headers["authorization"]
            if first.id.encode() in request.content:  # a whole-request failure, to its last retry
                return httpx.Response(500, text=f"bad {auth} {secret}")
            error = {"type": "security_exception", "reason": f"{auth} ({auth.split()[1]}) {secret}"}
            return httpx.Response(
                200, json={"errors": True, "items": [{"create": {"status": 403, "error": error}}]}
            )

        r = rig(tmp_path, echo, batch_size=1, **credentials)
        assert r.run([first, second]) == 0
        basic = base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
        shown = repr(r.logger.records) + r.dead.read_text() + repr(r.channel) + repr(vars(r.channel))
        assert all(secret not in shown for secret in (PASSWORD, API_KEY, basic))
        assert "403 security_exception" in shown and "HTTP 500" in shown and "**********" in shown


class TestBuild:
    """build() as the elasticsearch entry point."""

    def ctx(self, tmp_path: Path) -> ChannelContext:
        """A context with a recording logger."""
        clock = FakeClock(epoch=EPOCH)
        return ChannelContext(
            "es",
            clock,
            RecordingLogger(),
            InMemoryMetricsRecorder(),
            DeadLetterFile(tmp_path / "d.jsonl"),
            50,
        )

    def test_entry_point(self, tmp_path: Path) -> None:
        """build_channel finds the channel by its type; it is a Channel named by the context."""
        settings = ElasticsearchChannelSettings(
            endpoint=ENDPOINT, index="ev-%Y.%m.%d", api_key=SecretStr(API_KEY)
        )
        channel = build_channel(settings, self.ctx(tmp_path))
        assert isinstance(channel, Channel) and isinstance(channel, DeliveryChannel)
        assert isinstance(channel.encoder, BulkEncoder) and isinstance(channel.delivery.sender, BulkSender)
        assert (
            channel.name == "es"
            and channel.encoder.batch_size == 50
            and channel.encoder.index == "ev-%Y.%m.%d"
        )
        assert API_KEY not in repr(channel) and "api_key" in repr(channel)
        asyncio.run(channel.aclose())

    def test_credential_mixups_are_logged(self, tmp_path: Path) -> None:
        """An API key beside a password, or a password without any user name, is pointed out at build."""
        ctx = self.ctx(tmp_path)
        assert isinstance(ctx.logger, RecordingLogger)
        build(ElasticsearchChannelSettings(endpoint=ENDPOINT, username="u", api_key=SecretStr(API_KEY)), ctx)
        build(ElasticsearchChannelSettings(endpoint=ENDPOINT, password=SecretStr(PASSWORD)), ctx)
        build(ElasticsearchChannelSettings(endpoint="http://u@es.test", password=SecretStr(PASSWORD)), ctx)
        assert ctx.logger.messages("warning") == [
            "both api_key and username/password are set: the API key is used",
            "a password without a username is not used: set username too",
        ]


def test_a_request_is_a_batch() -> None:
    """A request is the Batch a delivery's give-up dead-letters: its items are the events it carries."""
    batch = events(2)
    (request,), _ = BulkEncoder().encode(batch)
    assert isinstance(request, ItemBatch) and isinstance(request, Batch) and request.items == tuple(batch)
    assert request.only([1]).items == request.items[1:] and request.only([1]).parts == request.parts[1:]
