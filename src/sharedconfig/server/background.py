"""Run the server on a background thread, for WSGI services (Flask, Django) that have no event loop.

``serve_in_background`` returns once the port listens; ``stop()`` shuts uvicorn down and joins the thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from sharedconfig.redaction import mask_userinfo, redact_query

if TYPE_CHECKING:
    import uvicorn

    from sharedconfig.monitoring.hub import Monitoring

__all__ = ["ASGIApp", "AccessLogRedaction", "BackgroundServer", "HTTPImplementation", "serve_in_background"]

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]
"""An ASGI 3 application."""

HTTPImplementation = Literal["auto", "h11", "httptools"]
"""uvicorn's HTTP/1.1 protocol to run under the connection limits; ``auto`` is httptools when installed."""


def _seconds(given: float | timedelta | None, setting: timedelta, name: str) -> float:
    """``given`` (seconds or a timedelta) or else the setting, in seconds; ValueError unless positive."""
    value = setting if given is None else given
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0:
        raise ValueError(f"{name} must be positive, not {given!r}")
    return seconds


def _bind(host: str, port: int) -> socket.socket:
    """A bound TCP socket (not yet listening); errors such as 'address in use' surface here, at once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    """The host to put in a URL: wildcard addresses become loopback, IPv6 gets brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class AccessLogRedaction(logging.Filter):
    """Rewrites uvicorn's access-log records so the request target's query values are redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; replace the target (uvicorn's third argument) and any URL password."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], mask_userinfo(redact_query(args[2])), args[3], args[4])
        return True


class BackgroundServer:
    """A uvicorn server on a daemon thread: ``url``, ``running``, ``stop()``; a context manager.

    Create it with ``serve_in_background``. The thread is joined by ``stop()`` (or leaving the ``with``
    block); it is a daemon only so that a forgotten server cannot keep the interpreter alive.

    ``header_timeout``, ``keep_alive_timeout`` (seconds or timedeltas) and ``max_connections`` are the
    connection limits of ``sharedconfig.server.limits``; each one not given is taken from
    ``monitoring.settings.server`` when ``monitoring`` is given, else is the ``ServerSettings`` default
    (5 s, 5 s, 64). With ``monitoring``, closed connections are counted in its registry and logged
    through its logger. ``http`` picks uvicorn's HTTP/1.1 implementation.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
        graceful_timeout: float = 5.0,
        header_timeout: float | timedelta | None = None,
        keep_alive_timeout: float | timedelta | None = None,
        max_connections: int | None = None,
        monitoring: Monitoring | None = None,
        http: HTTPImplementation = "auto",
    ) -> None:
        import uvicorn
        from uvicorn.config import HTTP_PROTOCOLS
        from uvicorn.importer import import_from_string

        from sharedconfig.monitoring.settings import ServerSettings
        from sharedconfig.server.limits import ConnectionGuard, guarded_protocol
        from sharedconfig.stdlog import StdlibLogger

        settings = monitoring.settings.server if monitoring is not None else ServerSettings()
        self.header_timeout = _seconds(header_timeout, settings.header_timeout, "header_timeout")
        self.keep_alive_timeout = _seconds(
            keep_alive_timeout, settings.keep_alive_timeout, "keep_alive_timeout"
        )
        self.max_connections = max_connections if max_connections is not None else settings.max_connections
        self.guard = ConnectionGuard(
            header_timeout=self.header_timeout,
            max_connections=self.max_connections,
            logger=monitoring.logger.bind(component="server")
            if monitoring is not None
            else StdlibLogger("sharedconfig.server"),
            metrics=monitoring.metrics if monitoring is not None else None,
        )
        """The connection limits' bookkeeping: ``closed`` counts closures by reason."""
        protocol = guarded_protocol(import_from_string(HTTP_PROTOCOLS[http]), self.guard)

        self.host = host
        self._app = app
        self._socket = _bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,  # keep the application's logging (sharedconfig routes stdlib logs through it)
            access_log=access_log,
            lifespan="on",
            http=protocol,
            # annotated int, but uvicorn only hands it to loop.call_later, which takes float seconds
            timeout_keep_alive=self.keep_alive_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=int(graceful_timeout) or 1,
            server_header=False,
        )
        self._server: uvicorn.Server = uvicorn.Server(config)
        if access_log:  # uvicorn logs the target with its query string: no token may reach the log
            access = logging.getLogger("uvicorn.access")
            if not any(isinstance(f, AccessLogRedaction) for f in access.filters):
                access.addFilter(AccessLogRedaction())
        self._thread = threading.Thread(
            target=self._run, name=f"sharedconfig-server-{self.port}", daemon=True
        )
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL to reach the server, e.g. ``http://127.0.0.1:9464``."""
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread:
        """The thread uvicorn runs on."""
        return self._thread

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # uvicorn exits with SystemExit when startup fails
            self._error = exc
        finally:
            self._socket.close()

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Start the thread and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.01)
        if not self._server.started:
            self.stop(timeout=1.0)
            if self._error is not None or not self._thread.is_alive():
                why = f"{type(self._error).__name__}: {self._error}" if self._error else "see the log"
                raise RuntimeError(f"the server on {self.url} failed to start ({why})")
            raise RuntimeError(f"the server on {self.url} did not start within {timeout}s")
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` passes); True when it has stopped."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down gracefully (open requests finish), then join the thread (idempotent).

        An app with ``close_streams()`` (``create_app``'s) is told first, so its open event streams end
        instead of holding the graceful shutdown until its timeout.
        """
        close_streams = getattr(self._app, "close_streams", None)
        if callable(close_streams):
            close_streams()
        self._server.should_exit = True
        if self._thread.ident is None:  # never started
            self._socket.close()
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"BackgroundServer({self.url}, {'running' if self.running else 'stopped'})"


def serve_in_background(
    app_or_monitoring: ASGIApp | Monitoring,
    host: str = "127.0.0.1",
    port: int = 9464,
    *,
    access_log: bool = False,
    timeout: float = 10.0,
    header_timeout: float | timedelta | None = None,
    keep_alive_timeout: float | timedelta | None = None,
    max_connections: int | None = None,
) -> BackgroundServer:
    """Serve an ASGI app, or ``create_app(monitoring)``, on a background thread; return once it listens.

    ``port=0`` picks a free port (read it from ``.port`` or ``.url``). Given a ``Monitoring``, a host
    other hosts can reach needs an API token (SECURITY_002), as for ``sharedconfig serve``. The caller
    still owns the ``Monitoring``: start it before and stop it after. The connection limits not given
    come from ``monitoring.settings.server`` (``BackgroundServer`` has the details). Example for a Flask
    service::

        monitoring = sharedconfig.monitoring.configure(Monitoring.from_config(config))
        server = serve_in_background(monitoring, port=9464)
        app.run()  # Flask
        server.stop()
    """
    from sharedconfig.monitoring.hub import Monitoring

    if isinstance(app_or_monitoring, Monitoring):
        from sharedconfig.server.app import create_app
        from sharedconfig.server.auth import check_bind, configured_token

        # the same rule as `sharedconfig serve`: no open bind without a token protecting /api/*
        check_bind(host, configured_token(app_or_monitoring.settings.server.api_token))
        # the caller owns the Monitoring here (the docstring says so): stopping the server leaves it running
        app: ASGIApp = create_app(app_or_monitoring, manage_monitoring=False)
        monitoring: Monitoring | None = app_or_monitoring
    else:
        app, monitoring = app_or_monitoring, None
    server = BackgroundServer(
        app,
        host,
        port,
        access_log=access_log,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections=max_connections,
        monitoring=monitoring,
    )
    return server.start(timeout)
