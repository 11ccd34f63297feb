"""Contract tests for the ``sharedconfig.interfaces`` Protocols, reusable in any project's test suite.

Subclass one as ``class TestMyThing(LoggerContract)`` and implement ``make``; pytest runs the checks.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from sharedconfig.errors import SharedConfigError, current_trace
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

__all__ = ["ConfigProviderContract", "HealthCheckerContract", "LoggerContract", "MetricsRecorderContract"]

C = TypeVar("C")

_STATES = frozenset(state.value for state in HealthState)


def _expect(condition: bool, message: str) -> None:
    # An explicit raise rather than ``assert``: this module is not assert-rewritten and may run under -O.
    if not condition:
        raise AssertionError(message)


def _returns_none(method: Callable[..., object], /, *args: object, **kwargs: object) -> None:
    """Call ``method`` and fail unless it returns None, as its Protocol declares."""
    result = method(*args, **kwargs)
    _expect(result is None, f"{getattr(method, '__name__', method)!r} returned {result!r}, not None")


def _run_in_threads(work: Callable[[], None], threads: int = 4) -> None:
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=guarded) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


class _Contract(ABC):  # noqa: B024  # each contract declares its own abstract factories
    """Base of the contracts: a ``Test*`` subclass that leaves a factory abstract fails loudly.

    pytest silently skips abstract classes, so a forgotten ``make`` would otherwise run no test at all.
    """

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if cls.__name__.startswith("Test"):
            missing = sorted(
                name for name in dir(cls) if getattr(getattr(cls, name, None), "__isabstractmethod__", False)
            )
            if missing:
                raise TypeError(f"{cls.__name__} must implement {', '.join(missing)} to run its contract")


class LoggerContract(_Contract):
    """What every ``Logger`` must do. Subclass as ``class TestMyLogger(LoggerContract)``.

    Implement ``make(self) -> Logger`` returning a fresh logger; it may write wherever it likes.
    """

    @abstractmethod
    def make(self) -> Logger:
        """Return a fresh logger to check."""

    def test_implements_the_protocol(self) -> None:
        """The logger is an instance of the runtime-checkable ``Logger`` Protocol."""
        logger = self.make()
        _expect(isinstance(logger, Logger), f"{type(logger).__name__} does not implement Logger")

    def test_every_level_accepts_a_message_alone(self) -> None:
        """debug, info, warning, error and critical take just a message and return None."""
        logger = self.make()
        for level in (logger.debug, logger.info, logger.warning, logger.error, logger.critical):
            _returns_none(level, "contract message")

    def test_every_level_accepts_arbitrary_keyword_fields(self) -> None:
        """Fields of any value type and any name, ``message`` included, are accepted at every level."""
        logger = self.make()
        fields: dict[str, object] = {
            "user": "alice",
            "count": 3,
            "ratio": 0.5,
            "ok": True,
            "nothing": None,
            "items": [1, "two", 3.0],
            "nested": {"a": {"b": [1, 2]}},
            "error": ValueError("boom"),
            "duration": timedelta(seconds=1.5),
            "text": 'spaces, "quotes" and = signs\nand a newline',
            "unicode": "żółw ☃ 日本",
            "message": "a field named like the positional parameter",
            "name": "n",
            "level": "l",
            "extra": "e",
            "exc_info": "not an exception",
            "password": "canary-secret",
            "key-with-dashes": 1,
        }
        for level in (logger.debug, logger.info, logger.warning, logger.error, logger.critical):
            _returns_none(level, "with fields", **fields)

    def test_bind_returns_a_logger_that_logs(self) -> None:
        """``bind`` returns a ``Logger`` that logs, binds again and takes call fields repeating bound ones."""
        logger = self.make()
        bound = logger.bind(request_id="r-1", attempt=1)
        _expect(isinstance(bound, Logger), f"bind returned {type(bound).__name__}, not a Logger")
        bound.info("bound", attempt=2, extra_field="x")
        again = bound.bind(stage="load")
        _expect(isinstance(again, Logger), "bind on a bound logger did not return a Logger")
        again.warning("bound twice")
        _expect(isinstance(logger.bind(), Logger), "bind() without fields did not return a Logger")
        logger.info("the original still works")

    def test_logs_inside_a_trace_context(self) -> None:
        """Logging while ``current_trace`` holds trace and span ids works (implementations may add them)."""
        logger = self.make()
        token = current_trace.set(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        try:
            logger.info("traced", step=1)
            logger.bind(component="contract").error("traced and bound")
        finally:
            current_trace.reset(token)

    def test_is_usable_from_several_threads(self) -> None:
        """Several threads can log through one logger and its bound children at once."""
        logger = self.make()

        def work() -> None:
            child = logger.bind(thread=threading.get_ident())
            for i in range(50):
                child.info("threaded", i=i)

        _run_in_threads(work)


class MetricsRecorderContract(_Contract):
    """What every ``MetricsRecorder`` must do. Subclass as ``class TestMyRecorder(MetricsRecorderContract)``.

    Implement ``make(self) -> MetricsRecorder`` returning a fresh recorder. Every metric name used here is
    a valid Prometheus name and every label a valid Prometheus label, so none of them may raise.
    """

    @abstractmethod
    def make(self) -> MetricsRecorder:
        """Return a fresh recorder to check."""

    def test_implements_the_protocol(self) -> None:
        """The recorder is an instance of the runtime-checkable ``MetricsRecorder`` Protocol."""
        recorder = self.make()
        _expect(isinstance(recorder, MetricsRecorder), f"{type(recorder).__name__} is not a MetricsRecorder")

    def test_counter_takes_a_default_value_and_no_labels(self) -> None:
        """``record_counter(name)`` alone counts one and returns None."""
        recorder = self.make()
        _returns_none(recorder.record_counter, "contract_events_total")

    def test_every_method_accepts_labels_none_empty_or_a_mapping(self) -> None:
        """Counters, gauges, histograms and durations take ``labels`` as None, ``{}`` or a mapping."""
        recorder = self.make()
        label_sets: list[Mapping[str, str] | None] = [
            None,
            {},
            {"method": "GET"},
            {"method": "POST", "status": "500", "path": "/api/v1/items", "region": "eu-west-1"},
        ]
        for labels in label_sets:
            _returns_none(recorder.record_counter, "contract_requests_total", 2.0, labels)
            _returns_none(recorder.record_counter, "contract_requests_total", labels=labels)
            _returns_none(recorder.record_gauge, "contract_queue_depth", 7.0, labels)
            _returns_none(recorder.record_histogram, "contract_payload_bytes", 512.0, labels)
            _returns_none(recorder.record_duration, "contract_request_duration_seconds", 0.25, labels)

    def test_gauges_take_zero_negative_and_fractional_values(self) -> None:
        """A gauge may go to zero, below zero and to fractions."""
        recorder = self.make()
        for value in (0.0, -3.5, 0.001, 1e12):
            recorder.record_gauge("contract_temperature_celsius", value, {"sensor": "a"})

    def test_counters_take_zero_and_integers(self) -> None:
        """A counter increment may be zero or given as an int."""
        recorder = self.make()
        recorder.record_counter("contract_bytes_total", 0)
        recorder.record_counter("contract_bytes_total", 4096, {"direction": "in"})

    def test_durations_take_seconds_and_timedeltas(self) -> None:
        """``record_duration`` accepts float and int seconds and ``timedelta`` values, zero included."""
        recorder = self.make()
        for duration in (0.0, 0.003, 2, timedelta(0), timedelta(milliseconds=250), timedelta(hours=1)):
            _returns_none(
                recorder.record_duration, "contract_job_duration_seconds", duration, {"job": "sync"}
            )

    def test_custom_metrics_of_every_kind(self) -> None:
        """``record_custom`` takes a ``CustomMetric`` of each kind, with and without labels, help and unit."""
        recorder = self.make()
        for kind in MetricKind:
            name = f"contract_custom_{kind.value}"
            _returns_none(recorder.record_custom, CustomMetric(name, 1.0, kind))
            recorder.record_custom(
                CustomMetric(name, 2.5, kind, {"team": "platform"}, help="A custom metric.", unit="seconds")
            )

    def test_label_values_may_be_any_text(self) -> None:
        """Label values with spaces, quotes, newlines and non-ASCII text are accepted."""
        recorder = self.make()
        labels = {"path": '/a b/"c"\\d', "note": "line one\nline two", "city": "Zürich 東京"}
        recorder.record_counter("contract_odd_labels_total", 1.0, labels)
        recorder.record_histogram("contract_odd_labels_seconds", 0.1, labels)

    def test_recording_from_several_threads(self) -> None:
        """Several threads may record the same metrics at once."""
        recorder = self.make()

        def work() -> None:
            for i in range(200):
                recorder.record_counter("contract_threaded_total", 1.0, {"shard": str(i % 4)})
                recorder.record_duration("contract_threaded_seconds", timedelta(microseconds=i))

        _run_in_threads(work)


class HealthCheckerContract(_Contract):
    """What every ``HealthChecker`` must do. Subclass as ``class TestMyChecker(HealthCheckerContract)``.

    Implement ``make(self) -> HealthChecker`` returning a checker that can be called right away.
    """

    @abstractmethod
    def make(self) -> HealthChecker:
        """Return a fresh health checker to check."""

    def test_implements_the_protocol(self) -> None:
        """The checker is an instance of the runtime-checkable ``HealthChecker`` Protocol."""
        checker = self.make()
        _expect(isinstance(checker, HealthChecker), f"{type(checker).__name__} is not a HealthChecker")

    def test_health_check_returns_a_complete_status(self) -> None:
        """``health_check`` returns a ``HealthStatus`` with a state, an aware time and a duration >= 0."""
        status = self.make().health_check()
        _expect(isinstance(status, HealthStatus), f"health_check returned {type(status).__name__}")
        _expect(isinstance(status.state, HealthState), f"state {status.state!r} is not a HealthState")
        _expect(isinstance(status.name, str), "name is not a str")
        _expect(isinstance(status.message, str), "message is not a str")
        _expect(isinstance(status.details, Mapping), "details is not a mapping")
        _expect(status.checked_at.tzinfo is not None, "checked_at is not timezone-aware")
        _expect(status.duration_seconds >= 0, f"negative duration {status.duration_seconds}")

    def test_dependencies_returns_dependency_statuses(self) -> None:
        """``dependencies`` returns a sequence of ``DependencyStatus`` with valid states."""
        dependencies = self.make().dependencies()
        _expect(isinstance(dependencies, Sequence), f"dependencies returned {type(dependencies).__name__}")
        for dependency in dependencies:
            _expect(isinstance(dependency, DependencyStatus), f"{dependency!r} is not a DependencyStatus")
            _expect(
                isinstance(dependency.state, HealthState), f"{dependency.name}: state is not a HealthState"
            )
            _expect(dependency.checked_at.tzinfo is not None, f"{dependency.name}: checked_at is naive")
            _expect(dependency.duration_seconds >= 0, f"{dependency.name}: negative duration")

    def test_status_is_one_of_the_health_state_values(self) -> None:
        """``status`` returns a plain string among ``healthy``, ``degraded``, ``unhealthy``, ``unknown``."""
        status = self.make().status()
        _expect(isinstance(status, str), f"status returned {type(status).__name__}")
        _expect(status in _STATES, f"status {status!r} is not one of {sorted(_STATES)}")

    def test_can_be_checked_repeatedly(self) -> None:
        """Checking several times in a row keeps returning valid results."""
        checker = self.make()
        for _ in range(3):
            _expect(checker.health_check().state in HealthState, "state is not a HealthState")
            _expect(checker.status() in _STATES, "status is not a HealthState value")


class ConfigProviderContract(_Contract, Generic[C]):
    """What every ``ConfigProvider[C]`` must do. Subclass as ``class TestMine(ConfigProviderContract[Cfg])``.

    Implement:

    - ``make(self, tmp_path: Path) -> ConfigProvider[C]``: a new provider whose source is the file
      ``self.config_file(tmp_path)``, i.e. ``tmp_path / self.filename`` (``filename`` is a class attribute,
      ``"config.yaml"`` by default; override it for JSON or TOML). ``make`` is called several times in
      one test with the same ``tmp_path``, sometimes before that file exists, so the provider must not read
      the file when constructed: ``load()`` reads it.
    - ``sample(self) -> C``: a valid configuration that ``validate`` accepts, that ``save`` can write to
      ``config_file(tmp_path)``, and that a new provider's ``load()`` then returns equal to it by ``==``
      (override ``assert_same`` for another comparison).

    Optionally override ``invalid(self) -> C | None`` to return a configuration ``validate`` must reject
    with a ``SharedConfigError``; the default ``None`` skips that test. Watch notifications need a file
    change and waiting, so the contract only checks that ``watch`` returns an unsubscribe function that can
    be called twice.
    """

    filename: ClassVar[str] = "config.yaml"

    @abstractmethod
    def make(self, tmp_path: Path) -> ConfigProvider[C]:
        """Return a new provider that loads ``self.config_file(tmp_path)``, without reading it yet."""

    @abstractmethod
    def sample(self) -> C:
        """Return a valid configuration that survives ``save`` then ``load`` unchanged."""

    def invalid(self) -> C | None:
        """Return a configuration ``validate`` must reject, or ``None`` to skip that check."""
        return None

    def config_file(self, tmp_path: Path) -> Path:
        """The file the providers made by ``make(tmp_path)`` read, and the tests save to."""
        return tmp_path / self.filename

    def assert_same(self, loaded: C, expected: C) -> None:
        """Fail unless ``loaded`` equals ``expected``; override for configs without a useful ``==``."""
        _expect(loaded == expected, f"loaded {loaded!r}, expected {expected!r}")

    def test_implements_the_protocol(self, tmp_path: Path) -> None:
        """The provider is an instance of the runtime-checkable ``ConfigProvider`` Protocol."""
        provider = self.make(tmp_path)
        _expect(isinstance(provider, ConfigProvider), f"{type(provider).__name__} is not a ConfigProvider")

    def test_validate_accepts_the_sample(self, tmp_path: Path) -> None:
        """``validate`` returns None for a valid configuration."""
        _returns_none(self.make(tmp_path).validate, self.sample())

    def test_validate_rejects_an_invalid_config(self, tmp_path: Path) -> None:
        """``validate`` raises a ``SharedConfigError`` for the configuration ``invalid()`` returns."""
        bad = self.invalid()
        if bad is None:
            import pytest  # only needed here; importing this module must not need pytest

            pytest.skip("invalid() returns None: no invalid configuration to check")
        try:
            self.make(tmp_path).validate(bad)
        except SharedConfigError:
            return
        raise AssertionError(f"validate accepted the invalid configuration {bad!r}")

    def test_save_then_load_with_a_new_provider_round_trips(self, tmp_path: Path) -> None:
        """A configuration saved by one provider is loaded equal by a new provider reading the file."""
        path = self.config_file(tmp_path)
        _returns_none(self.make(tmp_path).save, self.sample(), path)
        _expect(path.is_file(), f"save did not create {path}")
        self.assert_same(self.make(tmp_path).load(), self.sample())

    def test_save_accepts_a_str_destination_and_overwrites(self, tmp_path: Path) -> None:
        """``save`` takes a ``str`` path as well as a ``Path``, and replaces an existing file."""
        path = self.config_file(tmp_path)
        provider = self.make(tmp_path)
        provider.save(self.sample(), path)
        provider.save(self.sample(), str(path))
        self.assert_same(self.make(tmp_path).load(), self.sample())

    def test_loaded_config_is_valid(self, tmp_path: Path) -> None:
        """What ``load`` returns passes ``validate``."""
        self.make(tmp_path).save(self.sample(), self.config_file(tmp_path))
        provider = self.make(tmp_path)
        _returns_none(provider.validate, provider.load())

    def test_watch_returns_an_unsubscribe_function(self, tmp_path: Path) -> None:
        """``watch`` returns a callable that unsubscribes, returns None, and may be called twice."""
        self.make(tmp_path).save(self.sample(), self.config_file(tmp_path))
        provider = self.make(tmp_path)
        received: list[C] = []
        unsubscribe = provider.watch(received.append)
        _expect(callable(unsubscribe), f"watch returned {type(unsubscribe).__name__}, not a callable")
        _returns_none(unsubscribe)
        unsubscribe()
