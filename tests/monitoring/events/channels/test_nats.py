"""The nats channel on a fake JetStream and a FakeClock: message layout, resends of the unacknowledged
messages only, the stream check, the lazy connection and its bounds, and secrets kept out of sight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from nats.errors import MaxPayloadError
from nats.js.api import PubAck
from nats.js.errors import APIError

from sharedconfig.monitoring.events import Event, from_structured
from sharedconfig.monitoring.events.channel import ChannelContext, DeliveryChannel, ItemBatch, build_channel
from sharedconfig.monitoring.events.channels.nats import (
    CONTENT_TYPE_HEADER,
    MSG_ID_HEADER,
    STREAM_MISMATCH,
    JetStreamSender,
    build,
    to_message,
)
from sharedconfig.monitoring.events.deadletter import REASON_ATTRIBUTE, DeadLetterFile, read
from sharedconfig.monitoring.events.encoding import STRUCTURED_CONTENT_TYPE
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.monitoring.settings import NatsChannelSettings
from sharedconfig.redaction import REDACTED
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

PASSWORD = "natspass-canary-41c7"
URL_PASSWORD = "urlpass-canary-9e02"
SERVER = f"nats://app:{URL_PASSWORD}@nats.example:4222"
STREAM = "EVENTS"
SUBJECT = "sharedconfig.events"
TIMEOUT = 5.0

HANG = "hang"
"""A scripted answer: JetStream never answers this publish."""
LOST = "lost"
"""A scripted answer: JetStream stores the message, but its ack never arrives."""

Answer = str | BaseException
"""A scripted answer: ``HANG``, ``LOST``, an exception to raise, or another string: the stream that acks."""


def events(n: int) -> list[Event]:
    """``n`` small events with distinct subjects."""
    return [Event("com.example.thing", "/tests", data={"n": i}, subject=f"s{i}") for i in range(n)]


@dataclass
class Published:
    """One publish call as the fake JetStream saw it."""

    subject: str
    body: bytes
    headers: dict[str, Any]
    stream: str | None


@dataclass
class FakeJetStream:
    """Answers each publish from ``script`` (per Nats-Msg-Id, one answer per publish), then acks it.

    Stores each id once and acks a stored id again as a duplicate, as JetStream does within its
    duplicate window. ``barrier`` > 0 holds every answer until that many publishes have started.
    """

    stream: str = STREAM
    script: dict[str, list[Answer]] = field(default_factory=dict)
    barrier: int = 0
    published: list[Published] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)
    all_started: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, event: Event) -> int:
        """How many times ``event`` was published."""
        return sum(1 for p in self.published if p.headers[MSG_ID_HEADER] == event.id)

    def _store(self, msg_id: str, stream: str) -> PubAck:
        if msg_id in self.stored:
            return PubAck(stream=stream, seq=self.stored[msg_id], duplicate=True)
        self.stored[msg_id] = len(self.stored) + 1
        return PubAck(stream=stream, seq=self.stored[msg_id])

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> PubAck:
        """Record the publish and answer it as scripted."""
        assert headers is not None and timeout is not None and 0 < timeout <= TIMEOUT
        self.published.append(Published(subject, payload, dict(headers), stream))
        if len(self.published) >= self.barrier:
            self.all_started.set()
        await self.all_started.wait()
        msg_id = headers[MSG_ID_HEADER]
        answers = self.script.get(msg_id)
        answer = answers.pop(0) if answers else self.stream
        if answer == LOST:
            self._store(msg_id, self.stream)
        if answer in (HANG, LOST):
            await asyncio.get_running_loop().create_future()  # never resolved: cancelled at the timeout
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, str)
        return self._store(msg_id, answer)


@dataclass
class FakeConnection:
    """A connection handing out one fake JetStream."""

    js: FakeJetStream
    closed: bool = False

    @property
    def is_closed(self) -> bool:
        """Whether ``close`` was called (or a test closed it)."""
        return self.closed

    def jetstream(self, **options: Any) -> FakeJetStream:
        """The fake JetStream."""
        return self.js

    async def close(self) -> None:
        """Mark closed."""
        self.closed = True


@dataclass
class Connector:
    """A ``connect`` that records its options and answers from ``failures`` first (``HANG``: never)."""

    js: FakeJetStream
    failures: list[BaseException | str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    connections: list[FakeConnection] = field(default_factory=list)
    cancelled: int = 0

    async def __call__(self, **options: Any) -> FakeConnection:
        """Connect, fail or hang."""
        self.calls.append(options)
        if self.failures:
            failure = self.failures.pop(0)
            if failure == HANG:
                try:
                    await asyncio.get_running_loop().create_future()
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
            assert isinstance(failure, BaseException)
            await options["error_cb"](failure)  # nats-py reports each failed try to error_cb first
            raise failure
        connection = FakeConnection(self.js)
        self.connections.append(connection)
        return connection


@dataclass
class Setup:
    """A channel built from settings with a fake connection, its clock, logs and dead-letter file."""

    channel: DeliveryChannel
    connector: Connector
    js: FakeJetStream
    clock: FakeClock
    logger: RecordingLogger
    dead_letter: Path

    def deliver(self, batch: Sequence[Event], *, close: bool = True) -> int:
        """Deliver ``batch`` autojumping the clock (then close the channel); how many were acked."""

        async def main() -> int:
            try:
                return await self.clock.autojump(self.channel.deliver(batch))
            finally:
                if close:
                    await self.channel.aclose()

        return asyncio.run(main())

    def letters(self) -> list[dict[str, Any]]:
        """The dead-letter file's lines as JSON objects."""
        if not self.dead_letter.exists():
            return []
        return [json.loads(line) for line in self.dead_letter.read_text().splitlines()]


