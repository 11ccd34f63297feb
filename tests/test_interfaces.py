"""Tests for sharedconfig.interfaces: every implementation passes its contract, and the value types behave.

One ``TestXxx(XxxContract)`` class per implementation; a tiny JSON provider proves the provider contract runs;
implementations that drop what they are given (the null objects, and a few broken doubles) fail the contracts.
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import FrozenInstanceError, asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sharedconfig import interfaces
from sharedconfig.errors import ValidationError
from sharedconfig.interfaces import (
    CheckResult,
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
    LogRecord,
    MetricsRecorderContract,
    NullMetricsRecorder,
    RecordingLogger,
    StaticHealthChecker,
)

_STDLIB_NAME = "sharedconfig.tests.contract"


class _Capture(logging.Handler):
    """Keeps every stdlib record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


class TestStdlibLogger(LoggerContract):
    """StdlibLogger satisfies the Logger contract, read back from a handler on its logging.Logger."""

    capture: _Capture

    @pytest.fixture(autouse=True)
    def _isolated_logger(self) -> Iterator[None]:
        """A test-only logging.Logger at DEBUG that does not propagate, put back as it was afterwards."""
        target = logging.getLogger(_STDLIB_NAME)
        self.capture = _Capture()
        target.addHandler(self.capture)
        target.setLevel(logging.DEBUG)
        target.propagate = False
        yield
        target.removeHandler(self.capture)
        target.setLevel(logging.NOTSET)
        target.propagate = True

    def make(self) -> Logger:
        """A logger on the test-only logging.Logger."""
        return StdlibLogger(_STDLIB_NAME)

    def records(self, logger: Logger) -> Sequence[LogRecord]:
        """The handler's records: level name, rendered message, and the ``fields`` extra."""
        return [
            LogRecord(r.levelname.lower(), r.getMessage(), dict(getattr(r, "fields", {})))
            for r in self.capture.records
        ]


class RecordingLoggerContract(LoggerContract):
    """The Logger contract for RecordingLogger and its subclasses, read back from the records they keep."""

    def records(self, logger: Logger) -> Sequence[LogRecord]:
        """The records it kept."""
        assert isinstance(logger, RecordingLogger)
        return logger.records


class TestRecordingLogger(RecordingLoggerContract):
    """RecordingLogger satisfies the Logger contract."""

    def make(self) -> Logger:
        """A logger that keeps its records."""
        return RecordingLogger()


class InMemoryRecorderContract(MetricsRecorderContract):
    """The MetricsRecorder contract for InMemoryMetricsRecorder and its subclasses, read from what it kept."""

    def recorded_total(
        self, recorder: MetricsRecorder, kind: MetricKind, name: str, labels: Mapping[str, str]
    ) -> float:
        """Counter or histogram sum, or last gauge value, of the kept observations."""
        assert isinstance(recorder, InMemoryMetricsRecorder)
        kept = [m for m in recorder.get_metrics(name) if m.kind is kind and m.labels == dict(labels)]
        if kind is MetricKind.GAUGE:
            return kept[-1].value if kept else 0.0
        return sum(m.value for m in kept)


class TestInMemoryMetricsRecorder(InMemoryRecorderContract):
    """InMemoryMetricsRecorder satisfies the MetricsRecorder contract."""

    def make(self) -> MetricsRecorder:
        """A fresh in-memory recorder."""
        return InMemoryMetricsRecorder()


class TestStaticHealthChecker(HealthCheckerContract):
    """StaticHealthChecker satisfies the HealthChecker contract, reporting the dependencies it is given."""

    def make_with(self, dependencies: Mapping[str, CheckResult]) -> HealthChecker:
        """A degraded checker listing each dependency, stamped with a fake clock's time."""
        clock = FakeClock()
        return StaticHealthChecker(
            HealthState.DEGRADED,
            [HealthStatus(name, r.stamped(clock.wall(), 0.5)) for name, r in dependencies.items()],
            now=clock.wall,
        )


