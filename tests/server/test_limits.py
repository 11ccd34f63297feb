"""Tests of ``server.limits``: the head deadline, the eviction rule, counting and logging, on fake time.

The connection runs over a fake transport around a fake uvicorn protocol that behaves as uvicorn's h11
and httptools protocols do where the guard looks (``cycle``, ``on_response_complete``); the real ones
are covered on real sockets in tests/integration/test_server_limits.py.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.names import HELP, SERVER_CONNECTIONS_CLOSED
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.server.limits import (
    LOG_INTERVAL,
    ConnectionGuard,
    GuardedConnection,
    guarded_protocol,
)
from sharedconfig.testing import RecordingLogger

HEAD = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"


@dataclass
class Handle:
    """A delayed call of ``FakeTimers``."""

    when: float
    callback: Callable[[], object]
    cancelled: bool = False

    def cancel(self) -> None:
        """Do not run it."""
        self.cancelled = True


@dataclass
class FakeTimers:
    """The loop's clock and ``call_later``, moved only by ``advance``."""

    now: float = 0.0
    handles: list[Handle] = field(default_factory=list)

    def time(self) -> float:
        """The fake time."""
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Handle:
        """Schedule ``callback`` at now + delay."""
        handle = Handle(self.now + delay, callback)
        self.handles.append(handle)
        return handle

    def pending(self) -> list[Handle]:
        """Calls scheduled and neither run nor cancelled."""
        return [h for h in self.handles if not h.cancelled]

    def advance(self, seconds: float) -> None:
        """Move time on, running due calls in order."""
        target = self.now + seconds
        while due := sorted((h for h in self.pending() if h.when <= target), key=lambda h: h.when):
            handle = due[0]
            self.now = handle.when
            handle.cancelled = True
            handle.callback()
        self.now = target


class FakeTransport:
    """What the connection asks of its transport; ``abort`` only marks it (``lose`` ends the connection)."""

    def __init__(self) -> None:
        self.protocol: asyncio.BaseProtocol | None = None
        self.closing = False
        self.aborted = False
        self.buffered = 0

    def get_protocol(self) -> asyncio.BaseProtocol | None:
        return self.protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def abort(self) -> None:
        self.closing = self.aborted = True

    def close(self) -> None:
        self.closing = True


@dataclass
class FakeCycle:
    """A request in progress, as uvicorn's RequestResponseCycle."""

    on_response: Callable[[], None]
    response_complete: bool = False


class FakeHTTP(asyncio.Protocol):
    """uvicorn's HTTP protocol where the guard looks: a ``cycle`` per head, ``on_response_complete``."""

    def __init__(self) -> None:
        self.cycle: FakeCycle | None = None
        self.buffer = b""
        self.responses = 0
        self.lost = False

    def on_response_complete(self) -> None:
        self.responses += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            # as uvicorn: the hook is looked up on the instance when each cycle is made
            self.cycle = FakeCycle(on_response=self.on_response_complete)

    def respond(self) -> None:
        """The app finished the response of the current request."""
        assert self.cycle is not None
        self.cycle.response_complete = True
        self.cycle.on_response()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


@dataclass
class Conn:
    """One guarded connection and its fakes."""

    guarded: GuardedConnection
    http: FakeHTTP
    transport: FakeTransport

    def send(self, data: bytes) -> None:
        self.guarded.data_received(data)

    def lose(self) -> None:
        """The transport reports the connection closed (as it does after an abort)."""
        self.guarded.connection_lost(None)

    @property
    def aborted(self) -> bool:
        return self.transport.aborted


@dataclass
class World:
    """A guard on fake time, and a way to open connections to it."""

    guard: ConnectionGuard
    timers: FakeTimers
    log: RecordingLogger

    def connect(self) -> Conn:
        http, transport = FakeHTTP(), FakeTransport()
        guarded = GuardedConnection(http, self.guard, self.timers)
        transport.protocol = guarded
        guarded.connection_made(transport)  # type: ignore[arg-type]
        return Conn(guarded, http, transport)


def make_world(
    header_timeout: float = 5.0, max_connections: int = 64, monitoring: Monitoring | None = None
) -> World:
    log = RecordingLogger()
    guard = ConnectionGuard(
        header_timeout=header_timeout,
        max_connections=max_connections,
        logger=log,
        metrics=monitoring.metrics if monitoring is not None else None,
    )
    return World(guard, FakeTimers(), log)


@pytest.fixture
def world() -> World:
    """A guard with header_timeout 5 s and max_connections 3."""
    return make_world(max_connections=3)


