"""The Elasticsearch channel: events indexed with the ``_bulk`` API (ES 7, 8 and 9), one document per event.

``BulkEncoder`` turns events into requests (``channel.ItemBatch``: each event's NDJSON ``create`` action
and source lines are its part), ``BulkSender`` posts one and reads each item's answer, and ``build``, the
``elasticsearch`` entry point of group ``sharedconfig.channels``, composes them with ``Delivery`` and the
dead-letter file in a ``DeliveryChannel``, which settles each item.

A document's ``_id`` is made of the event's ``source`` and ``id`` (``document_id``) and every action is a
``create``, so an attempt that repeats one which was stored (a timeout after Elasticsearch indexed it) is
answered 409 and counted as indexed: a retry never stores an event twice, and never rewrites one.

What becomes of each event of a request::

    the answer                                       what the channel does
    the item 2xx (created)                           indexed
    the item 409 (its id is already stored)          indexed (an earlier attempt stored it)
    the item 429, es_rejected_execution_exception    resent in a request of the items to resend alone,
      or another status of retry_on_status (5xx)       after the retry policy's backoff; dead-lettered
                                                       with its error once its tries are spent
    the item any other (400 mapper_parsing_...)      dead-lettered at once with its error
    the whole request 5xx, 429, a timeout, a         retried by Delivery (Retry-After honoured);
      connection error                                 dead-lettered when its retries are spent
    the whole request another 4xx (401, 403, 413)    dead-lettered at once

A request and its resends share one ``Tries`` of the retry policy's attempts, whole-request retries
included: an event is posted at most ``max_retries + 1`` times in all.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Generator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from sharedconfig import __version__
from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.delivery import RETRYABLE_STATUSES, DeliveryError, SecretLike
from sharedconfig.errors import SharedConfigError
from sharedconfig.monitoring.events.channel import DeliveryChannel, ItemBatch, ItemBatches, summarize
from sharedconfig.monitoring.events.encoding import to_structured
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch, LazyClient, parse_retry_after
from sharedconfig.redaction import hide, mask_userinfo

if TYPE_CHECKING:
    from sharedconfig.monitoring.events.channel import ChannelContext
    from sharedconfig.monitoring.settings import ElasticsearchChannelSettings

__all__ = [
    "CONTENT_TYPE",
    "MAX_BYTES",
    "REJECTED_EXECUTION",
    "BulkEncoder",
    "BulkSender",
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
    """Why Elasticsearch did not index one item of a ``_bulk`` request (an ``ItemFailure``): its status
    and error object, and whether resending it may index it."""

    status: int
    type: str
    reason: str
    retryable: bool = False

    @classmethod
    def of(cls, status: int, error: object, *, retry_on: Collection[int] = RETRYABLE_STATUSES) -> ItemError:
        """From an item's ``status`` and ``error`` (an object with ``type``, ``reason`` and maybe
        ``caused_by``, or bare text); retryable when ``status`` is in ``retry_on`` or the node rejected
        the execution (``REJECTED_EXECUTION``)."""
        if not isinstance(error, dict):
            return cls(status, "", str(error) if error is not None else "", status in retry_on)
        reason = str(error.get("reason") or "")
        cause = error.get("caused_by")
        if isinstance(cause, dict) and (cause.get("type") or cause.get("reason")):
            reason += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
        kind = str(error.get("type") or "")
        return cls(status, kind, reason, status in retry_on or kind == REJECTED_EXECUTION)

    @property
    def kind(self) -> str:
        """What a log line counts failures by: the status and the error type."""
        return f"{self.status} {self.type}".strip()

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}" if self.reason else self.kind


# -- the encoder --------------------------------------------------------------------------------------


class BulkEncoder:
    """Events to ``_bulk`` requests (``ItemBatch``): per event a ``create`` action line and its structured
    JSON line, its part.

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
        self._batches = ItemBatches(self.lines, batch_size, max_bytes)

    def lines(self, event: Event) -> bytes:
        """The action line and the source line of ``event``, each ending in ``\\n``."""
        source = to_structured(event)  # first: it raises for data that is not JSON
        target = index_name(self.index, event.time or self._clock.wall())
        action = {"create": {"_index": target, "_id": document_id(event)}}
        return json.dumps(action, separators=(",", ":")).encode() + b"\n" + source + b"\n"

    def encode(
        self, events: Iterable[Event]
    ) -> tuple[list[ItemBatch], list[tuple[Event, SharedConfigError]]]:
        """The requests to send, in order, and the events that could not be encoded."""
        return self._batches.encode(tuple(events))

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
    harmless: what was stored answers 409). Otherwise the request went through: an ``ItemBatch`` (its
    body its parts joined) gets each item's answer in ``outcomes`` (None when indexed: 2xx, or 409; an
    ``ItemError`` retryable on the statuses of ``retry_on``) for the channel to settle item by item; any
    other ``Batch`` is taken whole or not at all (an item not indexed raises, with its status). An
    ``ItemBatch``'s attempts count on its ``tries``: the error of the last allowed one is final.

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
        retry_on: Collection[int] = RETRYABLE_STATUSES,
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
        self.retry_on = frozenset(retry_on)
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
        spent: str = "",
    ) -> DeliveryError:
        return DeliveryError(
            hide(f"{self.name}: {message}{spent}", self.secrets),
            retryable=False if spent else retryable,
            status=status,
            retry_after=retry_after,
            component="events",
            operation=f"channel:{self.name}",
        )

    async def send(self, payload: Batch[Event]) -> None:
        """POST ``payload.body`` once (an ``ItemBatch``'s parts); for an ``ItemBatch``, set each item's
        answer in ``outcomes``."""
        batch = payload if isinstance(payload, ItemBatch) else None
        spent = batch.attempt() if batch is not None else ""
        try:
            response = await self._client.get().post(
                self.url,
                content=b"".join(batch.parts) if batch is not None else payload.body,
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
                spent=spent,
            ) from None  # the httpx error's request holds the URL: not chained, so not shown
        status = response.status_code
        if not 200 <= status < 300:
            excerpt = response.text[:_BODY_EXCERPT].strip()
            raise self._error(
                f"HTTP {status} from {self.shown_url}" + (f": {excerpt}" if excerpt else ""),
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after"), self._clock.wall()),
                spent=spent,
            )
        answers = self._answers(response, len(payload.items), spent)
        if batch is not None:
            batch.outcomes[:] = answers
            return
        failed = [answer for answer in answers if answer is not None]
        if failed:
            raise self._error(
                f"{len(failed)} of {len(answers)} event(s) not indexed: {summarize(failed)}",
                status=failed[0].status,
            )

    def _answers(self, response: httpx.Response, expected: int, spent: str) -> list[ItemError | None]:
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
                spent=spent,
            )
        return [
            None
            if 200 <= status < 300 or status == 409
            else ItemError.of(status, error, retry_on=self.retry_on)
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


def build(
    settings: ElasticsearchChannelSettings, ctx: ChannelContext, *, client: httpx.AsyncClient | None = None
) -> DeliveryChannel:
    """The ``elasticsearch`` channel of ``settings`` (the entry point of group ``sharedconfig.channels``).

    A ``BulkEncoder`` and a ``BulkSender`` composed by ``Delivery`` in a ``DeliveryChannel``, which returns
    how many events were indexed (409 duplicates included). Requests of at most ``ctx.batch_size`` events,
    sent concurrently; retries, breaker and in-flight window from the settings through ``ctx.channel`` (an
    item is resent on the statuses of ``retry.retry_on_status``). ``client`` (tests, a shared pool) is used
    as it is and left open.
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
        retry_on=settings.retry.statuses(),
    )
    if settings.api_key is not None and (settings.username is not None or settings.password is not None):
        ctx.logger.warning("both api_key and username/password are set: the API key is used")
    elif settings.password is not None and sender.auth_kind == "none":
        ctx.logger.warning("a password without a username is not used: set username too")
    encoder = BulkEncoder(settings.index, batch_size=ctx.batch_size, clock=ctx.clock)
    return ctx.channel(sender, settings, encoder=encoder, redact=sender.secrets)
