"""Connection limits for the uvicorn server: a deadline on every request head and a cap on open connections.

uvicorn closes idle keep-alive connections only; a client trickling a header byte every few seconds is
never closed, and enough of them exhaust the descriptors, taking ``/health/live`` down with the rest.
``ConnectionGuard`` is the per-server bookkeeping; ``guarded_protocol`` wraps uvicorn's HTTP protocol in
a ``GuardedConnection`` that reports to it.

The rules (docs/monitoring.md, "Server limits"):

- A connection waiting for a request head (a new one, or a keep-alive one once the next head has begun)
  is closed when the head is not complete ``header_timeout`` after it began (reason ``header_timeout``).
  Between requests uvicorn's keep-alive timeout applies instead.
- At most ``max_connections`` are open. One more arriving closes the connection that has waited longest
  for its next head (reason ``evicted``), never one with a request in progress or a response still being
  written; when every other one is busy, the newcomer itself is closed (reason ``refused``).

Closures are counted in ``server_connections_closed_total{reason}`` and logged at most once a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, cast

from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.names import HELP, SERVER_CONNECTIONS_CLOSED

if TYPE_CHECKING:
    from sharedconfig.monitoring.metrics.instruments import CounterChild
    from sharedconfig.monitoring.metrics.registry import MetricsRegistry

__all__ = [
    "CLOSE_REASONS",
    "LOG_INTERVAL",
    "Cancellable",
    "CloseReason",
    "ConnectionGuard",
    "GuardedConnection",
    "Timers",
    "guarded_protocol",
]

CloseReason = Literal["header_timeout", "evicted", "refused"]
CLOSE_REASONS: Final[tuple[CloseReason, ...]] = ("header_timeout", "evicted", "refused")
"""The ``reason`` label values of ``server_connections_closed_total``."""

LOG_INTERVAL: Final = 60.0
"""Seconds between two log lines about closed connections; the closures between them are summed."""


class Cancellable(Protocol):
    """A scheduled call that can be called off (``asyncio.TimerHandle``)."""

    def cancel(self) -> None:
        """Do not run the call."""


class Timers(Protocol):
    """The part of the event loop a connection uses: its clock and delayed calls."""

    def time(self) -> float:
        """The loop's monotonic time in seconds."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Cancellable:
        """Run ``callback`` after ``delay`` seconds."""
        ...


class _Cycle(Protocol):
    response_complete: bool


class _UvicornHTTP(Protocol):
    """What a connection reads of uvicorn's h11 and httptools protocols (both have exactly these)."""

    cycle: _Cycle | None  # the latest request whose head was parsed; None before the first
    on_response_complete: Callable[[], None]  # handed to each request cycle, called when it has responded

    def connection_made(self, transport: asyncio.Transport) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> bool | None: ...
    def connection_lost(self, exc: Exception | None) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...


class ConnectionGuard:
    """The open connections of one server: who waits for a head since when, eviction, counting, logging.

    Runs on the server's event loop only (no locks). ``metrics`` gets ``server_connections_closed_total``
    (None: not counted); ``logger`` gets one line per ``LOG_INTERVAL`` at most while connections are closed.
    """

    def __init__(
        self,
        *,
        header_timeout: float,
        max_connections: int,
        logger: Logger,
        metrics: MetricsRegistry | None = None,
    ) -> None:
        if header_timeout <= 0:
            raise ValueError(f"header_timeout must be positive, not {header_timeout}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections}")
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self._logger = logger
        self._open: set[GuardedConnection] = set()
        # insertion order is the order in which they began waiting: the first has waited longest
        self._waiting: dict[GuardedConnection, None] = {}
        self._counters: dict[CloseReason, CounterChild] = {}
        if metrics is not None:
            counter = metrics.counter(SERVER_CONNECTIONS_CLOSED, HELP[SERVER_CONNECTIONS_CLOSED], ("reason",))
            # every reason exported from the start, at 0, so rate() and alerts see the first closure
            self._counters = {reason: counter.labels(reason) for reason in CLOSE_REASONS}
        self._unlogged: dict[CloseReason, int] = dict.fromkeys(CLOSE_REASONS, 0)
        self._last_log: float | None = None
        self.closed: dict[CloseReason, int] = dict.fromkeys(CLOSE_REASONS, 0)
        """Connections closed so far, by reason."""

    @property
    def open_connections(self) -> int:
        """Connections open now (one this guard closed stops counting at once, before its socket goes)."""
        return len(self._open)

    @property
    def waiting_connections(self) -> int:
        """Open connections with no request in progress."""
        return len(self._waiting)

    def opened(self, conn: GuardedConnection, now: float) -> None:
        """A new connection, waiting for its first head; past the limit, close one to make room."""
        self._open.add(conn)
        self._waiting[conn] = None
        if len(self._open) > self.max_connections:
            victim = self._longest_waiting()
            self.close(victim, "refused" if victim is conn else "evicted", now)

    def _longest_waiting(self) -> GuardedConnection:
        # the newcomer waits too and has an empty write buffer, so something is always found
        for conn in self._waiting:
            if conn.idle:
                return conn
        raise AssertionError("a new connection is always waiting")  # pragma: no cover

    def waiting(self, conn: GuardedConnection) -> None:
        """``conn`` responded and now waits for its next head (it joins the end of the queue)."""
        if conn in self._open:
            self._waiting[conn] = None  # busy() took it out, so it goes to the end

    def busy(self, conn: GuardedConnection) -> None:
        """A request head of ``conn`` is complete: it cannot be evicted until it has responded."""
        self._waiting.pop(conn, None)

    def forget(self, conn: GuardedConnection) -> None:
        """``conn`` is closed, or no longer HTTP (upgraded to a WebSocket): it counts no more."""
        self._open.discard(conn)
        self._waiting.pop(conn, None)

    def close(self, conn: GuardedConnection, reason: CloseReason, now: float) -> None:
        """Close ``conn`` at once (its descriptor is released now), count it and maybe log."""
        self.forget(conn)
        conn.abort()
        self.closed[reason] += 1
        counter = self._counters.get(reason)
        if counter is not None:
            counter.inc()
        self._unlogged[reason] += 1
        if self._last_log is None or now - self._last_log >= LOG_INTERVAL:
            self._log(now)

    def _log(self, now: float) -> None:
        counts = {reason: n for reason, n in self._unlogged.items() if n}
        since = None if self._last_log is None else round(now - self._last_log)
        self._logger.warning(
            "closed client connections to keep the server answering",  # one event name, to alert on
            closed=counts,
            since_last_line_s=since,
            open_connections=len(self._open),
            max_connections=self.max_connections,
            header_timeout_seconds=self.header_timeout,
            hint="server_connections_closed_total counts them; raise monitoring.server.max_connections "
            "or header_timeout if these are legitimate clients",
        )
        self._unlogged = dict.fromkeys(CLOSE_REASONS, 0)
        self._last_log = now