def settings(**overrides: Any) -> NatsChannelSettings:
    """Nats settings with credentials, a 5 s timeout and two retries without jitter (1 s, then 2 s)."""
    values: dict[str, Any] = {
        "servers": [SERVER],
        "subject": SUBJECT,
        "stream": STREAM,
        "username": "app",
        "password": PASSWORD,
        "timeout": "5s",
        "retry": {"max_retries": 2, "retry_delay": "1s", "jitter": "none"},
        **overrides,
    }
    return NatsChannelSettings.model_validate(values)


def context(
    tmp_path: Path, clock: FakeClock, logger: RecordingLogger, batch_size: int = 100
) -> ChannelContext:
    """A channel context on ``clock`` with a dead-letter file in ``tmp_path``."""
    return ChannelContext(
        name="nats",
        clock=clock,
        logger=logger.bind(channel="nats"),
        metrics=InMemoryMetricsRecorder(),
        dead_letter=DeadLetterFile(tmp_path / "dead.jsonl", fsync=False, clock=clock),
        batch_size=batch_size,
    )


def setup(
    tmp_path: Path,
    *,
    js: FakeJetStream | None = None,
    failures: Sequence[BaseException | str] = (),
    batch_size: int = 100,
    **overrides: Any,
) -> Setup:
    """A channel on a fake JetStream (stream EVENTS) built by ``build`` from ``settings(**overrides)``."""
    js = js or FakeJetStream()
    connector = Connector(js, list(failures))
    clock, logger = FakeClock(), RecordingLogger()
    ctx = context(tmp_path, clock, logger, batch_size)
    channel = build(settings(**overrides), ctx, connect=connector)
    return Setup(channel, connector, js, clock, logger, tmp_path / "dead.jsonl")


class TestMessage:
    """One message per event: structured CloudEvents JSON, Nats-Msg-Id and a CloudEvents content type."""

    def test_headers_carry_the_event_id_and_the_structured_content_type(self) -> None:
        """Nats-Msg-Id is the event id (what JetStream dedupes on); Content-Type marks structured mode."""
        event = events(1)[0]
        _, headers = to_message(event)
        assert headers == {MSG_ID_HEADER: event.id, CONTENT_TYPE_HEADER: STRUCTURED_CONTENT_TYPE}

    def test_the_body_decodes_with_from_structured_and_the_cloudevents_sdk(self) -> None:
        """The body is one structured CloudEvent: our decoder and the SDK's JSON format read it back."""
        event = events(1)[0]
        body, _ = to_message(event)
        assert from_structured(body) == event
        sdk = JSONFormat().read(None, body)
        assert (sdk.get_id(), sdk.get_source(), sdk.get_type()) == (event.id, event.source, event.type)
        assert sdk.get_subject() == event.subject and sdk.get_data() == {"n": 0}

    def test_the_body_is_redacted(self) -> None:
        """A secret-looking key in the data leaves the process as **********."""
        body, _ = to_message(Event("com.example.login", "/tests", data={"password": "hunter2"}))
        assert b"hunter2" not in body and from_structured(body).data == {"password": REDACTED}

    def test_what_the_channel_publishes_is_that_message(self, tmp_path: Path) -> None:
        """Each publish goes to the subject, names the expected stream and carries the event's message."""
        s = setup(tmp_path)
        batch = events(3)
        assert s.deliver(batch) == 3
        assert [(p.subject, p.stream) for p in s.js.published] == [(SUBJECT, STREAM)] * 3
        assert sorted((p.body, tuple(p.headers.items())) for p in s.js.published) == sorted(
            (body, tuple(headers.items())) for body, headers in map(to_message, batch)
        )


