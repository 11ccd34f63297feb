"""``/api/v1/events`` (keyset pages of the event store) and ``/api/v1/events/stream`` (Server-Sent Events).

Both read the ``EventStore`` of the service's sqlite channel on worker threads, never on the event loop;
``Streams`` ends every open stream when the server shuts down, so a tail never holds up a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, SecretStr
from starlette.types import Receive, Scope, Send

from sharedconfig.clock import Clock, to_thread, wait_for
from sharedconfig.errors import ValidationError
from sharedconfig.monitoring.events.channels.sqlite import EventFilter, EventStore, EventStoreError, Record
from sharedconfig.monitoring.events.encoding import to_structured
from sharedconfig.monitoring.events.event import Category, Severity
from sharedconfig.server.api import APIError, APIErrorCode, ErrorBody, require_token
from sharedconfig.server.event_query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    parse_cursor,
    parse_query,
    parse_stream,
)

__all__ = [
    "HEARTBEAT_INTERVAL",
    "POLL_INTERVAL",
    "EventStream",
    "EventsPage",
    "Streams",
    "events_router",
    "sse_frame",
]

POLL_INTERVAL: Final = 0.5
"""Seconds between two reads of the store by an idle stream: how late a new event can reach a client."""
HEARTBEAT_INTERVAL: Final = 15.0
"""Seconds of silence after which a stream sends a comment, so proxies and clients keep the connection."""
_STREAM_BATCH: Final = 500  # events read per follow() step; a longer backlog is read step by step at once
_NO_STORE: Final = {"Cache-Control": "no-store"}
_HEARTBEAT: Final = b": heartbeat\n\n"

_NOT_STORED_HINT: Final = (
    "add a channel `- type: sqlite` to monitoring.events.exporters (the events API reads its store), or "
    "pass the store to create_app(..., event_store=EventStore(path))"
)


class EventsPage(BaseModel):
    """One page of events, newest first unless ``order=oldest``."""

    events: list[dict[str, Any]] = Field(
        description="Structured CloudEvents 1.0 JSON objects, redacted as stored (secrets as **********)."
    )
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page. Opaque."
    )


def sse_frame(record: Record) -> bytes:
    """One event as Server-Sent Events: ``id`` (its cursor), ``event`` (its type), ``data`` (its JSON)."""
    kind = record.event.type.replace("\r", " ").replace("\n", " ")  # one line, as the format requires
    # compact JSON escapes line breaks, so the structured form is a single data line
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (record.cursor, kind.encode(), to_structured(record.event))


class Streams:
    """The open event streams of one app: ``close()`` ends them all (the server is shutting down).

    Thread-safe: ``close`` is called from the thread stopping the server, each stream waits on its own
    loop. A stream opened after ``close`` ends at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self.closed = False

    def register(self, stop: asyncio.Event) -> Callable[[], None]:
        """Set ``stop`` (on its loop) when ``close`` is called; returns the function that forgets it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.closed:
                stop.set()
            else:
                self._open[stop] = loop

        def forget() -> None:
            with self._lock:
                self._open.pop(stop, None)

        return forget

    def close(self) -> None:
        """End every open stream (each sends its last bytes and completes); idempotent."""
        with self._lock:
            self.closed = True
            waiting, self._open = self._open, {}
        for stop, loop in waiting.items():
            with contextlib.suppress(RuntimeError):  # its loop is closed already: nothing is waiting
                loop.call_soon_threadsafe(stop.set)


class EventStream(Response):
    """The ``text/event-stream`` response: the store's events after ``start`` that match ``filters``.

    Each event is an ``sse_frame``; after ``heartbeat`` seconds without one a comment line goes out. The
    store is read with ``follow`` on a worker thread every ``poll`` seconds of ``clock`` (at once while a
    backlog lasts). The stream ends when the client disconnects, ``streams`` is closed (shutdown) or the
    store can no longer be read (it was closed); a client resumes with ``Last-Event-ID``.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        store: EventStore,
        filters: EventFilter,
        start: int,
        *,
        clock: Clock,
        streams: Streams,
        poll: float = POLL_INTERVAL,
        heartbeat: float = HEARTBEAT_INTERVAL,
    ) -> None:
        self.status_code = 200
        self.background = None
        # no body and no content-length: the response is as long as the stream
        self.init_headers({**_NO_STORE, "X-Accel-Buffering": "no"})
        self.store = store
        self.filters = filters
        self.start = start
        self._clock = clock
        self._streams = streams
        self._poll = poll
        self._heartbeat = heartbeat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream until the client goes, the server stops or the store closes."""
        stop = asyncio.Event()
        forget = self._streams.register(stop)
        watcher = asyncio.ensure_future(_watch_disconnect(receive, stop))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._pump(send, stop)
            if not watcher.done():  # a client still there gets a proper end of the response
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write (what ASGI 2.4 servers raise): nothing to finish
        finally:
            forget()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _pump(self, send: Send, stop: asyncio.Event) -> None:
        cursor = self.start
        clock = self._clock
        quiet_since = clock.now()
        while not stop.is_set():
            try:
                page = await to_thread(partial(self.store.follow, cursor, self.filters, limit=_STREAM_BATCH))
            except (EventStoreError, sqlite3.Error):
                return  # closed at shutdown, or unreadable: end; the client resumes from its last id
            if stop.is_set():
                return
            if page.records:
                body = b"".join(sse_frame(record) for record in page.records)
                await send({"type": "http.response.body", "body": body, "more_body": True})
                cursor = page.records[-1].cursor
                quiet_since = clock.now()
                if len(page.records) == _STREAM_BATCH:
                    continue  # a backlog: read on without waiting
            elif clock.now() - quiet_since >= self._heartbeat:
                await send({"type": "http.response.body", "body": _HEARTBEAT, "more_body": True})
                quiet_since = clock.now()
            pause = min(self._poll, self._heartbeat - (clock.now() - quiet_since))
            with contextlib.suppress(TimeoutError):
                await wait_for(clock, stop.wait(), max(pause, 0.0))


async def _watch_disconnect(receive: Receive, stop: asyncio.Event) -> None:
    """Set ``stop`` when the client disconnects (any request body is read and dropped)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stop.set()
            return


