"""The server's connection limits on real sockets: slow heads are closed, a flood cannot starve liveness.

The flood test runs ``sharedconfig serve`` in a subprocess whose descriptor limit is lowered to 128, and
opens more slow-header connections than that limit allows; ``/health/live`` must still answer 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from conftest import free_port, wait_until
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.names import SERVER_CONNECTIONS_CLOSED
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.server.app import create_app
from sharedconfig.server.background import BackgroundServer, HTTPImplementation, serve_in_background

HEAD = b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n"
FD_LIMIT = 128
FLOOD = 300  # more connections than FD_LIMIT descriptors could ever hold
"""How many slow-header connections the flood opens."""

# runs the CLI with RLIMIT_NOFILE lowered first: `python -c LAUNCH SOFT_LIMIT serve ...`
LAUNCH = """\
import resource, sys
soft = int(sys.argv.pop(1))
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from sharedconfig.cli.main import main
sys.argv[0] = "sharedconfig"
sys.exit(main(sys.argv[1:]))
"""

Start = Callable[..., BackgroundServer]
ServeCLI = Callable[..., tuple[str, int, Path]]


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closes ``sock``, sending a byte of ``trickle`` every 0.1 s (None: open)."""
    sock.settimeout(0.1)
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            pass
        except OSError:  # reset by an abort
            return time.monotonic() - start
        if sent < len(trickle):
            with contextlib.suppress(OSError):
                sock.sendall(trickle[sent : sent + 1])
            sent += 1
    return None


def read_response(sock: socket.socket) -> bytes:
    """Read one small response (its head and a Content-Length body) from ``sock``."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"the server closed the connection mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """A list for the test's client sockets, all closed afterwards."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


@pytest.fixture(params=["auto", "h11"])
def start(request: pytest.FixtureRequest) -> Iterator[Start]:
    """Serve a Monitoring with the given server settings: httptools via serve_in_background, or h11."""
    servers: list[tuple[BackgroundServer, Monitoring]] = []

    def start(**server: object) -> BackgroundServer:
        monitoring = Monitoring(MonitoringSettings.model_validate({"server": server}), stream=io.StringIO())
        if request.param == "auto":  # the settings reach uvicorn through serve_in_background(monitoring)
            background = serve_in_background(monitoring, port=0)
        else:
            background = BackgroundServer(
                create_app(monitoring), port=0, monitoring=monitoring, http=request.param
            ).start()
        servers.append((background, monitoring))
        return background

    yield start
    for background, monitoring in servers:
        background.stop()
        monitoring.stop()