class TestResends:
    """A batch goes out at once; only what JetStream did not acknowledge is published again."""

    def test_every_publish_starts_before_any_ack_is_awaited(self, tmp_path: Path) -> None:
        """JetStream answers only once all 20 publishes have started: all 20 are acked in one round."""
        s = setup(tmp_path, js=FakeJetStream(barrier=20))
        assert s.deliver(events(20)) == 20
        assert len(s.js.published) == 20

    def test_only_the_unacknowledged_messages_are_resent(self, tmp_path: Path) -> None:
        """Two acks missing in the first round: after the ack timeout and a 1 s backoff only those two
        go again, and all five count as delivered."""
        batch = events(5)
        js = FakeJetStream(script={batch[1].id: [HANG], batch[3].id: [HANG]})
        s = setup(tmp_path, js=js)
        assert s.deliver(batch) == 5
        assert [js.count(event) for event in batch] == [1, 2, 1, 2, 1]
        assert s.clock.jumps == (TIMEOUT, 1.0)
        assert s.letters() == []

    def test_a_stored_message_whose_ack_was_lost_is_acked_as_a_duplicate(self, tmp_path: Path) -> None:
        """The resend keeps its Nats-Msg-Id: JetStream answers duplicate, it counts once, stored once."""
        batch = events(3)
        js = FakeJetStream(script={batch[0].id: [LOST]})
        s = setup(tmp_path, js=js)
        assert s.deliver(batch) == 3
        assert js.count(batch[0]) == 2 and len(js.stored) == 3

    def test_what_is_still_unacknowledged_when_the_retries_are_spent_is_dead_lettered(
        self, tmp_path: Path
    ) -> None:
        """One message never acked: published 3 times in all (max_retries 2: the channel's resend, then
        the delivery's retry of that one-message round), then it alone is dead-lettered with the reason,
        and deliver counts the other four."""
        batch = events(5)
        js = FakeJetStream(script={batch[2].id: [HANG] * 4})
        s = setup(tmp_path, js=js)
        assert s.deliver(batch) == 4
        assert js.count(batch[2]) == 3
        assert s.clock.jumps == (TIMEOUT, 1.0, TIMEOUT, 1.0, TIMEOUT)
        assert [letter["id"] for letter in s.letters()] == [batch[2].id]
        reason = s.letters()[0][REASON_ATTRIBUTE]
        assert "retries spent (3 attempts)" in reason and "no acknowledgement within 5 s" in reason
        assert [e.id for e in read(s.dead_letter)] == [batch[2].id]

    def test_the_last_partial_round_dead_letters_what_it_left(self, tmp_path: Path) -> None:
        """Two messages missing in round one, one of them again in round two, and again in the third
        (last) round while the other is acked: the leftover is dead-lettered by the channel."""
        batch = events(4)
        js = FakeJetStream(script={batch[0].id: [HANG] * 3, batch[1].id: [HANG, HANG]})
        s = setup(tmp_path, js=js)
        assert s.deliver(batch) == 3
        assert [js.count(event) for event in batch] == [3, 3, 1, 1]
        assert [letter["id"] for letter in s.letters()] == [batch[0].id]
        assert "not delivered after 3 attempts" in s.letters()[0][REASON_ATTRIBUTE]

    def test_a_round_with_nothing_acknowledged_is_retried_whole_by_the_delivery(self, tmp_path: Path) -> None:
        """No ack at all in the first round: the delivery retries the round (all three again)."""
        batch = events(3)
        js = FakeJetStream(script={event.id: [HANG] for event in batch})
        s = setup(tmp_path, js=js)
        assert s.deliver(batch) == 3
        assert [js.count(event) for event in batch] == [2, 2, 2]
        assert s.clock.jumps == (TIMEOUT, 1.0)

    def test_a_message_too_large_is_dead_lettered_at_once(self, tmp_path: Path) -> None:
        """A final per-message error is not resent: that event alone goes to the dead-letter file."""
        batch = events(3)
        js = FakeJetStream(script={batch[1].id: [MaxPayloadError()]})
        s = setup(tmp_path, js=js)
        assert s.deliver(batch) == 2
        assert js.count(batch[1]) == 1
        assert [(letter["id"], "MaxPayloadError" in letter[REASON_ATTRIBUTE]) for letter in s.letters()] == [
            (batch[1].id, True)
        ]

    def test_an_event_that_cannot_be_encoded_is_dead_lettered_without_being_published(
        self, tmp_path: Path
    ) -> None:
        """Data that is not JSON (NaN) never reaches JetStream; the other events do. It is logged as failed
        and handed to the dead-letter file, which cannot write it either and counts it as lost."""
        bad = Event("com.example.thing", "/tests", data={"x": float("nan")})
        s = setup(tmp_path)
        assert s.deliver([*events(2), bad]) == 2
        assert len(s.js.published) == 2
        assert any(
            r.message == "delivery failed" and r.fields.get("event") == bad.id for r in s.logger.records
        )
        assert s.channel.dead_letter is not None and s.channel.dead_letter.lost == 1

    def test_batches_larger_than_batch_size_go_in_several_rounds(self, tmp_path: Path) -> None:
        """250 events with batch_size 100: three rounds, every event acked once."""
        s = setup(tmp_path, batch_size=100)
        assert s.deliver(events(250)) == 250
        assert len(s.js.published) == 250 and len(s.js.stored) == 250