class TestStaticHealthCheckerUnknown(HealthCheckerContract):
    """StaticHealthChecker in the unknown state, on the real clock, satisfies the contract."""

    def make_with(self, dependencies: Mapping[str, CheckResult]) -> HealthChecker:
        """An unknown-state checker whose dependencies were checked just now."""
        now = datetime.now(UTC)
        return StaticHealthChecker(
            HealthState.UNKNOWN, [HealthStatus(name, r.stamped(now, 0.0)) for name, r in dependencies.items()]
        )


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
        self._last: Settings | None = None

    def load(self) -> Settings:
        """Read the file."""
        config = Settings(**json.loads(self.path.read_text(encoding="utf-8")))
        self.validate(config)
        self._last = config
        return config

    def poll(self) -> None:
        """Read the file again and pass a changed configuration to every subscriber."""
        last = self._last
        config = self.load()
        if config != last:
            for callback in list(self._callbacks):
                callback(config)

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


class JsonSettingsContract(ConfigProviderContract[Settings]):
    """The ConfigProvider contract for JsonSettingsProvider and subclasses: their file, configs and poll."""

    filename = "settings.json"

    def sample(self) -> Settings:
        """A valid configuration."""
        return Settings("api", 4)

    def variant(self) -> Settings:
        """Another valid configuration."""
        return Settings("worker", 8)

    def notice_change(self, provider: ConfigProvider[Settings]) -> None:
        """Poll once."""
        assert isinstance(provider, JsonSettingsProvider)
        provider.poll()


class TestJsonSettingsProvider(JsonSettingsContract):
    """A test-local JSON provider passes the ConfigProvider contract, so the contract is usable."""

    def make(self, tmp_path: Path) -> ConfigProvider[Settings]:
        """A provider reading settings.json in tmp_path."""
        return JsonSettingsProvider(self.config_file(tmp_path))

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
    """CustomMetric, CheckResult and HealthStatus are frozen values."""

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

    def test_check_result_defaults(self) -> None:
        """A CheckResult defaults to no message or details, zero duration and no time (not run yet)."""
        result = CheckResult(HealthState.HEALTHY)
        assert (result.message, result.details, result.duration_seconds, result.checked_at) == (
            "",
            {},
            0.0,
            None,
        )

    def test_check_result_rejects_negative_durations_and_naive_times(self) -> None:
        """duration_seconds is never negative and checked_at is always timezone-aware."""
        with pytest.raises(ValueError, match="negative"):
            CheckResult(HealthState.HEALTHY, duration_seconds=-0.1)
        with pytest.raises(ValueError, match="timezone-aware"):
            CheckResult(HealthState.HEALTHY, checked_at=datetime(2026, 1, 1))  # naive on purpose

    def test_stamped_adds_the_timing_and_keeps_the_rest(self) -> None:
        """stamped returns a copy with checked_at and duration set; the original is unchanged."""
        when = datetime(2026, 1, 1, tzinfo=UTC)
        result = CheckResult(HealthState.DEGRADED, "slow", {"ms": 900})
        timed = result.stamped(when, 0.9)
        assert timed == CheckResult(HealthState.DEGRADED, "slow", {"ms": 900}, 0.9, when)
        assert result.checked_at is None

    def test_health_status_reads_through_to_its_result(self) -> None:
        """A HealthStatus names a CheckResult: state, message, details and timing are the result's."""
        when = datetime(2026, 1, 1, tzinfo=UTC)
        result = CheckResult(HealthState.UNHEALTHY, "down", {"host": "db1"}, 0.5, when)
        status = HealthStatus("db", result, critical=True, tags={"tier": "data"}, description="orders")
        assert (status.state, status.message, status.details) == (
            HealthState.UNHEALTHY,
            "down",
            {"host": "db1"},
        )
        assert (status.duration_seconds, status.checked_at) == (0.5, when)
        assert (status.critical, status.tags, status.description) == (True, {"tier": "data"}, "orders")

    def test_dependency_status_is_health_status(self) -> None:
        """The seed's two twins are one type: DependencyStatus is another name for HealthStatus."""
        assert DependencyStatus is HealthStatus

    def test_health_values_are_frozen_and_copy_their_dicts(self) -> None:
        """Neither value can be changed, and changing the caller's dicts afterwards changes neither."""
        details, tags = {"host": "db1"}, {"tier": "data"}
        status = HealthStatus("db", CheckResult(HealthState.HEALTHY, details=details), tags=tags)
        details["host"], tags["tier"] = "db2", "web"
        assert (status.details, status.tags) == ({"host": "db1"}, {"tier": "data"})
        with pytest.raises(FrozenInstanceError):
            status.result = CheckResult(HealthState.UNHEALTHY)  # type: ignore[misc]  # proving it fails
        with pytest.raises(FrozenInstanceError):
            status.result.state = HealthState.UNHEALTHY  # type: ignore[misc]  # proving it fails
        assert replace(status, critical=True).critical


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
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )  # no timeout: waiting with one polls with time.sleep, which unit tests may not do
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

    with pytest.raises(TypeError, match="must implement make, notice_change, sample, variant"):

        class TestHalfDone(ConfigProviderContract[str]):
            """Forgets both factories."""


