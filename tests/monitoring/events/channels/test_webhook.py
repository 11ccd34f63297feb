"""The webhook channel: signature, encoder, sender (on httpx.MockTransport) and the channel on a FakeClock."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from sharedconfig.delivery import DeliveryError, Jitter, RetryPolicy
from sharedconfig.errors import REGISTRY
from sharedconfig.monitoring.events import Event, from_batch, from_structured
from sharedconfig.monitoring.events.channel import DeliveryChannel
from sharedconfig.monitoring.events.channels.webhook import (
    SIGNATURE_HEADER,
    InvalidSignature,
    Mode,
    WebhookEncoder,
    WebhookSender,
    sign,
    verify,
    webhook_channel,
)
from sharedconfig.monitoring.events.deadletter import DeadLetterFile, read
from sharedconfig.redaction import REDACTED
from sharedconfig.testing import FakeClock, RecordingLogger

EPOCH = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
NOW = int(EPOCH.timestamp())
SECRET = "whsec-canary-3f9a1c"
TOKEN = "urltoken-canary-77b2"
URL = f"https://hooks.example.com/in/{TOKEN}?key={TOKEN}"
HEADER_CANARY = "bearer-canary-5d1e"

Handler = Callable[[httpx.Request], httpx.Response]


def events(n: int) -> list[Event]:
    """``n`` small events with distinct subjects."""
    return [Event("com.example.thing", "/tests", data={"n": i}, subject=f"s{i}") for i in range(n)]


def channel(
    handler: Handler, tmp_path: Path, *, mode: Mode = Mode.BATCH, **kwargs: object
) -> tuple[DeliveryChannel, FakeClock, RecordingLogger]:
    """A channel on a MockTransport, a FakeClock at EPOCH, retries without jitter, and a dead-letter file."""
    clock = FakeClock(epoch=EPOCH)
    logger = RecordingLogger()
    options: dict[str, object] = {
        "mode": mode,
        "headers": {"Authorization": f"Bearer {HEADER_CANARY}"},
        "retry": RetryPolicy(max_retries=2, initial_delay=1.0, jitter=Jitter.NONE),
        "client": httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        "clock": clock,
        "logger": logger,
        "dead_letter": DeadLetterFile(tmp_path / "dead.jsonl", fsync=False, clock=clock),
        **kwargs,
    }
    return webhook_channel(URL, SECRET, **options), clock, logger  # type: ignore[arg-type]


def run(ch: DeliveryChannel, clock: FakeClock, batch: list[Event]) -> int:
    """Deliver ``batch`` autojumping the clock, then close the channel's client; events delivered."""

    async def main() -> int:
        try:
            return await clock.autojump(ch.deliver(batch))
        finally:
            await ch.aclose()

    return asyncio.run(main())


