"""Tests for sharedconfig.interfaces: every implementation passes its contract, and the value types behave.

One ``TestXxx(XxxContract)`` class per implementation; a tiny JSON provider proves the provider contract runs.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import FrozenInstanceError, asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sharedconfig import interfaces
from sharedconfig.errors import ValidationError
from sharedconfig.interfaces import (
    ConfigProvider,
    CustomMetric,
    DependencyStatus,
    HealthChecker,
    HealthState,
    HealthStatus,
    Logger,
    MetricKind,
    MetricsRecorder,
)
from sharedconfig.stdlog import NullLogger, StdlibLogger
from sharedconfig.testing import (
    ConfigProviderContract,
    FakeClock,
    HealthCheckerContract,
    InMemoryMetricsRecorder,
    LoggerContract,
    MetricsRecorderContract,
    NullMetricsRecorder,
    RecordingLogger,
    StaticHealthChecker,
)


class TestStdlibLogger(LoggerContract):
    """StdlibLogger satisfies the Logger contract."""

    def make(self) -> Logger:
        """A logger on a test-only logging.Logger."""
        return StdlibLogger("sharedconfig.tests.contract")


class TestNullLogger(LoggerContract):
    """NullLogger satisfies the Logger contract."""

    def make(self) -> Logger:
        """A logger that discards everything."""
        return NullLogger()


class TestRecordingLogger(LoggerContract):
    """RecordingLogger satisfies the Logger contract."""

    def make(self) -> Logger:
        """A logger that keeps its records."""
        return RecordingLogger()


class TestInMemoryMetricsRecorder(MetricsRecorderContract):
    """InMemoryMetricsRecorder satisfies the MetricsRecorder contract."""

    def make(self) -> MetricsRecorder:
        """A fresh in-memory recorder."""
        return InMemoryMetricsRecorder()


class TestNullMetricsRecorder(MetricsRecorderContract):
    """NullMetricsRecorder satisfies the MetricsRecorder contract."""

    def make(self) -> MetricsRecorder:
        """A recorder that discards everything."""
        return NullMetricsRecorder()


class TestStaticHealthChecker(HealthCheckerContract):
    """StaticHealthChecker satisfies the HealthChecker contract, with dependencies."""

    def make(self) -> HealthChecker:
        """A degraded checker with one healthy and one unhealthy dependency."""
        clock = FakeClock()
        return StaticHealthChecker(
            HealthState.DEGRADED,
            [
                DependencyStatus("db", HealthState.HEALTHY, checked_at=clock.wall()),
                DependencyStatus(
                    "kafka", HealthState.UNHEALTHY, "timeout", {"broker": "b1"}, clock.wall(), 2.0
                ),
            ],
            now=clock.wall,
        )


class TestStaticHealthCheckerWithoutDependencies(HealthCheckerContract):
    """StaticHealthChecker with no dependencies and the unknown state satisfies the contract."""

    def make(self) -> HealthChecker:
        """An unknown-state checker with nothing to depend on."""
        return StaticHealthChecker(HealthState.UNKNOWN)


@dataclass(frozen=True)
class Settings:
    """A small configuration type for the JSON provider below."""

    name: str
    workers: int


class JsonSettingsProvider:
    """The smallest real ConfigProvider: reads and writes Settings as JSON; proves the contract is usable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._callbacks: list[Callable[[Settings], None]] = []

    def load(self) -> Settings:
        """Read the file."""
        config = Settings(**json.loads(self.path.read_text(encoding="utf-8")))
        self.validate(config)
        return config

    def save(self, config: Settings, destination: str | os.PathLike[str]) -> None:
        """Write the file."""
        Path(destination).write_text(json.dumps(asdict(config)), encoding="utf-8")

    def validate(self, config: Settings) -> None:
        """Workers must be positive."""
        if config.workers < 1:
            raise ValidationError("workers must be at least 1", code="VALIDATION_003", path="workers")

    def watch(self, callback: Callable[[Settings], None]) -> Callable[[], None]:
        """Register the callback; the returned function removes it once."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe


class TestJsonSettingsProvider(ConfigProviderContract[Settings]):
    """A test-local JSON provider passes the ConfigProvider contract, so the contract is usable."""

    filename = "settings.json"

    def make(self, tmp_path: Path) -> ConfigProvider[Settings]:
        """A provider reading settings.json in tmp_path."""
        return JsonSettingsProvider(self.config_file(tmp_path))

    def sample(self) -> Settings:
        """A valid configuration."""
        return Settings("api", 4)

    def invalid(self) -> Settings:
        """A configuration with zero workers."""
        return Settings("api", 0)


class TestProtocolsAtRuntime:
    """The Protocols are runtime-checkable and reject objects that lack their methods."""

    @pytest.mark.parametrize("protocol", [Logger, MetricsRecorder, HealthChecker, ConfigProvider])
    def test_plain_object_is_not_an_implementation(self, protocol: type) -> None:
        """An object without the methods is not an instance of any of the Protocols."""
        assert not isinstance(object(), protocol)

    def test_logger_missing_critical_is_not_a_logger(self) -> None:
        """A class with every Logger method but critical fails the isinstance check."""

        class Partial:
            """Lacks critical."""

            def debug(self, message: str, /, **fields: object) -> None:
                """Discard."""

            info = warning = error = debug

            def bind(self, **fields: object) -> Partial:
                """Return self."""
                return self

        assert not isinstance(Partial(), Logger)

    def test_static_typing_accepts_the_implementations(self) -> None:
        """Each implementation can be assigned to its Protocol type (checked by mypy on this file)."""
        loggers: list[Logger] = [StdlibLogger(), NullLogger(), RecordingLogger()]
        recorders: list[MetricsRecorder] = [InMemoryMetricsRecorder(), NullMetricsRecorder()]
        checkers: list[HealthChecker] = [StaticHealthChecker(HealthState.HEALTHY)]
        providers: list[ConfigProvider[Settings]] = [JsonSettingsProvider(Path("unused.json"))]
        assert len(loggers) + len(recorders) + len(checkers) + len(providers) == 7


class TestValueTypes:
    """CustomMetric, HealthStatus and DependencyStatus are frozen values."""

    def test_custom_metric_defaults_and_immutability(self) -> None:
        """A CustomMetric defaults to no labels, help or unit, and cannot be changed."""
        metric = CustomMetric("jobs_total", 1.0, MetricKind.COUNTER)
        assert (metric.labels, metric.help, metric.unit) == ({}, "", "")
        with pytest.raises(FrozenInstanceError):
            metric.value = 2.0  # type: ignore[misc]  # proving the assignment fails

    def test_custom_metric_copies_labels(self) -> None:
        """Changing the caller's label dict afterwards does not change the metric."""
        labels = {"queue": "a"}
        metric = CustomMetric("depth", 3.0, MetricKind.GAUGE, labels)
        labels["queue"] = "b"
        assert metric.labels == {"queue": "a"}

    def test_enums_are_strings(self) -> None:
        """HealthState and MetricKind values are the plain strings used on the wire."""
        assert [s.value for s in HealthState] == ["healthy", "degraded", "unhealthy", "unknown"]
        assert [k.value for k in MetricKind] == ["counter", "gauge", "histogram"]
        assert HealthState("degraded") is HealthState.DEGRADED
        assert f"{HealthState.HEALTHY}" == "healthy"

    def test_health_status_defaults(self) -> None:
        """A HealthStatus defaults to an empty message and details, now in UTC, and zero duration."""
        before = datetime.now(UTC)
        status = HealthStatus("svc", HealthState.HEALTHY)
        assert (status.message, status.details, status.duration_seconds) == ("", {}, 0.0)
        assert before <= status.checked_at <= datetime.now(UTC)
        assert status.checked_at.tzinfo is UTC

    def test_dependency_status_is_frozen_and_serialisable(self) -> None:
        """A DependencyStatus cannot be changed and converts to a dict with asdict."""
        when = datetime(2026, 1, 1, tzinfo=UTC)
        dependency = DependencyStatus("db", HealthState.UNHEALTHY, "down", {"host": "db1"}, when, 0.5)
        with pytest.raises(FrozenInstanceError):
            dependency.state = HealthState.HEALTHY  # type: ignore[misc]  # proving the assignment fails
        assert asdict(dependency)["details"] == {"host": "db1"}