class GuardedConnection(asyncio.Protocol):
    """One connection: uvicorn's HTTP protocol inside, a deadline on each request head, a place in the guard.

    A wrapper rather than a subclass, so one class serves whichever protocol uvicorn would pick (h11,
    httptools). Everything it forwards is the public ``asyncio.Protocol`` interface; of uvicorn it reads
    the request cycle's ``response_complete`` and wraps the ``on_response_complete`` hook on the instance
    (``_UvicornHTTP``). The tests run against both implementations, so an uvicorn release that changes
    either fails them.
    """

    def __init__(self, inner: asyncio.BaseProtocol, guard: ConnectionGuard, timers: Timers) -> None:
        if not (hasattr(inner, "cycle") and callable(getattr(inner, "on_response_complete", None))):
            raise TypeError(f"{type(inner).__name__} is not one of uvicorn's h11 or httptools protocols")
        self._inner = cast(_UvicornHTTP, inner)
        self._guard = guard
        self._timers = timers
        self._responded = self._inner.on_response_complete
        self._inner.on_response_complete = self._on_response_complete
        self._transport: asyncio.Transport | None = None
        self._timer: Cancellable | None = None
        self._waiting = False
        self.head_deadline: float | None = None
        """When the connection is closed unless the head in progress is complete (None: no deadline)."""

    @property
    def idle(self) -> bool:
        """Waiting for a head with nothing left to write: closing it loses no response."""
        transport = self._transport
        return self._waiting and (transport is None or transport.get_write_buffer_size() == 0)

    def abort(self) -> None:
        """Close the connection at once, discarding anything unsent."""
        self._cancel_deadline()
        self._waiting = False
        if self._transport is not None:
            self._transport.abort()

    # -- asyncio.Protocol ----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Hand the transport to uvicorn, join the guard and start the first head's deadline."""
        self._transport = cast(asyncio.Transport, transport)
        self._inner.connection_made(self._transport)
        self._waiting = True
        self._start_deadline()  # before opened(): an evicted newcomer must not keep a timer
        self._guard.opened(self, self._timers.time())

    def data_received(self, data: bytes) -> None:
        """Feed uvicorn, then see whether a head completed or a new one began."""
        self._inner.data_received(data)
        self._observe(head_begun=True)

    def eof_received(self) -> bool | None:
        """As uvicorn answers (it closes the connection)."""
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Leave the guard, then tell uvicorn."""
        self._cancel_deadline()
        self._waiting = False
        self._guard.forget(self)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Forwarded to uvicorn's flow control."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Forwarded to uvicorn's flow control."""
        self._inner.resume_writing()

    # -- state -----------------------------------------------------------------------------------------------

    def _on_response_complete(self) -> None:
        self._responded()  # uvicorn's own: arms its keep-alive timer, starts a pipelined request
        self._observe(head_begun=False)

    def _observe(self, *, head_begun: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # on its way out: connection_lost follows
        if transport.get_protocol() is not self:  # uvicorn handed the transport to a WebSocket protocol
            self._cancel_deadline()
            self._waiting = False
            self._guard.forget(self)
            return
        cycle = self._inner.cycle
        busy = cycle is not None and not cycle.response_complete
        if busy:
            if self._waiting:
                self._waiting = False
                self._cancel_deadline()
                self._guard.busy(self)
        elif not self._waiting:  # responded: uvicorn's keep-alive timeout runs until the next head begins
            self._waiting = True
            self._guard.waiting(self)
        elif head_begun and self._timer is None:  # the first bytes of the next head on a keep-alive one
            self._start_deadline()

    def _start_deadline(self) -> None:
        timeout = self._guard.header_timeout
        self.head_deadline = self._timers.time() + timeout
        self._timer = self._timers.call_later(timeout, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.head_deadline = None

    def _deadline_passed(self) -> None:
        self._timer = None
        self.head_deadline = None
        if self._waiting and self._transport is not None and not self._transport.is_closing():
            self._guard.close(self, "header_timeout", self._timers.time())


def guarded_protocol(
    base: Callable[..., asyncio.BaseProtocol], guard: ConnectionGuard
) -> type[asyncio.Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)``: ``base`` (an uvicorn HTTP protocol) guarded."""

    class Guarded(GuardedConnection):
        """uvicorn's HTTP protocol under the server's connection guard."""

        def __init__(
            self,
            config: object,
            server_state: object,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            loop = _loop or asyncio.get_running_loop()  # uvicorn builds protocols on its loop
            inner = base(config=config, server_state=server_state, app_state=app_state, _loop=loop)
            super().__init__(inner, guard, loop)

    return Guarded