class Receiver:
    """A MockTransport handler that verifies each request's signature at the clock's time and answers
    from ``statuses`` (then 200)."""

    def __init__(self, clock_now: Callable[[], float], statuses: list[int] | None = None) -> None:
        self.now = clock_now
        self.statuses = list(statuses or [])
        self.requests: list[httpx.Request] = []
        self.headers: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record, verify, answer."""
        self.requests.append(request)
        verify(SECRET, request.content, request.headers.get(SIGNATURE_HEADER), now=self.now())
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, headers=self.headers if status != 200 else {})


class TestSignature:
    """sign() and verify(): Stripe's t=...,v1=... scheme, constant-time, with a timestamp tolerance."""

    def test_round_trip(self) -> None:
        """A signature made with the secret verifies and gives back its timestamp."""
        header = sign(SECRET, b'{"a":1}', NOW)
        assert header.startswith(f"t={NOW},v1=")
        assert verify(SecretStr(SECRET), b'{"a":1}', header, now=NOW + 5) == NOW

    def test_known_value(self) -> None:
        """v1 is hex HMAC-SHA256(secret, "<t>." + body), as a receiver in any language computes it."""
        assert sign("k", b"body", 1) == ("t=1,v1=" + hmac.new(b"k", b"1.body", "sha256").hexdigest())

    @pytest.mark.parametrize(
        ("secret", "body", "header"),
        [
            ("other-secret", b"{}", sign(SECRET, b"{}", NOW)),
            (SECRET, b'{"tampered":1}', sign(SECRET, b"{}", NOW)),
            (SECRET, b"{}", None),
            (SECRET, b"{}", "v1=abc"),
            (SECRET, b"{}", f"t={NOW}"),
            (SECRET, b"{}", "garbage"),
        ],
        ids=["wrong-secret", "tampered-body", "missing", "no-timestamp", "no-signature", "garbage"],
    )
    def test_rejects(self, secret: str, body: bytes, header: str | None) -> None:
        """A wrong secret, changed body, missing or malformed header raise SECURITY_003, secret unshown."""
        with pytest.raises(InvalidSignature) as caught:
            verify(secret, body, header, now=NOW)
        assert caught.value.code == "SECURITY_003" and "SECURITY_003" in REGISTRY
        assert SECRET not in str(caught.value) + repr(caught.value.to_dict())

    @pytest.mark.parametrize("offset", [-301, 301])
    def test_stale_or_future_timestamp(self, offset: int) -> None:
        """A timestamp beyond the tolerance either way is rejected, even with the right HMAC."""
        header = sign(SECRET, b"{}", NOW + offset)
        with pytest.raises(InvalidSignature, match="tolerance 300 s"):
            verify(SECRET, b"{}", header, now=NOW)
        assert verify(SECRET, b"{}", header, now=NOW, tolerance=400) == NOW + offset

    def test_rotation(self) -> None:
        """During a rotation a receiver given the old and the new secret accepts either."""
        header = sign("new", b"{}", NOW)
        assert verify(["old", SecretStr("new")], b"{}", header, now=NOW) == NOW


class TestEncoder:
    """Events to bodies: structured (one per body) or batch (arrays of batch_size), redacted."""

    def test_structured(self) -> None:
        """Structured mode gives one body per event, each decoding to that event."""
        batch = events(3)
        encoder = WebhookEncoder(Mode.STRUCTURED)
        bodies, rejected = encoder.encode(batch)
        assert [from_structured(b.body) for b in bodies] == batch and not rejected
        assert [b.items for b in bodies] == [(e,) for e in batch]
        assert encoder.content_type.startswith("application/cloudevents+json")

    def test_batch_chunks(self) -> None:
        """Batch mode gives arrays of at most batch_size events, in order."""
        batch = events(5)
        encoder = WebhookEncoder("batch", batch_size=2)
        bodies, _ = encoder.encode(batch)
        assert [len(b.items) for b in bodies] == [2, 2, 1]
        assert [e for b in bodies for e in from_batch(b.body)] == batch
        assert encoder.content_type.startswith("application/cloudevents-batch+json")

    def test_redacts(self) -> None:
        """Data under a secret-looking key leaves as ********** (encoding.py's rules)."""
        bodies, _ = WebhookEncoder().encode([Event("t", "/s", data={"password": SECRET})])
        assert SECRET not in bodies[0].body.decode() and REDACTED in bodies[0].body.decode()

    def test_unencodable_event_is_set_aside(self) -> None:
        """An event whose data is not JSON is returned with its error; the others are still encoded."""
        bad = Event("t", "/s", data={"x": {1, 2}})  # type: ignore[dict-item]  # a set is not JSON
        bodies, rejected = WebhookEncoder().encode([*events(1), bad])
        assert len(bodies[0].items) == 1 and rejected[0][0] is bad
        assert rejected[0][1].code == "VALIDATION_050"


