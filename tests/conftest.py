"""Shared fixtures: real servers (Prometheus, tansu, NATS, etcd, Redis, Alertmanager, SMTP) on loopback.

A test that needs a server skips with a reason when the binary is absent, except when ``CI=true``,
where it fails: CI must never pass by skipping what it was meant to check. Every test fails if it
leaves a thread running; a unit test (outside tests/integration and tests/e2e) fails if its own thread
sleeps in real time: time is a FakeClock there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from integration.servers import (
    AlertmanagerServer,
    HttpReceiver,
    ProxiedBroker,
    Server,
    SmtpServer,
    TcpProxy,
    free_port,
    http_receiver,
    running_alertmanager,
    running_etcd,
    running_nats,
    running_redis,
    running_smtp,
    running_tansu,
    tansu_behind_proxy,
    unavailable,
)

TESTS = Path(__file__).parent
REAL_TIME_DIRS = frozenset({"integration", "e2e"})
"""Test folders that may wait in real time: they talk to real servers, with bounded timeouts."""

_THREAD_GRACE = 2.0
"""Real seconds a thread a test started may take to finish after the test before it counts as leaked."""


def _may_wait(path: Path) -> bool:
    try:
        return path.relative_to(TESTS).parts[0] in REAL_TIME_DIRS
    except (ValueError, IndexError):
        return True  # not one of ours (a doc example run as a test, say)


@pytest.fixture(autouse=True)
def _no_real_sleep(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a unit test whose own thread calls time.sleep or asyncio.sleep with a positive delay."""
    if _may_wait(request.path):
        return
    test_thread = threading.current_thread()
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep

    def refuse(seconds: float) -> None:
        pytest.fail(
            f"a unit test slept {seconds}s in real time: drive time with sharedconfig.testing.FakeClock "
            "(or move the test to tests/integration if it waits on a real server)",
            pytrace=True,
        )

    def sleep(seconds: float) -> None:
        # subprocess polls a child with a timeout this way: that waits on a real tool (promtool), not time
        waiting_on_a_child = sys._getframe(1).f_globals.get("__name__") == "subprocess"
        if seconds > 0 and threading.current_thread() is test_thread and not waiting_on_a_child:
            refuse(seconds)
        real_sleep(seconds)

    async def async_sleep(delay: float, result: Any = None) -> Any:
        if delay > 0 and threading.current_thread() is test_thread:
            refuse(delay)
        return await real_async_sleep(delay, result)

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(asyncio, "sleep", async_sleep)


@pytest.fixture(autouse=True)
def _no_thread_leak() -> Iterator[None]:
    """Fail a test that leaves a thread running (after a short grace for threads already finishing)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + _THREAD_GRACE
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        if time.monotonic() > deadline:
            names = ", ".join(sorted(t.name for t in leaked))
            pytest.fail(f"the test left {len(leaked)} thread(s) running: {names}")
        leaked[0].join(0.05)


_RUNTIME_FILES = (
    "sharedconfig-events.journal",
    "sharedconfig-events.sqlite3",
    "sharedconfig-events.dead-letter",
)
"""What a Monitoring with event channels and default paths writes into its working directory."""


@pytest.fixture(autouse=True)
def _no_runtime_files_left() -> Iterator[None]:
    """Fail a test that leaves the events journal, store or dead letters in the working directory."""
    cwd = Path.cwd()  # the test may chdir (monkeypatch.chdir is undone after this fixture's check)
    before = {name for name in _RUNTIME_FILES if os.path.lexists(cwd / name)}
    yield
    left = sorted({name for name in _RUNTIME_FILES if os.path.lexists(cwd / name)} - before)
    for name in left:
        shutil.rmtree(cwd / name, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.remove(cwd / name)
    if left:
        pytest.fail(f"the test left {left} in the working directory: run it in tmp_path (monkeypatch.chdir)")


def write_config(tmp_path: Path, name: str, text: str) -> str:
    """Write ``text`` to ``tmp_path / name`` and return the path as a string, as load() takes it."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def clean_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """In-process CLI runs see no SHAREDCONFIG_* variables, and the cwd is ``tmp_path`` (no stray .env)."""
    for name in list(os.environ):
        if name.startswith("SHAREDCONFIG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def require_binary(name: str) -> str:
    """The path of ``name``, or skip the test (fail under CI=true) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (scripts/install-services installs it)")
    return path


SHAREDCONFIG_CLI = str(Path(sys.executable).parent / "sharedconfig")


