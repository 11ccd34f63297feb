"""Tests of ``sharedconfig.server.lifespan``: Monitoring started and stopped over an ASGI app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sharedconfig.monitoring.health import HealthCheck
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.metrics.model import Collector
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.runtime import Job
from sharedconfig.server.app import create_app
from sharedconfig.server.lifespan import MonitoringLifespanMiddleware, monitoring_lifespan
from sharedconfig.testing import FakeClock

ASGI = Callable[..., Any]


class Flushes:
    """A part that counts the starts (``open``) and the flushes at stop (``close``) of its Monitoring."""

    name = "flushes"

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    def jobs(self) -> list[Job]:
        return []

    def checks(self) -> list[HealthCheck]:
        return []

    def descriptions(self) -> dict[str, str]:
        return {}

    def collectors(self) -> list[Collector]:
        return []

    def open(self) -> None:
        self.opened += 1

    async def close(self) -> None:
        self.closed += 1

    def apply(self, settings: MonitoringSettings) -> list[str]:
        return []


@pytest.fixture
def part() -> Flushes:
    return Flushes()


@pytest.fixture
def mon(part: Flushes) -> Monitoring:
    """A Monitoring on a fake clock whose only part is ``part``."""
    return Monitoring(MonitoringSettings(), clock=FakeClock(), stream=io.StringIO(), parts=(lambda _: part,))


class Server:
    """The server's half of the ASGI lifespan protocol, as uvicorn speaks it.

    ``heard`` is each message the app sent, with whether ``mon`` was started when it arrived.
    """

    def __init__(self, mon: Monitoring) -> None:
        self.mon = mon
        self.heard: list[tuple[str, bool]] = []
        self.state: dict[str, Any] = {}

    async def run(self, app: ASGI) -> None:
        """Send startup; once the app says it started, send shutdown."""
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        inbox.put_nowait({"type": "lifespan.startup"})

        async def send(message: dict[str, Any]) -> None:
            self.heard.append((message["type"], self.mon.started))
            if message["type"] == "lifespan.startup.complete":
                inbox.put_nowait({"type": "lifespan.shutdown"})

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        await app(scope, inbox.get, send)

    def __call__(self, app: ASGI) -> list[tuple[str, bool]]:
        asyncio.run(self.run(app))
        return self.heard


RAN = [("lifespan.startup.complete", True), ("lifespan.shutdown.complete", False)]
"""What the server hears when Monitoring ran over the lifespan: up at startup, stopped by shutdown."""
UNTOUCHED = [("lifespan.startup.complete", False), ("lifespan.shutdown.complete", False)]


class TestMonitoringLifespan:
    def test_starts_at_startup_and_stops_with_a_flush_at_shutdown(
        self, mon: Monitoring, part: Flushes
    ) -> None:
        """Monitoring is started while the app is up, and stopped (its parts flushed) once it shut down."""
        assert Server(mon)(Starlette(lifespan=monitoring_lifespan(mon))) == RAN
        assert (part.opened, part.closed) == (1, 1)

    def test_wraps_the_apps_own_lifespan_inside_monitoring(self, mon: Monitoring) -> None:
        """The user's lifespan runs with Monitoring started on both sides, and its state reaches the app."""
        events: list[str] = []

        @contextlib.asynccontextmanager
        async def own(app: Starlette) -> AsyncIterator[dict[str, str]]:
            events.append(f"own startup, monitoring started={mon.started}")
            yield {"db": "connected"}
            events.append(f"own shutdown, monitoring started={mon.started}")

        server = Server(mon)
        assert server(Starlette(lifespan=monitoring_lifespan(mon, own))) == RAN
        assert events == ["own startup, monitoring started=True", "own shutdown, monitoring started=True"]
        assert server.state == {"db": "connected"}

    def test_wraps_a_fastapi_apps_existing_lifespan_context(self, mon: Monitoring) -> None:
        """Assigning over ``app.router.lifespan_context`` keeps the lifespan the app was built with."""
        events: list[str] = []

        @contextlib.asynccontextmanager
        async def own(app: FastAPI) -> AsyncIterator[None]:
            events.append("own startup")
            yield
            events.append("own shutdown")

        app = FastAPI(lifespan=own)
        app.router.lifespan_context = monitoring_lifespan(mon, app.router.lifespan_context)
        assert Server(mon)(app) == RAN
        assert events == ["own startup", "own shutdown"]

    def test_an_already_started_monitoring_is_not_started_again_but_is_stopped(
        self, mon: Monitoring, part: Flushes
    ) -> None:
        """A Monitoring started at import time is opened once, and the lifespan still stops it."""
        mon.start()
        assert Server(mon)(Starlette(lifespan=monitoring_lifespan(mon))) == RAN
        assert (part.opened, part.closed) == (1, 1)

    def test_a_failing_startup_of_the_own_lifespan_stops_monitoring(self, mon: Monitoring) -> None:
        """When the user's startup raises, the server hears startup.failed and Monitoring is stopped."""

        @contextlib.asynccontextmanager
        async def own(app: Starlette) -> AsyncIterator[None]:
            raise RuntimeError("no database")
            yield

        server = Server(mon)
        with pytest.raises(RuntimeError, match="no database"):
            server(Starlette(lifespan=monitoring_lifespan(mon, own)))
        assert [kind for kind, _ in server.heard] == ["lifespan.startup.failed"]
        assert not mon.started

    def test_stops_even_when_the_apps_worker_threads_are_all_busy(self, mon: Monitoring) -> None:
        """A default thread limiter held by hung sync endpoints does not hold up the stop at shutdown."""

        async def main() -> None:
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = 1
            limiter.acquire_on_behalf_of_nowait(self)  # its one worker is busy for good
            try:
                app = Starlette(lifespan=monitoring_lifespan(mon))
                await asyncio.wait_for(Server(mon).run(app), 10)  # fails the test rather than hang it
            finally:
                limiter.release_on_behalf_of(self)

        asyncio.run(main())
        assert not mon.started

    def test_the_stop_gets_the_timeout_given(self, mon: Monitoring, monkeypatch: pytest.MonkeyPatch) -> None:
        """``timeout=`` bounds the stop; without it Monitoring.stop uses monitoring.shutdown_timeout."""
        timeouts: list[float | None] = []
        real_stop = mon.stop

        def stop(timeout: float | None = None) -> list[str]:
            timeouts.append(timeout)
            return real_stop(timeout)

        monkeypatch.setattr(mon, "stop", stop)
        Server(mon)(Starlette(lifespan=monitoring_lifespan(mon, timeout=2.5)))
        Server(mon)(Starlette(lifespan=monitoring_lifespan(mon)))
        assert timeouts == [2.5, None]