class TestStream:
    """With ``stream`` set, a message must land in that stream, or it is a final error."""

    def test_an_ack_from_another_stream_is_a_final_error(self, tmp_path: Path) -> None:
        """Acks naming OTHER: nothing delivered, no retry, every event dead-lettered with a clear reason."""
        batch = events(3)
        s = setup(tmp_path, js=FakeJetStream(stream="OTHER"))
        assert s.deliver(batch) == 0
        assert len(s.js.published) == 3
        reasons = {letter[REASON_ATTRIBUTE] for letter in s.letters()}
        assert len(s.letters()) == 3 and len(reasons) == 1
        (reason,) = reasons
        assert "stream mismatch" in reason and "'OTHER'" in reason and f"'{STREAM}'" in reason

    def test_jetstream_refusing_the_expected_stream_is_the_same_final_error(self, tmp_path: Path) -> None:
        """JetStream's own refusal of Nats-Expected-Stream (err_code 10060) is not retried either."""
        batch = events(2)
        refusal = APIError(code=400, err_code=STREAM_MISMATCH, description="expected stream does not match")
        js = FakeJetStream(script={event.id: [refusal] for event in batch})
        s = setup(tmp_path, js=js)
        assert s.deliver(batch) == 0
        assert len(js.published) == 2
        assert all("stream mismatch" in letter[REASON_ATTRIBUTE] for letter in s.letters())
        warnings = [r for r in s.logger.records if r.level == "warning"]
        assert any("stream mismatch" in str(r.fields.get("error")) for r in warnings)

    def test_without_a_stream_setting_any_stream_is_accepted(self, tmp_path: Path) -> None:
        """stream unset: no expected-stream on the publish and whichever stream acks, it counts."""
        s = setup(tmp_path, js=FakeJetStream(stream="OTHER"), stream=None)
        assert s.deliver(events(2)) == 2
        assert {p.stream for p in s.js.published} == {None}