def test_contract_helper_subclass_may_stay_abstract() -> None:
    """An intermediate base not named Test* may leave make abstract, for a family of implementations."""

    class FileLoggerContract(LoggerContract):
        """A shared intermediate base."""

    assert FileLoggerContract.__abstractmethods__ == frozenset({"make", "records"})


# -- the contracts fail for implementations that drop what they are given -----------------------------------


def contract_failures(contract: object, tmp_path: Path) -> set[str]:
    """Run every ``test_*`` method of a contract instance; the names of those that fail an assertion."""
    failed: set[str] = set()
    for name in sorted(n for n in dir(contract) if n.startswith("test_")):
        method = getattr(contract, name)
        try:
            if "tmp_path" in inspect.signature(method).parameters:
                (tmp_path / name).mkdir()
                method(tmp_path / name)
            else:
                method()
        except AssertionError:
            failed.add(name)
        except pytest.skip.Exception:  # a check the contract skips neither passes nor fails
            pass
    return failed


def every_test_but(contract: type, *passing: str) -> set[str]:
    """The names of the contract's tests, except ``passing``."""
    return {n for n in dir(contract) if n.startswith("test_")} - set(passing)


class NullRecorderUnderContract(MetricsRecorderContract):
    """NullMetricsRecorder run through the contract (not collected: its name does not start with Test)."""

    def make(self) -> MetricsRecorder:
        """A recorder that discards everything."""
        return NullMetricsRecorder()

    def recorded_total(
        self, recorder: MetricsRecorder, kind: MetricKind, name: str, labels: Mapping[str, str]
    ) -> float:
        """Nothing is kept, so nothing reads back."""
        return 0.0


class LabelBlindRecorder(InMemoryMetricsRecorder):
    """A broken recorder: it keeps values but forgets their labels."""

    def _record(self, name: str, kind: MetricKind, value: float, labels: Mapping[str, str] | None) -> None:
        super()._record(name, kind, value, None)


class LabelBlindRecorderUnderContract(InMemoryRecorderContract):
    """LabelBlindRecorder run through the contract."""

    def make(self) -> MetricsRecorder:
        """A recorder that drops labels."""
        return LabelBlindRecorder()


class NullLoggerUnderContract(LoggerContract):
    """NullLogger run through the contract."""

    def make(self) -> Logger:
        """A logger that discards everything."""
        return NullLogger()

    def records(self, logger: Logger) -> Sequence[LogRecord]:
        """Nothing is kept, so nothing reads back."""
        return []


class FieldDroppingLogger(RecordingLogger):
    """A broken logger: it keeps messages but neither bound nor call fields."""

    def _log(self, level: str, message: str, fields: Mapping[str, object]) -> None:
        self.records.append(LogRecord(level, message, {}))

    def bind(self, **fields: object) -> FieldDroppingLogger:
        """A logger sharing the records, binding nothing."""
        return FieldDroppingLogger(self.records)