class TestHeadDeadline:
    def test_a_connection_without_a_complete_head_is_closed_at_the_deadline(self, world: World) -> None:
        """A new connection sending part of a head is aborted header_timeout after it opened, not before."""
        conn = world.connect()
        conn.send(HEAD[:10])
        world.timers.advance(4.9)
        assert not conn.aborted
        world.timers.advance(0.1)
        assert conn.aborted
        assert world.guard.closed["header_timeout"] == 1
        assert world.guard.open_connections == 0

    def test_a_silent_connection_is_closed_at_the_deadline(self, world: World) -> None:
        """A connection that never sends a byte is aborted header_timeout after it opened."""
        conn = world.connect()
        assert conn.guarded.head_deadline == 5
        world.timers.advance(5)
        assert conn.aborted
        assert world.guard.closed["header_timeout"] == 1

    def test_trickling_bytes_does_not_move_the_deadline(self, world: World) -> None:
        """One byte a second does not extend the deadline: it counts from the start of the head."""
        conn = world.connect()
        for byte in HEAD[:6]:
            world.timers.advance(1)
            if not conn.aborted:
                conn.send(bytes([byte]))
        assert conn.aborted
        assert world.timers.now == 6

    def test_a_complete_head_cancels_the_deadline(self, world: World) -> None:
        """Once the head is complete the request may take as long as it takes."""
        conn = world.connect()
        conn.send(HEAD)
        assert conn.guarded.head_deadline is None
        world.timers.advance(60)
        assert not conn.aborted
        assert world.timers.pending() == []

    def test_next_head_on_keep_alive_starts_its_deadline_at_its_first_bytes(self, world: World) -> None:
        """No deadline runs between requests (uvicorn's keep-alive does); the next head's bytes start one."""
        conn = world.connect()
        conn.send(HEAD)
        conn.http.respond()
        assert conn.http.responses == 1  # uvicorn's own hook still runs
        world.timers.advance(60)
        assert not conn.aborted and conn.guarded.head_deadline is None
        conn.send(b"GE")
        assert conn.guarded.head_deadline == 65
        world.timers.advance(5)
        assert conn.aborted
        assert world.guard.closed["header_timeout"] == 1

    def test_a_next_head_arriving_whole_arms_no_deadline(self, world: World) -> None:
        """A keep-alive request whose head comes in one piece leaves no timer behind."""
        conn = world.connect()
        for _ in range(3):
            conn.send(HEAD)
            conn.http.respond()
        assert world.timers.pending() == []

    def test_a_lost_connection_cancels_its_deadline(self, world: World) -> None:
        """The client going away calls off the deadline and tells uvicorn."""
        conn = world.connect()
        conn.lose()
        assert world.timers.pending() == []
        assert conn.http.lost
        assert world.guard.open_connections == 0


class TestEviction:
    def test_at_the_limit_the_longest_waiting_connection_is_evicted(self, world: World) -> None:
        """The fourth connection over a limit of three closes the first, which waited longest."""
        first, second, third = world.connect(), world.connect(), world.connect()
        fourth = world.connect()
        assert first.aborted
        assert not (second.aborted or third.aborted or fourth.aborted)
        assert world.guard.closed["evicted"] == 1
        assert world.guard.open_connections == 3
        assert len(world.timers.pending()) == 3  # the evicted one's deadline is called off

    def test_a_connection_with_a_request_in_progress_is_never_evicted(self, world: World) -> None:
        """Busy connections are skipped: the oldest idle one goes instead."""
        busy = world.connect()
        busy.send(HEAD)
        idle = world.connect()
        world.connect()
        world.connect()
        assert not busy.aborted
        assert idle.aborted

    def test_keep_alive_connections_queue_from_their_last_response(self, world: World) -> None:
        """A connection that responded joins the end of the queue: older slow-header ones go first."""
        served = world.connect()
        served.send(HEAD)
        slow = world.connect()
        slow.send(HEAD[:5])
        silent = world.connect()
        served.http.respond()  # now waiting, since after the other two
        world.connect()
        assert slow.aborted and not served.aborted
        world.connect()
        assert silent.aborted and not served.aborted
        world.connect()  # and now the one that responded, before the newer ones
        assert served.aborted

    def test_unsent_response_bytes_protect_a_connection(self, world: World) -> None:
        """A connection still writing its last response to the client is not idle, so not evicted."""
        reading = world.connect()
        reading.send(HEAD)
        reading.http.respond()
        reading.transport.buffered = 4096  # the response still sits in the transport's buffer
        fresh = [world.connect(), world.connect()]
        world.connect()
        assert not reading.aborted
        assert fresh[0].aborted

    def test_when_every_connection_is_busy_the_newcomer_is_refused(self, world: World) -> None:
        """With all open connections mid-request, the new one is closed (reason refused)."""
        busy = [world.connect() for _ in range(3)]
        for conn in busy:
            conn.send(HEAD)
        newcomer = world.connect()
        assert newcomer.aborted
        assert not any(conn.aborted for conn in busy)
        assert world.guard.closed == {"header_timeout": 0, "evicted": 0, "refused": 1}
        assert world.timers.pending() == []  # the refused one left no deadline behind

    def test_closed_connections_make_room(self, world: World) -> None:
        """Connections that went away free their place: no eviction below the limit."""
        for _ in range(10):
            world.connect().lose()
        assert world.guard.closed["evicted"] == 0
        assert world.guard.open_connections == 0

    def test_a_flood_keeps_the_open_count_at_the_limit(self) -> None:
        """1,000 silent connections against a limit of 64: 64 stay open, the newest."""
        world = make_world(max_connections=64)
        conns = [world.connect() for _ in range(1000)]
        assert world.guard.open_connections == 64
        assert [c for c in conns if not c.aborted] == conns[-64:]
        assert world.guard.closed["evicted"] == 936

    def test_an_upgraded_connection_no_longer_counts(self, world: World) -> None:
        """When uvicorn hands the transport to a WebSocket protocol the connection leaves the guard."""
        conn = world.connect()
        conn.transport.set_protocol(asyncio.Protocol())
        conn.send(HEAD)
        assert world.guard.open_connections == 0
        assert world.timers.pending() == []