class TestConnection:
    """Opened lazily on the running loop, shared, replaced when closed, bounded by the timeout."""

    def test_nothing_connects_before_the_first_delivery_and_one_connection_serves_every_round(
        self, tmp_path: Path
    ) -> None:
        """Building connects nothing; three concurrent rounds open a single connection."""
        s = setup(tmp_path, batch_size=10)
        assert s.connector.calls == []
        assert s.deliver(events(30)) == 30
        assert len(s.connector.calls) == 1

    def test_user_and_password_or_a_token_go_to_the_client(self, tmp_path: Path) -> None:
        """username + password are user/password; a password alone is a token; reconnects never stop."""
        s = setup(tmp_path)
        s.deliver(events(1))
        options = s.connector.calls[0]
        assert options["servers"] == [SERVER] and options["user"] == "app" and options["password"] == PASSWORD
        assert options["allow_reconnect"] is True and options["max_reconnect_attempts"] == -1
        assert options["connect_timeout"] == TIMEOUT and "token" not in options
        s = setup(tmp_path, username=None)
        s.deliver(events(1))
        assert s.connector.calls[0]["token"] == PASSWORD and "user" not in s.connector.calls[0]

    def test_a_closed_connection_is_replaced_and_aclose_closes_it(self, tmp_path: Path) -> None:
        """A connection the client closed for good is replaced at the next delivery; aclose closes."""
        s = setup(tmp_path)

        async def main() -> tuple[int, int]:
            first = await s.channel.deliver(events(1))
            s.connector.connections[0].closed = True
            second = await s.channel.deliver(events(1))
            await s.channel.aclose()
            return first, second

        assert asyncio.run(main()) == (1, 1)
        assert len(s.connector.connections) == 2 and s.connector.connections[1].closed

    def test_a_connection_opened_on_another_loop_is_not_reused(self, tmp_path: Path) -> None:
        """A second event loop (a restarted runtime) gets a connection of its own."""
        s = setup(tmp_path)
        assert s.deliver(events(1), close=False) == 1
        assert s.deliver(events(1)) == 1
        assert len(s.connector.calls) == 2

    def test_a_connect_that_never_finishes_is_cut_at_the_timeout(self, tmp_path: Path) -> None:
        """Each attempt waits 5 s for a connection, then 1 s and 2 s backoffs: deliver ends after 18 s
        of the clock, the hanging connects were cancelled, nothing is left running, all dead-lettered."""
        batch = events(2)
        s = setup(tmp_path, failures=[HANG] * 3)

        async def main() -> tuple[int, set[asyncio.Task[Any]]]:
            delivered = await s.clock.autojump(s.channel.deliver(batch))
            await s.channel.aclose()
            return delivered, asyncio.all_tasks() - {asyncio.current_task()}

        delivered, left = asyncio.run(main())
        assert (delivered, left) == (0, set())
        assert s.clock.jumps == (TIMEOUT, 1.0, TIMEOUT, 2.0, TIMEOUT)
        assert s.connector.cancelled == 3 and s.js.published == []
        assert [letter["id"] for letter in s.letters()] == [e.id for e in batch]
        assert "no connection to nats://nats.example:4222 within 5 s" in s.letters()[0][REASON_ATTRIBUTE]

    def test_a_refused_connection_is_retried(self, tmp_path: Path) -> None:
        """A connect error is retryable: the second attempt connects and delivers."""
        s = setup(tmp_path, failures=[ConnectionRefusedError(111, "Connection refused")])
        assert s.deliver(events(2)) == 2
        assert len(s.connector.calls) == 2

    def test_the_sender_takes_publications_only(self) -> None:
        """A plain Batch is refused: the answers of each message need an ItemBatch to go in."""
        sender = JetStreamSender([SERVER], SUBJECT)
        with pytest.raises(TypeError, match="ItemBatches"):
            asyncio.run(sender.send(Batch(b"", tuple(events(1)))))

    def test_the_entry_point_builds_this_channel(self, tmp_path: Path) -> None:
        """type: nats resolves through the sharedconfig.channels entry point to this build."""
        clock, logger = FakeClock(), RecordingLogger()
        channel = build_channel(settings(), context(tmp_path, clock, logger))
        assert isinstance(channel, DeliveryChannel) and channel.name == "nats"
        assert isinstance(channel.delivery.sender, JetStreamSender)


class TestSecrets:
    """The password and the user info of server URLs never show."""

    def test_secrets_are_absent_from_repr_logs_errors_and_dead_letters(self, tmp_path: Path) -> None:
        """A connect failing with both secrets in its error: they reach no log record, no dead letter,
        no repr; the server is named by scheme, host and port."""
        error = OSError(f"cannot reach {SERVER} with password {PASSWORD}")
        s = setup(tmp_path, failures=[error] * 3)
        assert s.deliver(events(2)) == 0
        shown = [repr(s.channel), repr(s.channel.delivery), *map(repr, s.logger.records)]
        shown.append(s.dead_letter.read_text())
        for text in shown:
            assert PASSWORD not in text and URL_PASSWORD not in text, text
        assert "nats://nats.example:4222" in repr(s.channel)
        assert REDACTED in s.letters()[0][REASON_ATTRIBUTE]

    def test_a_token_in_the_url_is_a_secret_too(self) -> None:
        """nats://TOKEN@host: the whole user info is scrubbed, the host is shown."""
        sender = JetStreamSender(["nats://tok-canary-5512@nats.example:4222"], SUBJECT)
        assert "tok-canary-5512" not in repr(sender) and "tok-canary-5512" in sender.secrets


def test_a_round_keeps_bodies_with_their_events(tmp_path: Path) -> None:
    """The channel's encoder writes each event's message body as its part, kept with it for a resend."""
    batch = events(3)
    channel = build(settings(), context(tmp_path, FakeClock(), RecordingLogger()))
    (round_,), rejected = channel.encoder.encode(batch)
    assert isinstance(round_, ItemBatch) and not rejected
    assert round_.parts == tuple(to_message(event)[0] for event in batch)
    resend = round_.only([2, 0])
    assert resend.items == (batch[2], batch[0]) and resend.parts == (round_.parts[2], round_.parts[0])