@contextlib.contextmanager
def serving(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], port: int | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``sharedconfig serve ARGS --port PORT`` as a subprocess, once /health/live answers: (process, url).

    Killed at the end if still running (a test stopping it itself reads its output with communicate).
    """
    port = free_port() if port is None else port
    process = subprocess.Popen(
        [SHAREDCONFIG_CLI, "serve", *args, "--port", str(port)],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is None and httpx.get(f"{url}/health/live", timeout=1).status_code == 200,
            30,
            "sharedconfig serve to answer /health/live",
        )
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def gunicorn_has(setting: str) -> bool:
    """Whether the installed gunicorn knows ``setting``."""
    from gunicorn import config

    return any(known.name == setting for known in config.KNOWN_SETTINGS)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


class ASGIClient:
    """A synchronous test client over ``httpx.ASGITransport`` (app exceptions propagate to the test)."""

    def __init__(self, app: Any, *, raise_app_exceptions: bool = True) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions

    def __enter__(self) -> ASGIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request to the app and return the whole response."""

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=self.raise_app_exceptions)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET ``url``."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST to ``url``."""
        return self.request("POST", url, **kwargs)


@dataclass
class PrometheusServer:
    """A running Prometheus: its URL and a query helper."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    targets: list[str] = field(default_factory=list)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; the ``result`` list of the response."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]["result"]
        return data

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Query until ``expr`` returns something (scrapes and writes take seconds to show)."""
        found: list[dict[str, Any]] = []

        def ready() -> bool:
            found[:] = self.query(expr)
            return bool(found)

        wait_until(ready, timeout, f"Prometheus to answer {expr!r}")
        return found


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Start Prometheus: ``prometheus(scrape=["127.0.0.1:9464"], remote_write=True)``."""
    binary = require_binary("prometheus")
    started: list[PrometheusServer] = []

    def start(scrape: Sequence[str] = (), *, remote_write: bool = False) -> PrometheusServer:
        port = free_port()
        config = tmp_path / f"prometheus-{port}.yml"
        jobs = ""
        if scrape:
            targets = ", ".join(f'"{t}"' for t in scrape)
            jobs = (
                f"scrape_configs:\n  - job_name: sharedconfig\n    scrape_interval: 1s\n"
                f"    static_configs:\n      - targets: [{targets}]\n"
            )
        config.write_text(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{jobs}")
        args = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / f'data-{port}'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        if remote_write:
            args.append("--web.enable-remote-write-receiver")
        log = tmp_path / f"prometheus-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        server = PrometheusServer(f"http://127.0.0.1:{port}", process, log, list(scrape))
        started.append(server)
        wait_until(
            lambda: httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200,
            30,
            f"Prometheus to be ready (log: {log})",
        )
        return server

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


@pytest.fixture
def promtool() -> Callable[[bytes], subprocess.CompletedProcess[bytes]]:
    """Run ``promtool check metrics`` on exposition text; the completed process."""
    binary = require_binary("promtool")

    def check(text: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [binary, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
        )

    return check


# Message brokers (integration/servers.py): each starts once per session, only when a test asks for it.
# Their threads (the proxy's loop) start before any test's thread snapshot, so they never count as leaks.


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """tansu (Kafka protocol, memory storage) on a free port: ``tansu.address`` is ``host:port``."""
    with running_tansu(tmp_path_factory.mktemp("tansu")) as server:
        yield server


@pytest.fixture(scope="session")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """nats-server with JetStream on a free port: ``nats.address`` is ``nats://host:port``."""
    with running_nats(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """etcd (one member) on a free port: ``etcd.address`` is ``host:port``."""
    with running_etcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """redis-server (no persistence, keyspace notifications of hashes on) on a free port:
    ``redis.address`` is ``host:port``."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def _tansu_behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedBroker]:
    with tansu_behind_proxy(tmp_path_factory.mktemp("tansu-proxied")) as broker:
        yield broker


@pytest.fixture
def tansu_via_proxy(_tansu_behind_proxy: ProxiedBroker) -> Iterator[ProxiedBroker]:
    """A tansu that advertises a TCP proxy: ``.proxy.cut()`` is an outage; restored after the test."""
    yield _tansu_behind_proxy
    _tansu_behind_proxy.proxy.restore()


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[str], TcpProxy]]:
    """Start proxies to ``[scheme://]host:port``: ``tcp_proxy(nats.address)``; closed after the test."""
    started: list[TcpProxy] = []

    def start(target: str) -> TcpProxy:
        host, port = target.rpartition("://")[2].rsplit(":", 1)
        proxy = TcpProxy((host, int(port)))
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.close()


# Alert notifications (integration/servers.py): started per test, stopped (threads joined) after it.


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """An HTTP server on a free loopback port recording every POST (200 unless ``receiver.script`` says)."""
    with http_receiver() as started:
        yield started


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    """Alertmanager (clustering off, group_wait 1s) whose webhook receiver is an in-test ``HttpReceiver``:
    ``alertmanager.url`` to post to, ``alertmanager.receiver.wait_for(n)`` for what it sent."""
    with http_receiver() as target, running_alertmanager(tmp_path, target) as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on a free loopback port (no TLS, no AUTH) keeping every message: ``smtp_server.port``."""
    with running_smtp() as server:
        yield server