class TestCountingAndLogging:
    def test_closures_are_counted_by_reason_in_the_registry(self) -> None:
        """server_connections_closed_total{reason} counts closures, every reason exported from the start."""
        monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())
        world = make_world(header_timeout=1, max_connections=1, monitoring=monitoring)
        metrics = monitoring.metrics
        for reason in ("header_timeout", "evicted", "refused"):
            assert metrics.sample_value(SERVER_CONNECTIONS_CLOSED, {"reason": reason}) == 0
        world.connect()
        world.connect()  # evicts the first
        world.timers.advance(1)  # the second times out
        assert metrics.sample_value(SERVER_CONNECTIONS_CLOSED, {"reason": "evicted"}) == 1
        assert metrics.sample_value(SERVER_CONNECTIONS_CLOSED, {"reason": "header_timeout"}) == 1
        text = generate(metrics, None)[0].decode()
        assert f"# HELP {SERVER_CONNECTIONS_CLOSED} {HELP[SERVER_CONNECTIONS_CLOSED]}" in text

    def test_a_flood_logs_one_line_per_interval(self) -> None:
        """Thousands of closures log one line at once, then at most one per LOG_INTERVAL with the sums."""
        world = make_world(max_connections=2)
        for _ in range(2000):
            world.connect()
        assert len(world.log.records) == 1
        first = world.log.records[0]
        assert first.level == "warning"
        assert first.fields["closed"] == {"evicted": 1}
        world.timers.advance(LOG_INTERVAL - 1)  # the two left open time out at 5 s: no line
        for _ in range(3):
            world.connect()  # one more eviction, at 59 s: no line
        assert len(world.log.records) == 1
        world.timers.advance(1)
        world.connect()  # an eviction at 60 s: the second line, with everything since the first
        assert len(world.log.records) == 2
        second = world.log.records[1]
        assert second.fields["closed"] == {"evicted": 1999, "header_timeout": 2}
        assert second.message == first.message  # one event name to alert on; the window is a field
        assert second.fields["since_last_line_s"] == 60 and first.fields["since_last_line_s"] is None


class TestConstruction:
    def test_limits_must_be_positive(self) -> None:
        """A zero header_timeout or max_connections is refused."""
        with pytest.raises(ValueError, match="header_timeout"):
            make_world(header_timeout=0)
        with pytest.raises(ValueError, match="max_connections"):
            make_world(max_connections=0)

    def test_only_uvicorn_http_protocols_can_be_guarded(self, world: World) -> None:
        """A protocol without uvicorn's request cycle is refused with a TypeError naming it."""
        with pytest.raises(TypeError, match="Protocol is not one of uvicorn"):
            GuardedConnection(asyncio.Protocol(), world.guard, world.timers)

    @pytest.mark.parametrize("name", ["h11", "httptools"])
    def test_uvicorns_protocols_have_what_the_guard_reads(self, name: str, world: World) -> None:
        """uvicorn's h11 and httptools protocols build under the guard (they have its cycle and hook)."""
        import uvicorn
        from uvicorn.server import ServerState

        async def app(scope: object, receive: object, send: object) -> None:
            pass

        config = uvicorn.Config(app, http=name, log_config=None)
        config.load()
        protocol = guarded_protocol(config.http_protocol_class, world.guard)

        async def build() -> asyncio.Protocol:
            return protocol(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]

        guarded = asyncio.run(build())
        assert isinstance(guarded, GuardedConnection)