class FieldDroppingLoggerUnderContract(RecordingLoggerContract):
    """FieldDroppingLogger run through the contract."""

    def make(self) -> Logger:
        """A logger that drops fields."""
        return FieldDroppingLogger()


class ForgetfulChecker(StaticHealthChecker):
    """A broken checker: it reports only its first dependency."""

    def dependencies(self) -> Sequence[HealthStatus]:
        """The first dependency alone."""
        return super().dependencies()[:1]


class ForgetfulCheckerUnderContract(HealthCheckerContract):
    """ForgetfulChecker run through the contract."""

    def make_with(self, dependencies: Mapping[str, CheckResult]) -> HealthChecker:
        """A checker given every dependency, reporting one."""
        now = FakeClock().wall()
        return ForgetfulChecker(
            HealthState.HEALTHY, [HealthStatus(n, r.stamped(now, 0.0)) for n, r in dependencies.items()]
        )


class StaleProvider(JsonSettingsProvider):
    """A broken provider: ``save`` writes a new file but never replaces an existing one."""

    def save(self, config: Settings, destination: str | os.PathLike[str]) -> None:
        """Write ``config`` unless ``destination`` exists."""
        if not Path(destination).exists():
            super().save(config, destination)


class StaleProviderUnderContract(JsonSettingsContract):
    """StaleProvider run through the contract."""

    def make(self, tmp_path: Path) -> ConfigProvider[Settings]:
        """A provider that never overwrites its file."""
        return StaleProvider(self.config_file(tmp_path))


class TestContractsCatchDroppedData:
    """Each contract reads back what it recorded, so an implementation that drops data fails it."""

    def test_null_metrics_recorder_fails_every_read_back(self, tmp_path: Path) -> None:
        """NullMetricsRecorder fails every MetricsRecorder test but the isinstance check."""
        failed = contract_failures(NullRecorderUnderContract(), tmp_path)
        assert failed == every_test_but(MetricsRecorderContract, "test_implements_the_protocol")

    def test_a_recorder_that_drops_labels_fails(self, tmp_path: Path) -> None:
        """A recorder that merges every label set into one series fails the label read-backs."""
        failed = contract_failures(LabelBlindRecorderUnderContract(), tmp_path)
        assert {
            "test_every_method_accepts_labels_none_empty_or_a_mapping",
            "test_label_values_may_be_any_text",
            "test_recording_from_several_threads",
        } <= failed

    def test_null_logger_fails_every_read_back(self, tmp_path: Path) -> None:
        """NullLogger, which drops every record, fails every Logger test but the isinstance check."""
        failed = contract_failures(NullLoggerUnderContract(), tmp_path)
        assert failed == every_test_but(LoggerContract, "test_implements_the_protocol")

    def test_a_logger_that_drops_fields_fails(self, tmp_path: Path) -> None:
        """A logger that keeps messages but no fields fails the field and bind read-backs only."""
        failed = contract_failures(FieldDroppingLoggerUnderContract(), tmp_path)
        assert failed == {
            "test_every_level_accepts_arbitrary_keyword_fields",
            "test_bind_returns_a_logger_that_logs",
            "test_logs_inside_a_trace_context",
            "test_is_usable_from_several_threads",
        }

    def test_a_checker_that_drops_dependencies_fails(self, tmp_path: Path) -> None:
        """A checker that reports fewer dependencies than it has fails the dependency read-back."""
        failed = contract_failures(ForgetfulCheckerUnderContract(), tmp_path)
        assert failed == {"test_dependencies_read_back_what_they_found"}

    def test_a_provider_that_ignores_new_saves_fails(self, tmp_path: Path) -> None:
        """A provider whose save keeps the file it finds fails the save/load and watch read-backs."""
        failed = contract_failures(StaleProviderUnderContract(), tmp_path)
        assert failed == {
            "test_load_reads_back_what_was_saved_last",
            "test_watch_delivers_a_changed_file_until_unsubscribed",
        }
