"""Tests of ``serve_in_background``: it serves on a real port, and ``stop()`` leaves no thread behind."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from conftest import wait_until
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.server.background import BackgroundServer, serve_in_background


@pytest.fixture
def monitoring() -> Iterator[Monitoring]:
    """A fresh Monitoring, logging into a buffer."""
    m = Monitoring(MonitoringSettings(), stream=io.StringIO())
    yield m
    m.stop()


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads alive now that were not alive in ``before``."""
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


class TestServeInBackground:
    def test_serves_health_and_metrics_then_stops_cleanly(self, monitoring: Monitoring) -> None:
        """/health and /metrics answer on the chosen port; after stop() the server thread is gone."""
        before = set(threading.enumerate())
        server = serve_in_background(monitoring, port=0)
        assert server.running and server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        assert httpx.get(f"{server.url}/metrics", timeout=5).status_code == 200
        server.stop()
        assert not server.thread.is_alive()
        assert not server.running
        wait_until(lambda: not new_threads(before), 10, "the server's threads to end")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=2)

    def test_the_caller_keeps_owning_the_monitoring(self, monitoring: Monitoring) -> None:
        """serve_in_background neither starts the Monitoring it serves nor stops it with the server."""
        with serve_in_background(monitoring, port=0):
            assert not monitoring.started
        monitoring.start()
        with serve_in_background(monitoring, port=0):
            pass
        assert monitoring.started

    def test_context_manager_and_plain_asgi_app(self) -> None:
        """Any ASGI app can be served; leaving the with-block stops it; stop() twice is harmless."""

        async def hello(request: Request) -> PlainTextResponse:
            return PlainTextResponse("hello")

        with serve_in_background(Starlette(routes=[Route("/", hello)]), port=0) as server:
            assert httpx.get(server.url, timeout=5).text == "hello"
        assert not server.running
        server.stop()

    def test_port_in_use_fails_at_once(self, monitoring: Monitoring) -> None:
        """A taken port raises OSError in the caller, and no thread is started."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            before = set(threading.enumerate())
            with pytest.raises(OSError, match="in use"):
                serve_in_background(monitoring, port=port)
            assert new_threads(before) == []

    def test_failed_startup_raises_and_leaves_no_thread(self) -> None:
        """An app whose startup fails makes serve_in_background raise; its thread has ended."""

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            raise RuntimeError("cannot start")
            yield

        before = set(threading.enumerate())
        with pytest.raises(RuntimeError, match="failed to start"):
            serve_in_background(Starlette(lifespan=lifespan), port=0)
        wait_until(lambda: not new_threads(before), 10, "the failed server's thread to end")

    def test_wait_returns_when_stopped(self, monitoring: Monitoring) -> None:
        """wait() times out while the server runs and returns True once it has stopped."""
        server = serve_in_background(monitoring, port=0)
        assert server.wait(0.05) is False
        server.stop()
        assert server.wait(1) is True

    def test_unstarted_server_can_be_stopped(self, monitoring: Monitoring) -> None:
        """A BackgroundServer that never started releases its socket on stop()."""
        from sharedconfig.server.app import create_app

        server = BackgroundServer(create_app(monitoring), port=0)
        port = server.port
        server.stop()
        with socket.socket() as again:
            again.bind(("127.0.0.1", port))
        assert "stopped" in repr(server)


def test_open_bind_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve_in_background(monitoring, host="0.0.0.0") without a token raises SECURITY_002."""
    import io

    from sharedconfig.errors import SecurityError
    from sharedconfig.monitoring import Monitoring
    from sharedconfig.server.background import serve_in_background

    monkeypatch.delenv("SHAREDCONFIG_API_TOKEN", raising=False)
    with pytest.raises(SecurityError) as info:
        serve_in_background(Monitoring(stream=io.StringIO()), host="0.0.0.0", port=0)
    assert info.value.code == "SECURITY_002"


def test_the_access_log_never_carries_a_query_value(caplog: pytest.LogCaptureFixture) -> None:
    """With the access log on, ?token=... reaches the log as ?token=**********, names kept."""
    import logging

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    with (
        caplog.at_level(logging.INFO, logger="uvicorn.access"),
        serve_in_background(Starlette(routes=[Route("/", hello)]), port=0, access_log=True) as server,
    ):
        assert httpx.get(f"{server.url}/?token=q-canary-A1&page=2", timeout=5).status_code == 200
        wait_until(lambda: "GET /?" in caplog.text, 10, "the access-log line")
    assert "q-canary-A1" not in caplog.text
    assert "/?token=**********&page=**********" in caplog.text