@pytest.fixture
def serve_cli(tmp_path: Path) -> Iterator[ServeCLI]:
    """Run `sharedconfig serve` with YAML lines under monitoring.server, optionally under an fd limit.

    ``serve_cli(server_yaml, fd_limit=None)`` returns (url, port, log file) once /health/live answers;
    the process gets SIGTERM afterwards.
    """
    processes: list[subprocess.Popen[bytes]] = []

    def start(server_yaml: str, fd_limit: int | None = None) -> tuple[str, int, Path]:
        port = free_port()
        config = tmp_path / f"serve-{port}.yaml"
        config.write_text(f"monitoring:\n  server:\n    {server_yaml}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
        launch = [
            sys.executable,
            "-c",
            LAUNCH,
            str(fd_limit or resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
        ]
        log = tmp_path / f"serve-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*launch, "serve", str(config), "--port", str(port)],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: process.poll() is None and httpx.get(f"{url}/health/live", timeout=1).status_code == 200,
            30,
            f"sharedconfig serve to answer /health/live (log: {log})",
        )
        return url, port, log

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class TestHeaderTimeout:
    def test_slow_header_connection_is_closed_after_header_timeout(
        self, start: Start, sockets: list[socket.socket]
    ) -> None:
        """A client trickling a head a byte every 0.1 s is closed header_timeout (0.5 s) after it began."""
        server = start(header_timeout="0.5s")
        sock = socket.create_connection(("127.0.0.1", server.port))
        sockets.append(sock)
        elapsed = closed_within(sock, 5, trickle=HEAD[:-2] + b"X-Slow: " + b"a" * 100)
        assert elapsed is not None, "a slow-header connection was still open after 5 s"
        assert 0.4 <= elapsed < 3, elapsed
        assert server.guard.closed["header_timeout"] == 1

    def test_silent_connection_is_closed_after_header_timeout(
        self, start: Start, sockets: list[socket.socket]
    ) -> None:
        """A connection that never sends a byte is closed after header_timeout too."""
        server = start(header_timeout="0.5s")
        sock = socket.create_connection(("127.0.0.1", server.port))
        sockets.append(sock)
        elapsed = closed_within(sock, 5)
        assert elapsed is not None and 0.4 <= elapsed < 3, elapsed

    def test_next_head_on_a_keep_alive_connection_has_the_same_deadline(
        self, start: Start, sockets: list[socket.socket]
    ) -> None:
        """After a response, a next head trickled byte by byte is closed header_timeout after it began."""
        server = start(header_timeout="0.5s", keep_alive_timeout="30s")
        sock = socket.create_connection(("127.0.0.1", server.port))
        sockets.append(sock)
        sock.sendall(HEAD)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        elapsed = closed_within(sock, 5, trickle=b"GET /health/live HTTP/1.1\r\nX-Slow: " + b"a" * 100)
        assert elapsed is not None, "a slow next head was still open after 5 s"
        assert 0.4 <= elapsed < 3, elapsed

    def test_a_head_sent_in_pieces_within_the_deadline_is_served(
        self, start: Start, sockets: list[socket.socket]
    ) -> None:
        """A head that arrives in pieces but completes within header_timeout gets its response."""
        server = start(header_timeout="3s")
        sock = socket.create_connection(("127.0.0.1", server.port))
        sockets.append(sock)
        for piece in (HEAD[:10], HEAD[10:30], HEAD[30:]):
            sock.sendall(piece)
            time.sleep(0.2)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert server.guard.closed == {"header_timeout": 0, "evicted": 0, "refused": 0}

    def test_idle_keep_alive_connection_is_closed_after_keep_alive_timeout(
        self, start: Start, sockets: list[socket.socket]
    ) -> None:
        """monitoring.server.keep_alive_timeout (1 s, not uvicorn's 5 s) closes an idle connection."""
        server = start(header_timeout="30s", keep_alive_timeout="1s")
        sock = socket.create_connection(("127.0.0.1", server.port))
        sockets.append(sock)
        sock.sendall(HEAD)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        elapsed = closed_within(sock, 3.5)
        assert elapsed is not None, "an idle keep-alive connection was still open after 3.5 s"
        assert elapsed >= 0.8, elapsed


class TestConnectionLimit:
    @pytest.mark.parametrize("http", ["h11", "httptools"])
    def test_a_connection_mid_response_is_never_evicted(
        self, http: HTTPImplementation, sockets: list[socket.socket]
    ) -> None:
        """With max_connections=2 a flood of idle connections evicts each other, never the slow request."""

        async def slow(request: Request) -> PlainTextResponse:
            await asyncio.sleep(1.0)
            return PlainTextResponse("done")

        app = Starlette(routes=[Route("/slow", slow)])
        with BackgroundServer(app, port=0, max_connections=2, http=http).start() as server:
            busy = socket.create_connection(("127.0.0.1", server.port))
            sockets.append(busy)
            busy.sendall(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
            wait_until(lambda: server.guard.waiting_connections == 0, 5, "the slow request to start")
            for _ in range(5):
                sockets.append(socket.create_connection(("127.0.0.1", server.port)))
            assert read_response(busy).startswith(b"HTTP/1.1 200")
            wait_until(lambda: server.guard.closed["evicted"] >= 4, 5, "the flood to evict itself")
            assert server.guard.open_connections <= 2

    def test_flood_past_the_descriptor_limit_keeps_liveness_answering(
        self, serve_cli: ServeCLI, sockets: list[socket.socket]
    ) -> None:
        """300 slow-header connections against a server limited to 128 descriptors: /health/live still 200."""
        # header_timeout long enough that only the connection limit (the default 64) can save liveness
        url, port, log = serve_cli("header_timeout: 120s\n    keep_alive_timeout: 120s\n", FD_LIMIT)
        for _ in range(FLOOD):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /health/live HTTP/1.1\r\n")
            sockets.append(sock)
        status = None
        deadline = time.monotonic() + 20
        while status != 200 and time.monotonic() < deadline:
            for sock in sockets:  # one more header byte on every connection still open
                with contextlib.suppress(OSError):
                    sock.send(b"X")
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(f"{url}/health/live", timeout=2).status_code
        assert status == 200, f"/health/live did not answer under the flood (log: {log})"
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        evicted = f'{SERVER_CONNECTIONS_CLOSED}{{reason="evicted"}}'
        line = next((line for line in metrics.splitlines() if line.startswith(evicted)), "")
        assert line and float(line.split()[-1]) >= FLOOD - 64, line
        closures = [entry for entry in log.read_text().splitlines() if "closed client connections" in entry]
        assert len(closures) == 1, closures  # hundreds of closures, one log line


class TestServeCommand:
    def test_serve_applies_the_configured_header_timeout(
        self, serve_cli: ServeCLI, sockets: list[socket.socket]
    ) -> None:
        """`sharedconfig serve` takes header_timeout from monitoring.server: a silent client goes at 0.5 s."""
        _, port, _ = serve_cli("header_timeout: 500ms\n")
        sock = socket.create_connection(("127.0.0.1", port))
        sockets.append(sock)
        elapsed = closed_within(sock, 5, trickle=b"GET /health/live HTTP/1.1\r\nX-Slow: " + b"a" * 100)
        assert elapsed is not None, "the configured header_timeout did not close a slow client in 5 s"
        assert 0.4 <= elapsed < 3, elapsed
