"""Tests for the ready-made health checks: TCP, HTTP, callable, process headroom and ConfigHealth."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from pydantic import BaseModel, ConfigDict, Field

from sharedconfig.config import SettingsModule, check
from sharedconfig.config.loader import LoadOptions
from sharedconfig.config.provider import FileConfigProvider
from sharedconfig.interfaces import HealthState
from sharedconfig.monitoring.health import (
    CheckResult,
    ConfigHealth,
    HealthCheck,
    HealthMonitor,
    callable_check,
    http_check,
    process_check,
    tcp_check,
)
from sharedconfig.monitoring.settings import HealthSettings
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestCheckTypes:
    def test_check_result_copies_details_and_is_frozen(self) -> None:
        """A CheckResult keeps its own copy of details and cannot be changed."""
        details = {"a": 1}
        result = CheckResult(HealthState.HEALTHY, "ok", details)
        details["a"] = 2
        assert result.details == {"a": 1}
        with pytest.raises(AttributeError):
            result.state = HealthState.UNHEALTHY  # type: ignore[misc]

    def test_health_check_takes_seconds_or_timedeltas(self) -> None:
        """interval and timeout may be floats or timedeltas; both read back in seconds."""
        hc = HealthCheck("a", lambda: None, interval=timedelta(minutes=1), timeout=2.5)
        assert (hc.interval_seconds, hc.timeout_seconds) == (60.0, 2.5)
        assert HealthCheck("b", lambda: None).interval_seconds is None

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"name": ""}, ValueError),
            ({"check": "not callable"}, TypeError),
            ({"interval": 0}, ValueError),
            ({"timeout": timedelta(seconds=-1)}, ValueError),
        ],
    )
    def test_health_check_rejects_bad_fields(self, kwargs: dict[str, object], error: type[Exception]) -> None:
        """An empty name, a non-callable check and non-positive durations are refused."""
        fields: dict[str, object] = {"name": "a", "check": lambda: None, **kwargs}
        with pytest.raises(error):
            HealthCheck(**fields)  # type: ignore[arg-type]


def run_check(fn: object) -> CheckResult:
    """Run one check through a monitor and return its cached result."""
    settings = HealthSettings(check_interval=timedelta(seconds=30), timeout=timedelta(seconds=5))
    m = HealthMonitor(
        settings, metrics=InMemoryMetricsRecorder(), logger=RecordingLogger(), clock=FakeClock()
    )
    m.register(HealthCheck("c", fn))  # type: ignore[arg-type]
    asyncio.run(m.run_all())
    c = m.report().checks["c"]
    return CheckResult(c.state, c.message, c.details)


class TestCallableCheck:
    def test_any_return_value_is_healthy(self) -> None:
        """A sync ping returning "PONG" and an async one returning an object are healthy."""

        async def ping() -> object:
            return object()

        assert run_check(callable_check(lambda: "PONG")).state is HealthState.HEALTHY
        assert run_check(callable_check(ping)).state is HealthState.HEALTHY

    def test_false_states_and_results_keep_their_meaning(self) -> None:
        """False is unhealthy; a HealthState or CheckResult is passed through."""
        assert run_check(callable_check(lambda: False)).state is HealthState.UNHEALTHY
        assert run_check(callable_check(lambda: HealthState.DEGRADED)).state is HealthState.DEGRADED
        result = CheckResult(HealthState.DEGRADED, "lagging")
        assert run_check(callable_check(lambda: result)) == result

    def test_raising_is_unhealthy(self) -> None:
        """An exception from the callable is unhealthy with its type and message."""

        async def broken() -> None:
            raise RuntimeError("no route")

        result = run_check(callable_check(broken))
        assert (result.state, result.message) == (HealthState.UNHEALTHY, "RuntimeError: no route")


class TestTcpCheck:
    def test_a_listening_port_is_healthy(self) -> None:
        """Connecting to a real listening socket on 127.0.0.1 is healthy."""

        async def scenario() -> CheckResult:
            server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with server:
                return await tcp_check("127.0.0.1", port, timeout=5)()

        result = asyncio.run(scenario())
        assert result.state is HealthState.HEALTHY
        assert result.message.startswith("connected to 127.0.0.1:")

    def test_a_closed_port_is_unhealthy(self) -> None:
        """A refused connection is unhealthy and names the address."""
        port = closed_port()
        result = asyncio.run(tcp_check("127.0.0.1", port, timeout=5)())
        assert result.state is HealthState.UNHEALTHY
        assert result.message.startswith(f"cannot connect to 127.0.0.1:{port}: ")
        assert result.details == {"host": "127.0.0.1", "port": port}


class Handler(BaseHTTPRequestHandler):
    """Answers /ok with 200, /created with 201 and anything else with 500."""

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        status = {"/ok": 200, "/created": 201}.get(path, 500)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def http_base() -> Iterator[str]:
    """A tiny HTTP server on a free loopback port, in a thread; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class TestHttpCheck:
    def test_expected_status_is_healthy(self, http_base: str) -> None:
        """GET answering 200 where 200 is expected is healthy."""
        result = asyncio.run(http_check(f"{http_base}/ok", timeout=5)())
        assert result.state is HealthState.HEALTHY
        assert result.details == {"url": f"{http_base}/ok", "status": 200}

    def test_a_server_error_is_unhealthy(self, http_base: str) -> None:
        """GET answering 500 is unhealthy and says what was expected."""
        result = asyncio.run(http_check(f"{http_base}/boom", timeout=5)())
        assert result.state is HealthState.UNHEALTHY
        assert result.message == f"GET {http_base}/boom returned 500, expected 200"

    def test_a_wrong_success_status_is_unhealthy_unless_expected(self, http_base: str) -> None:
        """201 where 200 is expected is unhealthy; with expect_status=201 it is healthy."""
        assert asyncio.run(http_check(f"{http_base}/created")()).state is HealthState.UNHEALTHY
        assert (
            asyncio.run(http_check(f"{http_base}/created", expect_status=201)()).state is HealthState.HEALTHY
        )

    def test_user_info_and_query_never_show(self, http_base: str) -> None:
        """Credentials in the URL's user info or query appear in no message or detail."""
        host = http_base.removeprefix("http://")
        ok = asyncio.run(http_check(f"http://bob:canary-pw@{host}/boom?token=canary-tok")())
        refused = asyncio.run(
            http_check(f"http://bob:canary-pw@127.0.0.1:{closed_port()}/x?token=canary-tok", timeout=5)()
        )
        for result in (ok, refused):
            text = f"{result.message} {result.details}"
            assert result.state is HealthState.UNHEALTHY
            assert "canary" not in text and "bob" not in text
        assert refused.message.startswith("GET http://127.0.0.1:")
        assert ok.details["url"] == f"{http_base}/boom"


