"""The Elasticsearch channel: events indexed with the ``_bulk`` API (ES 7, 8 and 9), one document per event.

``BulkEncoder`` turns events into ``BulkRequest``\\ s (NDJSON ``create`` actions), ``BulkSender`` posts one
and reads each item's answer, ``ElasticsearchChannel`` composes them with ``Delivery`` and the dead-letter
file, and ``build`` is the ``elasticsearch`` entry point of group ``sharedconfig.channels``.

A document's ``_id`` is made of the event's ``source`` and ``id`` (``document_id``) and every action is a
``create``, so an attempt that repeats one which was stored (a timeout after Elasticsearch indexed it) is
answered 409 and counted as indexed: a retry never stores an event twice, and never rewrites one.

What becomes of each event of a request::

    the answer                                       what the channel does
    the item 2xx (created)                           indexed
    the item 409 (its id is already stored)          indexed (an earlier attempt stored it)
    the item 429, es_rejected_execution_exception    resent in a request of the items to resend alone,
      or another status of retry_on_status (5xx)       after the retry policy's backoff; dead-lettered
                                                       with its error once max_retries resends failed
    the item any other (400 mapper_parsing_...)      dead-lettered at once with its error
    the whole request 5xx, 429, a timeout, a         retried by Delivery (Retry-After honoured);
      connection error                                 dead-lettered when its retries are spent
    the whole request another 4xx (401, 403, 413)    dead-lettered at once
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Collection, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from sharedconfig import __version__
from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.delivery import Delivery, DeliveryError, SecretLike
from sharedconfig.errors import SharedConfigError
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.encoding import to_structured
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch, LazyClient, parse_retry_after
from sharedconfig.redaction import REDACTED, mask_userinfo

if TYPE_CHECKING:
    from sharedconfig.monitoring.events.channel import ChannelContext
    from sharedconfig.monitoring.settings import ElasticsearchChannelSettings

__all__ = [
    "CONTENT_TYPE",
    "MAX_BYTES",
    "REJECTED_EXECUTION",
    "BulkEncoder",
    "BulkRequest",
    "BulkSender",
    "ElasticsearchChannel",
    "ItemError",
    "build",
    "document_id",
    "index_name",
]

CONTENT_TYPE: Final = "application/x-ndjson"
"""The ``content-type`` of a ``_bulk`` body: one JSON document per line, every line ending in ``\\n``."""

MAX_BYTES: Final = 5 * 1024 * 1024
"""The largest body a request is given (unless one event alone is larger): Elastic's advice for bulk
sizes, well under the 100 MB ``http.max_content_length`` and hosted services' 10 MB."""

REJECTED_EXECUTION: Final = "es_rejected_execution_exception"
"""The error type of an item a busy node refused (its write queue full): always worth resending."""

_BODY_EXCERPT = 200  # characters of an error response kept in the message
_SUMMARY_KINDS = 3  # kinds of item errors a log line names


def document_id(event: Event) -> str:
    """The ``_id`` of ``event``'s document: unpadded base64url of SHA-256 over its ``source`` and ``id``.

    43 characters whatever the event, the same in every attempt and every process, so that ``create``
    answers 409 for an event already stored. CloudEvents makes ``source`` + ``id`` unique; ``source`` is
    taken as it is sent (a URL password masked).
    """
    key = json.dumps([mask_userinfo(event.source), event.id]).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(key).digest()).rstrip(b"=").decode()