def _query_params(request: Request) -> dict[str, list[str]]:
    params = request.query_params
    return {name: params.getlist(name) for name in params}


def _bad_parameter(exc: ValidationError) -> APIError:
    named = not exc.path or exc.message.startswith(exc.path)
    message = exc.message if named else f"{exc.path}: {exc.message}"
    return APIError(400, APIErrorCode.INVALID_PARAMETER, message, exc.hint)


def _unavailable(exc: Exception) -> APIError:
    reason = exc.message if isinstance(exc, EventStoreError) else f"{type(exc).__name__}: {exc}"
    return APIError(
        503,
        APIErrorCode.EVENTS_UNAVAILABLE,
        f"the event store cannot be read: {reason}",
        "the server log and the store file's state (disk, permissions) say why; try again",
    )


def _page_body(records: Iterable[Record], next_cursor: int | None) -> bytes:
    # each event's structured JSON joined into the body as bytes: the page itself is never re-encoded
    events = b",".join(to_structured(r.event) for r in records)
    cursor = b"null" if next_cursor is None else b'"%d"' % next_cursor
    return b'{"events":[' + events + b'],"next_cursor":' + cursor + b"}"


def _parameter(
    name: str, description: str, schema: Mapping[str, Any], where: str = "query"
) -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "description": description, "schema": dict(schema)}