class TestSender:
    """One POST: headers, signature, and which answers become which DeliveryError."""

    def sender(self, handler: Handler, clock: FakeClock, timeout: float = 10.0) -> WebhookSender:
        """A sender with the canary secrets on a MockTransport."""
        return WebhookSender(
            SecretStr(URL),
            SecretStr(SECRET),
            headers={"Authorization": SecretStr(f"Bearer {HEADER_CANARY}")},
            client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
            clock=clock,
            timeout=timeout,
        )

    def send(
        self, handler: Handler, clock: FakeClock | None = None, timeout: float = 10.0
    ) -> DeliveryError | None:
        """Send one body; the DeliveryError raised, if any."""
        sender = self.sender(handler, clock or FakeClock(epoch=EPOCH), timeout)

        async def main() -> DeliveryError | None:
            try:
                (bodies, _) = WebhookEncoder().encode(events(1))
                await sender.send(bodies[0])
            except DeliveryError as exc:
                return exc
            finally:
                await sender.aclose()
            return None

        return asyncio.run(main())

    def test_request(self) -> None:
        """The POST carries the body, content type, extra headers, timeout and a signature at clock time."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(202)

        clock = FakeClock(epoch=EPOCH)
        clock.advance(42)
        assert self.send(handler, clock, timeout=3.0) is None
        request = seen[0]
        assert request.extensions["timeout"] == dict.fromkeys(("connect", "read", "write", "pool"), 3.0)
        assert request.method == "POST" and str(request.url) == URL
        assert request.headers["content-type"].startswith("application/cloudevents-batch+json")
        assert request.headers["authorization"] == f"Bearer {HEADER_CANARY}"
        assert verify(SECRET, request.content, request.headers[SIGNATURE_HEADER], now=NOW + 42, tolerance=0)

    @pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (400, False)])
    def test_status(self, status: int, retryable: bool) -> None:
        """A non-2xx answer raises DeliveryError with its status; 5xx and 429 are retryable, 400 is not."""
        error = self.send(lambda request: httpx.Response(status, text="nope"))
        assert error is not None and error.status == status and error.recoverable is retryable
        assert RetryPolicy().retryable(error) is retryable

    def test_retry_after_seconds_and_date(self) -> None:
        """Retry-After is read as delta seconds or as an HTTP date against the clock's wall time."""
        seconds = self.send(lambda r: httpx.Response(429, headers={"Retry-After": "7"}))
        when = format_datetime(EPOCH + timedelta(seconds=12), usegmt=True)
        dated = self.send(lambda r: httpx.Response(503, headers={"Retry-After": when}))
        assert seconds is not None and seconds.retry_after == 7.0
        assert dated is not None and dated.retry_after == 12.0

    def test_timeout_is_retryable(self) -> None:
        """A timeout raises a retryable DeliveryError without a status."""

        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

        error = self.send(handler)
        assert error is not None and error.status is None and RetryPolicy().retryable(error)
        assert "ReadTimeout" in error.message and error.__cause__ is None

    def test_secrets_never_in_errors(self) -> None:
        """Neither the URL's token, the header value nor the secret shows in an error, even when echoed."""

        def echo(request: httpx.Request) -> httpx.Response:
            return httpx.Response(500, text=f"{request.url} {request.headers} {SECRET}")

        def fail(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

        for handler in (echo, fail):
            error = self.send(handler)
            assert error is not None
            text = str(error) + repr(error.to_dict())
            assert all(c not in text for c in (TOKEN, SECRET, HEADER_CANARY)), text
            assert "https://hooks.example.com" in text

    def test_repr_and_bad_arguments(self) -> None:
        """repr shows only scheme and host; a zero timeout or an empty secret is refused."""
        sender = self.sender(lambda r: httpx.Response(200), FakeClock())
        shown = repr(sender) + repr(vars(sender))
        assert "https://hooks.example.com" in shown and TOKEN not in shown and SECRET not in shown
        with pytest.raises(ValueError, match="timeout"):
            WebhookSender(SecretStr(URL), SecretStr(SECRET), timeout=0)
        with pytest.raises(ValueError, match="secret"):
            WebhookSender(SecretStr(URL), SecretStr(""))

    def test_without_a_secret_requests_are_not_signed(self) -> None:
        """secret None: the POST carries no signature header (and no secret is asked for)."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200)

        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        sender = WebhookSender(SecretStr(URL), None, client=client, clock=FakeClock())
        batch, _ = WebhookEncoder().encode(events(2))
        asyncio.run(sender.send(batch[0]))
        assert len(seen) == 1
        assert "x-sharedconfig-signature" not in seen[0].headers
        assert sender.secrets == (sender._url,)


class TestChannel:
    """The channel on a FakeClock: retries, Retry-After, give-ups into the dead-letter file."""

    def test_500_then_200(self, tmp_path: Path) -> None:
        """A 500 is retried after the backoff and the batch is delivered once; nothing is dead-lettered."""
        clock_box: list[FakeClock] = []
        receiver = Receiver(lambda: clock_box[0].wall().timestamp(), [500])
        ch, clock, _ = channel(receiver, tmp_path)
        clock_box.append(clock)
        batch = events(3)
        assert run(ch, clock, batch) == 3
        assert len(receiver.requests) == 2 and clock.jumps == (1.0,)
        assert from_batch(receiver.requests[1].content) == batch
        assert not (tmp_path / "dead.jsonl").exists()

    def test_429_waits_retry_after(self, tmp_path: Path) -> None:
        """A 429 with Retry-After: 7 waits 7 s of the clock (not the 1 s backoff), then delivers."""
        clock_box: list[FakeClock] = []
        receiver = Receiver(lambda: clock_box[0].wall().timestamp(), [429])
        receiver.headers = {"Retry-After": "7"}
        ch, clock, _ = channel(receiver, tmp_path)
        clock_box.append(clock)
        assert run(ch, clock, events(2)) == 2
        assert clock.jumps == (7.0,) and len(receiver.requests) == 2

    def test_retries_exhausted_are_dead_lettered(self, tmp_path: Path) -> None:
        """After 3 failed attempts every event of the batch is in the dead-letter file with the reason."""
        ch, clock, logger = channel(lambda r: httpx.Response(503), tmp_path, mode=Mode.STRUCTURED)
        batch = events(3)
        assert run(ch, clock, batch) == 0
        assert sorted(e.id for e in read(tmp_path / "dead.jsonl")) == sorted(e.id for e in batch)
        lines = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
        assert all("HTTP 503" in line["deadletterreason"] for line in lines)
        assert "delivery failed" in logger.messages("warning")

    def test_final_answer_not_retried(self, tmp_path: Path) -> None:
        """A 401 (a receiver rejecting the signature) is not retried: one request, then dead-lettered."""
        calls: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(1)
            return httpx.Response(401)

        ch, clock, _ = channel(handler, tmp_path)
        batch = events(2)
        assert run(ch, clock, batch) == 0 and calls == [1]
        assert [e.id for e in read(tmp_path / "dead.jsonl")] == [e.id for e in batch]

    def test_in_flight_bound(self, tmp_path: Path) -> None:
        """Structured mode sends its requests concurrently but never more than max_in_flight at once."""
        in_flight, peak = [0], [0]

        async def handler(request: httpx.Request) -> httpx.Response:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            await clock.sleep(1)
            in_flight[0] -= 1
            return httpx.Response(200)

        ch, clock, _ = channel(handler, tmp_path, mode=Mode.STRUCTURED, max_in_flight=2)  # type: ignore[arg-type]
        assert run(ch, clock, events(5)) == 5
        assert peak[0] == 2 and clock.now() == 3.0

    def test_unencodable_event_is_counted_and_dead_lettered(self, tmp_path: Path) -> None:
        """An event that cannot be encoded is logged as failed and written aside; the rest are delivered."""
        ch, clock, logger = channel(lambda r: httpx.Response(200), tmp_path)
        bad = Event("t", "/s", data={"x": float("nan")})
        assert run(ch, clock, [*events(2), bad]) == 2
        assert logger.messages("warning") == ["delivery failed"]
        assert ch.dead_letter is not None and ch.dead_letter.lost == 1

    def test_secrets_never_in_logs_or_dead_letters(self, tmp_path: Path) -> None:
        """With an answer echoing every secret, no log record, repr or dead-letter line contains one."""

        def echo(request: httpx.Request) -> httpx.Response:
            return httpx.Response(500, text=f"{request.url} {request.headers} {SECRET}")

        ch, clock, logger = channel(echo, tmp_path)
        run(ch, clock, events(1))
        shown = repr(logger.records) + (tmp_path / "dead.jsonl").read_text() + repr(ch) + repr(vars(ch))
        assert all(c not in shown for c in (TOKEN, SECRET, HEADER_CANARY))
        assert "HTTP 500" in shown