def index_name(pattern: str, when: datetime) -> str:
    """``pattern`` with its strftime fields filled from ``when`` in UTC: ``events-%Y.%m.%d`` names one
    index per day; a pattern without ``%`` is the index itself."""
    return when.astimezone(UTC).strftime(pattern) if "%" in pattern else pattern


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why Elasticsearch did not index one item of a ``_bulk`` request: its status and error object."""

    status: int
    type: str
    reason: str

    @classmethod
    def of(cls, status: int, error: object) -> ItemError:
        """From an item's ``status`` and ``error`` (an object with ``type``, ``reason`` and maybe
        ``caused_by``, or bare text)."""
        if not isinstance(error, dict):
            return cls(status, "", str(error) if error is not None else "")
        reason = str(error.get("reason") or "")
        cause = error.get("caused_by")
        if isinstance(cause, dict) and (cause.get("type") or cause.get("reason")):
            reason += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
        return cls(status, str(error.get("type") or ""), reason)

    def retryable(self, statuses: Collection[int]) -> bool:
        """Whether resending the item may index it: a status in ``statuses`` or a rejected execution."""
        return self.status in statuses or self.type == REJECTED_EXECUTION

    def __str__(self) -> str:
        kind = f"{self.status} {self.type}".strip()
        return f"{kind}: {self.reason}" if self.reason else kind


@dataclass(frozen=True, slots=True, eq=False)
class BulkRequest(Batch[Event]):
    """One ``_bulk`` request: ``body`` is ``lines`` joined, ``lines[i]`` the action and source lines of
    ``items[i]``; ``answers[i]`` is filled by the sender once Elasticsearch answered (None: indexed)."""

    lines: tuple[bytes, ...] = ()
    answers: list[ItemError | None] = field(default_factory=list)

    @classmethod
    def of(cls, encoded: Sequence[tuple[Event, bytes]]) -> BulkRequest:
        """The request of these events and their lines."""
        lines = tuple(line for _, line in encoded)
        return cls(b"".join(lines), tuple(event for event, _ in encoded), lines)

    def only(self, keep: Sequence[int]) -> BulkRequest:
        """A new request of the items at ``keep`` alone (a resend), their lines byte for byte."""
        return BulkRequest.of([(self.items[i], self.lines[i]) for i in keep])


# -- the encoder --------------------------------------------------------------------------------------


class BulkEncoder:
    """Events to ``BulkRequest``\\ s: per event a ``create`` action line and its structured JSON line.

    The source line is what ``encoding.to_structured`` writes (redacted), so a document is a CloudEvent
    that ``from_structured`` reads back. The index is ``index_name(index, event.time)`` (an event without
    a time takes the clock's when encoded, and keeps it for its resends); the id is ``document_id``. A
    request holds at most ``batch_size`` events and ``max_bytes`` of body (an event larger than that goes
    alone). An event that cannot be encoded (data that is not JSON) is returned with its error, never sent.
    """

    def __init__(
        self,
        index: str = "sharedconfig-events",
        *,
        batch_size: int = 500,
        max_bytes: int = MAX_BYTES,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not index:
            raise ValueError("index must not be empty")
        if batch_size < 1 or max_bytes < 1:
            raise ValueError("batch_size and max_bytes must be at least 1")
        self.index = index
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self._clock = clock

    def lines(self, event: Event) -> bytes:
        """The action line and the source line of ``event``, each ending in ``\\n``."""
        source = to_structured(event)  # first: it raises for data that is not JSON
        target = index_name(self.index, event.time or self._clock.wall())
        action = {"create": {"_index": target, "_id": document_id(event)}}
        return json.dumps(action, separators=(",", ":")).encode() + b"\n" + source + b"\n"

    def encode(
        self, events: Iterable[Event]
    ) -> tuple[list[BulkRequest], list[tuple[Event, SharedConfigError]]]:
        """The requests to send, in order, and the events that could not be encoded."""
        groups: list[list[tuple[Event, bytes]]] = []
        rejected: list[tuple[Event, SharedConfigError]] = []
        size = 0
        for event in events:
            try:
                lines = self.lines(event)
            except SharedConfigError as exc:
                rejected.append((event, exc))
                continue
            if not groups or len(groups[-1]) >= self.batch_size or size + len(lines) > self.max_bytes:
                groups.append([])
                size = 0
            groups[-1].append((event, lines))
            size += len(lines)
        return [BulkRequest.of(group) for group in groups], rejected

    def __repr__(self) -> str:
        return f"BulkEncoder(index={self.index!r}, batch_size={self.batch_size}, max_bytes={self.max_bytes})"


# -- the sender ---------------------------------------------------------------------------------------


class _Authorization(httpx.Auth):
    """Sets ``Authorization`` on each request as it leaves, so the credentials never sit in a client's
    default headers."""

    def __init__(self, value: SecretLike) -> None:
        self._value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the header and send."""
        request.headers["Authorization"] = self._value.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "_Authorization(SecretStr('**********'))"


def _credentials(
    username: str | None, password: SecretLike | None, api_key: SecretLike | None
) -> tuple[SecretStr | None, tuple[SecretLike, ...]]:
    """The ``Authorization`` value (an API key first, else basic auth when there is a user name) and every
    other text of it that must never be shown."""
    if api_key is not None:
        key = api_key.get_secret_value()
        if ":" in key:  # "id:api_key" as the create-API-key call returns them; base64 never holds a colon
            key = base64.b64encode(key.encode()).decode()
        return SecretStr(f"ApiKey {key}"), (api_key, SecretStr(key))
    if username is None:
        return None, ()
    secret = password.get_secret_value() if password is not None else ""
    token = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return SecretStr(f"Basic {token}"), (*((password,) if password is not None else ()), SecretStr(token))


class BulkSender:
    """POSTs a batch's NDJSON body to ``<endpoint>/_bulk`` and reads the answer of each item.

    A non-2xx answer raises ``DeliveryError`` with its ``status`` and ``Retry-After`` (the retry policy
    decides: 5xx, 408 and 429 by default); a transport error or a timeout (``timeout`` seconds) raises a
    retryable one, and so does a 2xx answer that is not a ``_bulk`` answer for as many items (resending is
    harmless: what was stored answers 409). Otherwise the request went through: a ``BulkRequest`` gets
    each item's answer in ``answers`` (None when indexed: 2xx, or 409) for the channel to settle item by
    item; any other ``Batch`` is taken whole or not at all (an item not indexed raises, with its status).

    Credentials: ``api_key`` (``Authorization: ApiKey``; an ``id:key`` pair is encoded), else basic
    auth with ``username`` and ``password``, else the endpoint's user info. They are secrets: never in
    ``repr``, messages or logs (``secrets`` lists every form they take, for the delivery's ``redact``).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        username: str | None = None,
        password: SecretLike | None = None,
        api_key: SecretLike | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Clock = SYSTEM_CLOCK,
        name: str = "elasticsearch",
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        parts = urlsplit(endpoint)
        userinfo, _, host = parts.netloc.rpartition("@")
        user, _, url_password = (unquote(part) for part in userinfo.partition(":"))
        if user and username is None and api_key is None:  # http://user:password@host: basic auth
            username = user
            password = SecretStr(url_password) if url_password else password
        path = parts.path.rstrip("/")
        self.name = name
        self.timeout = timeout
        self.url = urlunsplit((parts.scheme, host, f"{path}/_bulk", parts.query, ""))
        self.shown_url = urlunsplit((parts.scheme, host, path, "", ""))
        authorization, forms = _credentials(username, password, api_key)
        self.auth_kind = "none" if authorization is None else "api_key" if api_key is not None else "basic"
        self._auth = None if authorization is None else _Authorization(authorization)
        self._client = LazyClient(client, timeout=timeout)
        self._clock = clock
        self.secrets: tuple[SecretLike, ...] = (
            *((authorization,) if authorization is not None else ()),
            *forms,
            *((SecretStr(url_password),) if url_password else ()),
        )
        """Every value that must never be shown (for the delivery's ``redact``)."""

    def _error(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> DeliveryError:
        text = f"{self.name}: {message}"
        for secret in self.secrets:
            if value := secret.get_secret_value():
                text = text.replace(value, REDACTED)
        return DeliveryError(
            text,
            retryable=retryable,
            status=status,
            retry_after=retry_after,
            component="events",
            operation=f"channel:{self.name}",
        )

    async def send(self, payload: Batch[Event]) -> None:
        """POST ``payload.body`` once; for a ``BulkRequest``, set each item's answer in ``answers``."""
        try:
            response = await self._client.get().post(
                self.url,
                content=payload.body,
                headers={
                    "content-type": CONTENT_TYPE,
                    "accept": "application/json",
                    "user-agent": f"sharedconfig/{__version__}",
                },
                timeout=self.timeout,
                auth=self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise self._error(
                f"{type(exc).__name__} posting to {self.shown_url}: {exc}",
                retryable=not isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL),
            ) from None  # the httpx error's request holds the URL: not chained, so not shown
        status = response.status_code
        if not 200 <= status < 300:
            excerpt = response.text[:_BODY_EXCERPT].strip()
            raise self._error(
                f"HTTP {status} from {self.shown_url}" + (f": {excerpt}" if excerpt else ""),
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after"), self._clock.wall()),
            )
        answers = self._answers(response, len(payload.items))
        if isinstance(payload, BulkRequest):
            payload.answers[:] = answers
            return
        failed = [answer for answer in answers if answer is not None]
        if failed:
            raise self._error(
                f"{len(failed)} of {len(answers)} event(s) not indexed: {_summary(failed)}",
                status=failed[0].status,
            )

    def _answers(self, response: httpx.Response, expected: int) -> list[ItemError | None]:
        """Each item's error in the order of the request, as ``_bulk`` answers; None for one indexed."""
        try:
            document = response.json()
        except ValueError:
            document = None
        items = document.get("items") if isinstance(document, dict) else None
        results = [_result(item) for item in items] if isinstance(items, list) else []
        known = [result for result in results if result is not None]
        if len(results) != expected or len(known) != expected:
            raise self._error(
                f"HTTP {response.status_code} from {self.shown_url} is not a _bulk answer for "
                f"{expected} item(s): {response.text[:_BODY_EXCERPT].strip()!r}",
                retryable=True,
            )
        return [
            None if 200 <= status < 300 or status == 409 else ItemError.of(status, error)
            for status, error in known
        ]

    async def aclose(self) -> None:
        """Close the client this sender opened (a given client is left open)."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"BulkSender(url={self.shown_url!r}, auth={self.auth_kind!r}, timeout={self.timeout:g})"


def _result(item: object) -> tuple[int, object] | None:
    """An answer item's ``(status, error)`` (``{"create": {"status": 201, ...}}``); None if it is not one."""
    result = next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else None
    status = result.get("status") if isinstance(result, dict) else None
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    assert isinstance(result, dict)
    return status, result.get("error")


def _summary(errors: Sequence[ItemError]) -> str:
    """Item errors by status and type, the first of each kind quoted: ``429 es_rejected...: ... (3)``."""
    kinds: dict[tuple[int, str], list[ItemError]] = {}
    for error in errors:
        kinds.setdefault((error.status, error.type), []).append(error)
    shown = [f"{same[0]} ({len(same)})" for same in list(kinds.values())[:_SUMMARY_KINDS]]
    if len(kinds) > _SUMMARY_KINDS:
        shown.append(f"{len(kinds) - _SUMMARY_KINDS} more kind(s)")
    return "; ".join(shown)


# -- the channel --------------------------------------------------------------------------------------


@dataclass(eq=False)
class ElasticsearchChannel:
    """A ``BulkEncoder`` and a delivery (which owns the ``BulkSender``): ``await deliver(events)`` never
    raises and returns how many events were indexed (409 duplicates included).

    Each request goes through the delivery (whole-request retries, breaker, in-flight bound; a give-up
    dead-letters the request's events); the requests of one call concurrently. Once a request went
    through, its items are settled one by one: an item refused for good is dead-lettered with its own
    error; the items worth resending go again in a request of their own after the retry policy's
    ``delay`` on ``clock``, at most ``max_retries`` times, then are dead-lettered with their own errors.
    An event that cannot be encoded is dead-lettered at once.
    """

    encoder: BulkEncoder
    delivery: Delivery[Batch[Event]]
    dead_letter: DeadLetterFile | None = None
    clock: Clock = SYSTEM_CLOCK

    @property
    def name(self) -> str:
        """The channel's name (the ``channel`` label): the delivery's name."""
        return self.delivery.name

    async def deliver(self, events: Sequence[Event]) -> int:
        """Index ``events``; how many are stored (the rest were dead-lettered)."""
        requests, unencodable = self.encoder.encode(events)
        for event, error in unencodable:
            self.delivery.failed(error, event=event.id)
            self._write((event,), self.delivery.scrub(error.message))
        counts = await asyncio.gather(*(self._index(request) for request in requests))
        return sum(counts)

    async def _index(self, request: BulkRequest) -> int:
        """Deliver ``request`` and resend the items worth it; how many of its events were indexed."""
        retry = self.delivery.retry
        indexed = 0
        for attempt in range(retry.attempts):
            if attempt:
                await self.clock.sleep(retry.delay(attempt - 1))
            if not await self.delivery.deliver(request):
                return indexed  # given up: the delivery dead-lettered request.items
            resend: list[tuple[Event, ItemError]] = []
            keep: list[int] = []
            refused: list[tuple[Event, ItemError]] = []
            for i, (event, answer) in enumerate(zip(request.items, request.answers, strict=True)):
                if answer is None:
                    indexed += 1
                elif answer.retryable(retry.retryable_statuses):
                    resend.append((event, answer))
                    keep.append(i)
                else:
                    refused.append((event, answer))
            self._refuse(refused, "not indexed")
            if not resend:
                return indexed
            if attempt + 1 == retry.attempts:
                self._refuse(resend, f"not indexed after {retry.attempts} attempts")
                return indexed
            request = request.only(keep)
        return indexed

    def _refuse(self, refused: Sequence[tuple[Event, ItemError]], what: str) -> None:
        """Log item errors by kind and dead-letter each event with its own error."""
        if not refused:
            return
        errors = [error for _, error in refused]
        self.delivery.failed(
            f"{self.name}: {len(refused)} event(s) {what}: {_summary(errors)}",
            status=errors[0].status,
            events=len(refused),
        )
        by_reason: dict[str, list[Event]] = {}
        for event, error in refused:
            by_reason.setdefault(self.delivery.scrub(f"{self.name}: {what}: {error}"), []).append(event)
        for reason, same in by_reason.items():  # one write (and fsync) per distinct reason
            self._write(same, reason)

    def _write(self, events: Sequence[Event], reason: str) -> None:
        if self.dead_letter is not None:
            self.dead_letter.append(events, reason)

    async def aclose(self) -> None:
        """Close the sender's client."""
        await self.delivery.aclose()

    def __repr__(self) -> str:
        return f"ElasticsearchChannel({self.name!r}, {self.encoder!r}, {self.delivery.sender!r})"


def build(
    settings: ElasticsearchChannelSettings, ctx: ChannelContext, *, client: httpx.AsyncClient | None = None
) -> ElasticsearchChannel:
    """The ``elasticsearch`` channel of ``settings`` (the entry point of group ``sharedconfig.channels``).

    Requests of at most ``ctx.batch_size`` events; retries, breaker and in-flight window from the settings
    through ``ctx.delivery`` (an item is resent on the statuses of ``retry.retry_on_status``). ``client``
    (tests, a shared pool) is used as it is and left open.
    """
    sender = BulkSender(
        settings.endpoint,
        username=settings.username,
        password=settings.password,
        api_key=settings.api_key,
        timeout=settings.timeout.total_seconds(),
        client=client,
        clock=ctx.clock,
        name=ctx.name,
    )
    if settings.api_key is not None and (settings.username is not None or settings.password is not None):
        ctx.logger.warning("both api_key and username/password are set: the API key is used")
    elif settings.password is not None and sender.auth_kind == "none":
        ctx.logger.warning("a password without a username is not used: set username too")
    return ElasticsearchChannel(
        BulkEncoder(settings.index, batch_size=ctx.batch_size, clock=ctx.clock),
        ctx.delivery(sender, settings, redact=sender.secrets),
        ctx.dead_letter,
        ctx.clock,
    )