# the common forms; the parser takes every duration sharedconfig reads (parse_duration)
_TIME_SCHEMA: Final = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": "^[0-9]{1,5}(ms|s|m|h|d|w)$"},
    ]
}
_FILTER_DOCS: Final = (
    _parameter(
        "type",
        "Event type, exact or a prefix ending in `.*` (`config.*`); repeat it for any of several.",
        {"type": "array", "items": {"type": "string", "minLength": 1}},
    ),
    _parameter(
        "severity", "The least severity kept.", {"type": "string", "enum": [s.value for s in Severity]}
    ),
    _parameter("category", "Only this category.", {"type": "string", "enum": [c.value for c in Category]}),
    _parameter(
        "subject", "Subject, exact or a glob (`orders/*`, `?`, `[...]`).", {"type": "string", "minLength": 1}
    ),
    _parameter(
        "trace_id",
        "W3C trace id: the events published inside that trace.",
        {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
    ),
    _parameter(
        "since",
        "From this time on (inclusive): RFC 3339 (`2026-12-07T20:35:00Z`) or a duration ago (`15m`, `2h`; "
        "also compound and fractional ones, `1h30m`, `1.5h`).",
        _TIME_SCHEMA,
    ),
    _parameter("until", "Before this time (exclusive); the same forms as `since`.", _TIME_SCHEMA),
)
_CURSOR_SCHEMA: Final = {"type": "string", "pattern": "^[0-9]{1,18}$"}
_PAGE_DOCS: Final = (
    *_FILTER_DOCS,
    _parameter(
        "limit",
        f"Events in the page, 1 to {MAX_LIMIT}.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    _parameter("cursor", "The `next_cursor` of the previous page.", _CURSOR_SCHEMA),
    _parameter(
        "order",
        "`newest` first or `oldest` first.",
        {"type": "string", "enum": ["newest", "oldest"], "default": "newest"},
    ),
)
_STREAM_DOCS: Final = (
    *_FILTER_DOCS,
    _parameter(
        "cursor", "Start after this cursor (an event's `id`), as `Last-Event-ID` does.", _CURSOR_SCHEMA
    ),
    _parameter(
        "Last-Event-ID",
        "Resume after this event id (what an EventSource sends when it reconnects); wins over `cursor`.",
        _CURSOR_SCHEMA,
        "header",
    ),
)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "A query parameter is not valid: `error.message` names it, `error.hint` says how to write it.",
        401: "Missing or wrong bearer token, or no token configured.",
        404: "No event store: the service has no sqlite channel (`events_not_stored`).",
        503: "The event store cannot be read (`events_unavailable`).",
    }
    return {status: {"model": ErrorBody, "description": described[status]} for status in statuses}


def events_router(
    store: Callable[[], EventStore | None],
    token: SecretStr | None,
    *,
    clock: Clock,
    streams: Streams,
    poll: float = POLL_INTERVAL,
    heartbeat: float = HEARTBEAT_INTERVAL,
) -> APIRouter:
    """The events routes under ``/api/v1`` (bearer token required); ``store`` gives the store or None.

    ``clock`` turns ``since=15m`` into a time and paces the streams' polls and heartbeats.
    """
    router = APIRouter(prefix="/api/v1", tags=["events"], dependencies=[Depends(require_token(token))])

    def found() -> EventStore:
        current = store()
        if current is None:
            raise APIError(
                404,
                APIErrorCode.EVENTS_NOT_STORED,
                "this server keeps no events: no sqlite channel is configured",
                _NOT_STORED_HINT,
            )
        return current

    @router.get(
        "/events",
        summary="Stored events, a page at a time",
        response_class=Response,
        responses={
            200: {"model": EventsPage, "description": "A page of events and the cursor of the next one."},
            **_errors(400, 401, 404, 503),
        },
        openapi_extra={"parameters": list(_PAGE_DOCS)},
    )
    async def list_events(request: Request) -> Response:
        """The stored events matching the filters, newest first (``order=oldest``: oldest first), at most
        ``limit``; ``next_cursor`` pages on (keyset: appends while paging neither repeat nor skip one)."""
        events = found()
        try:
            query = parse_query(_query_params(request), clock.wall())
        except ValidationError as exc:
            raise _bad_parameter(exc) from None
        try:
            page = await to_thread(
                lambda: events.query(query.filters, limit=query.limit, after=query.cursor, order=query.order)
            )
        except (EventStoreError, sqlite3.Error) as exc:
            raise _unavailable(exc) from None
        return Response(
            _page_body(page.records, page.next_cursor), media_type="application/json", headers=_NO_STORE
        )

    @router.get(
        "/events/stream",
        summary="New events as Server-Sent Events",
        response_class=Response,
        responses={
            200: {
                "description": "`id: <cursor>`, `event: <type>`, `data: <structured JSON>` per event; "
                f"a `: heartbeat` comment after {HEARTBEAT_INTERVAL:g} s without one.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **_errors(400, 401, 404, 503),
        },
        openapi_extra={"parameters": list(_STREAM_DOCS)},
    )
    async def stream_events(request: Request) -> Response:
        """Every new event matching the filters as it is stored, until the client disconnects; from after
        ``Last-Event-ID`` (or ``cursor``) when given, else from now on."""
        events = found()
        try:
            filters, start = parse_stream(_query_params(request), clock.wall())
            resume = request.headers.get("last-event-id")
            if resume is not None:
                start = parse_cursor("Last-Event-ID", resume)
        except ValidationError as exc:
            raise _bad_parameter(exc) from None
        if start is None:
            try:
                start = await to_thread(events.last_cursor)
            except (EventStoreError, sqlite3.Error) as exc:
                raise _unavailable(exc) from None
        return EventStream(
            events, filters, start, clock=clock, streams=streams, poll=poll, heartbeat=heartbeat
        )

    return router