def test_interfaces_module_imports_nothing_from_higher_layers() -> None:
    """interfaces.py is foundation: it imports from no sharedconfig module but errors and durations."""
    tree = ast.parse(Path(interfaces.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    ours = {name for name in imported if name.split(".")[0] == "sharedconfig"}
    assert ours <= {"sharedconfig.errors", "sharedconfig.durations"}


def test_contract_bases_are_not_collected_themselves() -> None:
    """The contract classes are not named Test*, so pytest collects only their subclasses."""
    for contract in (LoggerContract, MetricsRecorderContract, HealthCheckerContract, ConfigProviderContract):
        assert not contract.__name__.startswith("Test")


def test_testing_package_imports_without_pytest() -> None:
    """sharedconfig.testing imports in a process where importing pytest fails."""
    code = "import sys; sys.modules['pytest'] = None; import sharedconfig.testing; print('ok')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def test_recording_logger_threads_share_records() -> None:
    """Loggers bound in several threads all append to the one shared record list."""
    root = RecordingLogger()

    def work() -> None:
        child = root.bind(thread=threading.get_ident())
        for _ in range(100):
            child.info("x")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(root.records) == 400


def test_contract_subclass_without_make_fails_at_definition() -> None:
    """A Test* contract subclass that forgets make raises TypeError instead of silently running nothing."""
    with pytest.raises(TypeError, match="TestForgotten must implement make"):

        class TestForgotten(LoggerContract):
            """Forgets make."""

    with pytest.raises(TypeError, match="must implement make, sample"):

        class TestHalfDone(ConfigProviderContract[str]):
            """Forgets both factories."""


def test_contract_helper_subclass_may_stay_abstract() -> None:
    """An intermediate base not named Test* may leave make abstract, for a family of implementations."""

    class FileLoggerContract(LoggerContract):
        """A shared intermediate base."""

    assert FileLoggerContract.__abstractmethods__ == frozenset({"make"})