class TestCreateApp:
    def test_the_app_starts_and_stops_its_monitoring(self, mon: Monitoring, part: Flushes) -> None:
        """Served on its own, ``create_app``'s app runs its Monitoring over its lifespan."""
        assert Server(mon)(create_app(mon)) == RAN
        assert (part.opened, part.closed) == (1, 1)

    def test_manage_monitoring_false_leaves_monitoring_to_the_caller(self, mon: Monitoring) -> None:
        """With ``manage_monitoring=False`` the lifespan neither starts nor stops Monitoring."""
        assert Server(mon)(create_app(mon, manage_monitoring=False)) == UNTOUCHED
        mon.start()
        assert Server(mon)(create_app(mon, manage_monitoring=False)) == [
            ("lifespan.startup.complete", True),
            ("lifespan.shutdown.complete", True),
        ]
        mon.stop()

    def test_a_mounted_apps_lifespan_does_not_run_so_the_outer_app_runs_monitoring(
        self, mon: Monitoring
    ) -> None:
        """Mounted under another app, create_app's lifespan never runs; wrapping the outer one does."""
        outer = FastAPI()
        outer.mount("/ops", create_app(mon))
        assert Server(mon)(outer) == UNTOUCHED
        outer.router.lifespan_context = monitoring_lifespan(mon, outer.router.lifespan_context)
        assert Server(mon)(outer) == RAN


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def no_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that serves HTTP only and rejects other scopes, as many plain apps do."""
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope {scope['type']}")
    await Starlette(routes=[Route("/", hello)])(scope, receive, send)


class TestMonitoringLifespanMiddleware:
    def test_runs_monitoring_around_the_apps_own_lifespan(self, mon: Monitoring, part: Flushes) -> None:
        """The app's lifespan sees Monitoring started; the server hears shutdown.complete after the stop."""
        events: list[str] = []

        @contextlib.asynccontextmanager
        async def own(app: Starlette) -> AsyncIterator[None]:
            events.append(f"own startup, monitoring started={mon.started}")
            yield
            events.append(f"own shutdown, monitoring started={mon.started}")

        assert Server(mon)(MonitoringLifespanMiddleware(Starlette(lifespan=own), mon)) == RAN
        assert events == ["own startup, monitoring started=True", "own shutdown, monitoring started=True"]
        assert (part.opened, part.closed) == (1, 1)

    def test_answers_the_protocol_for_an_app_without_lifespan(self, mon: Monitoring, part: Flushes) -> None:
        """An app that raises on the lifespan scope gets startup and shutdown answered, Monitoring run."""
        assert Server(mon)(MonitoringLifespanMiddleware(no_lifespan, mon)) == RAN
        assert (part.opened, part.closed) == (1, 1)

    def test_other_scopes_pass_through_and_start_nothing(self, mon: Monitoring) -> None:
        """An HTTP request reaches the app untouched; Monitoring is not started for it."""
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
        asyncio.run(MonitoringLifespanMiddleware(no_lifespan, mon)(scope, receive, send))
        assert sent[-1]["body"] == b"hello"
        assert not mon.started

    def test_an_app_failing_mid_protocol_raises_and_monitoring_is_stopped(self, mon: Monitoring) -> None:
        """An app that raises after reading startup keeps its error; Monitoring does not stay started."""

        async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await receive()
            raise RuntimeError("broken startup")

        with pytest.raises(RuntimeError, match="broken startup"):
            Server(mon)(MonitoringLifespanMiddleware(broken, mon))
        assert not mon.started