class TestProcessCheck:
    def test_this_process_is_healthy_without_limits(self) -> None:
        """Against the machine's memory and the fd soft limit, the test process is healthy."""
        result = process_check()()
        assert result.state is HealthState.HEALTHY
        assert {"rss_bytes", "memory_limit_bytes"} <= set(result.details)

    def test_a_tiny_memory_limit_is_unhealthy(self) -> None:
        """Resident memory above max_memory_bytes is unhealthy and says so."""
        result = process_check(max_memory_bytes=1024)()
        assert result.state is HealthState.UNHEALTHY
        assert "memory" in result.message and "above the limit of 1.0 KiB" in result.message

    @pytest.mark.skipif(not hasattr(psutil.Process(), "num_fds"), reason="needs POSIX file descriptors")
    def test_fd_limits_degrade_near_and_fail_above(self) -> None:
        """Open fds above 90% of max_open_fds is degraded; above it, unhealthy."""
        fds = psutil.Process().num_fds()
        assert fds >= 10  # stdin/out/err, pytest and the interpreter hold more than this
        assert process_check(max_open_fds=1)().state is HealthState.UNHEALTHY
        near = process_check(max_open_fds=fds + 1)()
        assert near.state is HealthState.DEGRADED
        assert "above 90% of the limit" in near.message

    def test_limits_must_be_positive(self) -> None:
        """A zero or negative limit is refused when the check is made."""
        with pytest.raises(ValueError, match="max_open_fds"):
            process_check(max_open_fds=0)


class Demo(BaseModel):
    """A small module schema for ConfigHealth tests."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: float = Field(0.5, ge=0, le=1)


MODULES = (SettingsModule("demo", Demo),)


class TestConfigHealth:
    def test_unknown_before_any_load(self) -> None:
        """Until a load is seen the check is unknown."""
        assert ConfigHealth().check().state is HealthState.UNKNOWN

    def test_a_good_load_is_healthy_and_a_failed_first_load_unhealthy(self, tmp_path: Path) -> None:
        """Real check() outcomes: a valid file is healthy, an invalid first load unhealthy with codes."""
        good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
        good.write_text("demo: {rate: 0.1}\n")
        bad.write_text("demo: {rate: 7}\n")
        health = ConfigHealth()
        check([good], modules=MODULES, environ={}, env_file=None, hooks=health)
        assert health.check().state is HealthState.HEALTHY
        failing = ConfigHealth()
        check([bad], modules=MODULES, environ={}, env_file=None, hooks=failing)
        result = failing.check()
        assert (result.state, result.message) == (
            HealthState.UNHEALTHY,
            "configuration failed to load: 1 error",
        )
        assert result.details["paths"] == ["demo.rate"]
        assert result.details["codes"] == ["VALIDATION_003"]
        assert "7" not in str(result.details)

    def test_a_rejected_reload_is_degraded_until_a_good_one(self, tmp_path: Path) -> None:
        """Through a provider's reloads: rejected is degraded (last good in force), accepted healthy again."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        health = ConfigHealth()
        options = LoadOptions(env_file=None, environ={})
        prov = FileConfigProvider([path], options=options, modules=MODULES, hooks=health, poll_interval=3600)
        prov.load()
        assert health.check().state is HealthState.HEALTHY
        path.write_text("demo: {rate: 9}\n")
        os.utime(path, ns=(1, 10**18))
        assert prov.poll() is None
        result = health.check()
        assert (result.state, result.message) == (
            HealthState.DEGRADED,
            "reload rejected, last good config in force",
        )
        path.write_text("demo: {rate: 0.2}\n")
        os.utime(path, ns=(1, 2 * 10**18))
        assert prov.poll() is not None
        assert (health.check().state, health.check().message) == (
            HealthState.HEALTHY,
            "configuration reloaded",
        )

    def test_works_as_a_registered_check(self, tmp_path: Path) -> None:
        """ConfigHealth.check is a check function the monitor can run."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {}\n")
        health = ConfigHealth()
        check([path], modules=MODULES, environ={}, env_file=None, hooks=health)
        assert run_check(health.check).state is HealthState.HEALTHY
