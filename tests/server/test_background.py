"""Tests of ``BackgroundServer``'s connection limits: where each comes from and what uvicorn is given.

Nothing is started here (the servers only bind a socket); the limits on real sockets are in
tests/integration/test_server_limits.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.server import background
from sharedconfig.server.background import BackgroundServer, serve_in_background
from sharedconfig.server.limits import GuardedConnection


async def app(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called."""


@pytest.fixture
def monitoring() -> Iterator[Monitoring]:
    """A Monitoring whose server section sets all three limits."""
    settings = MonitoringSettings.model_validate(
        {"server": {"header_timeout": "2s", "keep_alive_timeout": "750ms", "max_connections": 7}}
    )
    m = Monitoring(settings, stream=io.StringIO())
    yield m
    m.stop()


@pytest.fixture
def servers() -> Iterator[list[BackgroundServer]]:
    """Servers made by the test, stopped (their sockets closed) afterwards."""
    made: list[BackgroundServer] = []
    yield made
    for server in made:
        server.stop()


class TestLimits:
    def test_defaults_are_the_settings_defaults(self, servers: list[BackgroundServer]) -> None:
        """Without a Monitoring the limits are ServerSettings' defaults: 5 s, 5 s, 64."""
        server = BackgroundServer(app, port=0)
        servers.append(server)
        assert (server.header_timeout, server.keep_alive_timeout, server.max_connections) == (5.0, 5.0, 64)
        assert server.guard.header_timeout == 5.0 and server.guard.max_connections == 64

    def test_a_monitoring_gives_its_server_settings(
        self, monitoring: Monitoring, servers: list[BackgroundServer]
    ) -> None:
        """Given a Monitoring, each limit is monitoring.settings.server's, and uvicorn gets the keep-alive."""
        server = BackgroundServer(app, port=0, monitoring=monitoring)
        servers.append(server)
        assert (server.header_timeout, server.keep_alive_timeout, server.max_connections) == (2.0, 0.75, 7)
        config = server._server.config
        assert config.timeout_keep_alive == 0.75
        assert isinstance(config.http, type) and issubclass(config.http, GuardedConnection)
        assert config.limit_concurrency is None  # 503 for everything, liveness included: not used

    def test_arguments_win_over_the_settings(
        self, monitoring: Monitoring, servers: list[BackgroundServer]
    ) -> None:
        """Keyword arguments override the Monitoring's settings; timedeltas and seconds both work."""
        server = BackgroundServer(
            app,
            port=0,
            monitoring=monitoring,
            header_timeout=timedelta(milliseconds=300),
            keep_alive_timeout=9,
            max_connections=3,
        )
        servers.append(server)
        assert (server.header_timeout, server.keep_alive_timeout, server.max_connections) == (0.3, 9.0, 3)

    @pytest.mark.parametrize(
        ("name", "value"), [("header_timeout", 0), ("keep_alive_timeout", -1), ("max_connections", 0)]
    )
    def test_limits_must_be_positive(self, name: str, value: int) -> None:
        """A limit of zero or less is a ValueError naming it, before any socket is bound."""
        with pytest.raises(ValueError, match=name):
            BackgroundServer(app, port=0, **{name: value})  # type: ignore[arg-type]

    def test_serve_in_background_takes_them_from_the_monitoring(
        self, monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch, servers: list[BackgroundServer]
    ) -> None:
        """serve_in_background(monitoring) builds its server with monitoring.settings.server's limits."""
        monkeypatch.setattr(background.BackgroundServer, "start", lambda self, timeout: self)
        server = serve_in_background(monitoring, port=0)
        servers.append(server)
        assert (server.header_timeout, server.keep_alive_timeout, server.max_connections) == (2.0, 0.75, 7)
        overridden = serve_in_background(monitoring, port=0, max_connections=5)
        servers.append(overridden)
        assert overridden.max_connections == 5

    def test_a_plain_app_served_in_background_gets_the_defaults(
        self, monkeypatch: pytest.MonkeyPatch, servers: list[BackgroundServer]
    ) -> None:
        """Given an ASGI app (no Monitoring), serve_in_background uses the defaults or its arguments."""
        monkeypatch.setattr(background.BackgroundServer, "start", lambda self, timeout: self)
        server = serve_in_background(app, port=0, header_timeout=1.5)
        servers.append(server)
        assert (server.header_timeout, server.keep_alive_timeout, server.max_connections) == (1.5, 5.0, 64)
