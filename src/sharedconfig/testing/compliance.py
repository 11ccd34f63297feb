"""Contract tests for the ``sharedconfig.interfaces`` Protocols, reusable in any project's test suite.

Subclass one as ``class TestMyThing(LoggerContract)``, implement ``make`` and the read-back hook (what the
implementation kept, so one that drops data fails); pytest runs the checks.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from sharedconfig.errors import SharedConfigError
from sharedconfig.interfaces import (
    CheckResult,
    ConfigProvider,
    CustomMetric,
    HealthChecker,
    HealthState,
    HealthStatus,
    Logger,
    MetricKind,
    MetricsRecorder,
)
from sharedconfig.testing.fakes import LogRecord
from sharedconfig.tracecontext import TraceContext, use

__all__ = [
    "ConfigProviderContract",
    "HealthCheckerContract",
    "LoggerContract",
    "MetricsRecorderContract",
    "run_in_threads",
]

C = TypeVar("C")

_STATES = frozenset(state.value for state in HealthState)
_LEVELS = ("debug", "info", "warning", "error", "critical")


def _expect(condition: bool, message: str) -> None:
    # An explicit raise rather than ``assert``: this module is not assert-rewritten and may run under -O.
    if not condition:
        raise AssertionError(message)


def _returns_none(method: Callable[..., object], /, *args: object, **kwargs: object) -> None:
    """Call ``method`` and fail unless it returns None, as its Protocol declares."""
    result = method(*args, **kwargs)
    _expect(result is None, f"{getattr(method, '__name__', method)!r} returned {result!r}, not None")


def _close(actual: float, expected: float) -> bool:
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


def run_in_threads(work: Callable[[], None], threads: int = 4) -> None:
    """Run ``work`` in ``threads`` threads that start together (a barrier, for contention); re-raise the
    first exception any of them raised in the caller's thread."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def guarded() -> None:
        barrier.wait()
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

    Implement:

    - ``make(self) -> Logger``: a fresh logger that keeps every level, debug included. Each test calls it
      once.
    - ``records(self, logger) -> Sequence[LogRecord]``: what ``logger`` (the one ``make`` returned) and
      the loggers bound from it have written so far, oldest first, read back from where the
      implementation writes (a handler, a stream, a list). ``level`` is the method's name (``"warning"``);
      ``message`` starts with the message logged (an implementation may render fields after it);
      ``fields`` holds the bound and call fields as the implementation keeps them (values may come back
      as JSON would hold them; a secret-looking field may come back redacted).
    """

    @abstractmethod
    def make(self) -> Logger:
        """Return a fresh logger to check, enabled for every level."""

    @abstractmethod
    def records(self, logger: Logger) -> Sequence[LogRecord]:
        """Return what ``logger`` and the loggers bound from it have written, oldest first."""

    def _read(self, logger: Logger, count: int) -> Sequence[LogRecord]:
        records = self.records(logger)
        _expect(
            len(records) == count, f"expected {count} records read back, found {len(records)}: {records!r}"
        )
        return records

    def test_implements_the_protocol(self) -> None:
        """The logger is an instance of the runtime-checkable ``Logger`` Protocol."""
        logger = self.make()
        _expect(isinstance(logger, Logger), f"{type(logger).__name__} does not implement Logger")

    def test_every_level_writes_its_message(self) -> None:
        """debug, info, warning, error and critical take just a message, return None and are read back."""
        logger = self.make()
        for level in (logger.debug, logger.info, logger.warning, logger.error, logger.critical):
            _returns_none(level, f"contract message {level.__name__}")
        records = self._read(logger, len(_LEVELS))
        for record, level_name in zip(records, _LEVELS, strict=True):
            _expect(record.level == level_name, f"a {level_name} call was read back as {record.level!r}")
            expected = f"contract message {level_name}"
            _expect(record.message.startswith(expected), f"{record.message!r} is not {expected!r}")

    def test_every_level_accepts_arbitrary_keyword_fields(self) -> None:
        """Fields of any value type and any name, ``message`` included, are accepted and plain ones kept."""
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
        kept = {"user": "alice", "count": 3, "ok": True, "unicode": "żółw ☃ 日本", "text": fields["text"]}
        for record in self._read(logger, len(_LEVELS)):
            for key, value in kept.items():
                _expect(
                    record.fields.get(key) == value, f"field {key}={value!r} read back as {record.fields}"
                )

    def test_bind_returns_a_logger_that_logs(self) -> None:
        """``bind`` adds fields to every record of the new logger only; a call's fields override them."""
        logger = self.make()
        bound = logger.bind(request_id="r-1", attempt=1)
        _expect(isinstance(bound, Logger), f"bind returned {type(bound).__name__}, not a Logger")
        bound.info("bound", attempt=2, extra_field="x")
        again = bound.bind(stage="load")
        _expect(isinstance(again, Logger), "bind on a bound logger did not return a Logger")
        again.warning("bound twice")
        _expect(isinstance(logger.bind(), Logger), "bind() without fields did not return a Logger")
        logger.info("the original still works")
        first, second, third = self._read(logger, 3)
        _expect(
            (first.fields.get("request_id"), first.fields.get("attempt"), first.fields.get("extra_field"))
            == ("r-1", 2, "x"),
            f"bound and call fields were not both kept (the call's winning): {first.fields}",
        )
        _expect(
            (second.fields.get("request_id"), second.fields.get("stage")) == ("r-1", "load"),
            f"fields bound twice were not both kept: {second.fields}",
        )
        _expect("request_id" not in third.fields, f"bind changed the original logger: {third.fields}")

    def test_logs_inside_a_trace_context(self) -> None:
        """Logging inside a trace context works (implementations may add its ids to the record)."""
        logger = self.make()
        with use(TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")):
            logger.info("traced", step=1)
            logger.bind(component="contract").error("traced and bound")
        traced, bound = self._read(logger, 2)
        _expect(traced.fields.get("step") == 1, f"field step=1 read back as {traced.fields}")
        _expect(bound.fields.get("component") == "contract", f"bound field lost: {bound.fields}")

    def test_is_usable_from_several_threads(self) -> None:
        """Several threads can log through one logger and its bound children at once; no record is lost."""
        logger = self.make()

        def work() -> None:
            child = logger.bind(thread=threading.current_thread().name)  # unique, unlike a reused ident
            for i in range(50):
                child.info("threaded", i=i)

        run_in_threads(work)
        records = self._read(logger, 4 * 50)
        _expect(
            len({r.fields.get("thread") for r in records}) == 4, "records lost their thread's bound field"
        )


class MetricsRecorderContract(_Contract):
    """What every ``MetricsRecorder`` must do. Subclass as ``class TestMyRecorder(MetricsRecorderContract)``.

    Implement:

    - ``make(self) -> MetricsRecorder``: a fresh recorder.
    - ``recorded_total(self, recorder, kind, name, labels) -> float``: read back, from what the recorder
      kept, the series ``name`` with exactly ``labels`` (``None`` and ``{}`` are the same, unlabelled
      series): for a counter its total, for a gauge its current value, for a histogram the sum of its
      observations (durations in seconds); 0.0 when nothing was kept. For a registry, read its samples
      (``name_total``, ``name``, ``name_sum``).

    Every metric name used here is a valid Prometheus name and every label a valid Prometheus label, so
    none of them may raise or be dropped.
    """

    @abstractmethod
    def make(self) -> MetricsRecorder:
        """Return a fresh recorder to check."""

    @abstractmethod
    def recorded_total(
        self, recorder: MetricsRecorder, kind: MetricKind, name: str, labels: Mapping[str, str]
    ) -> float:
        """Counter total, gauge value or histogram sum of the series ``name{labels}``; 0.0 if none."""

    def _expect_total(
        self,
        recorder: MetricsRecorder,
        kind: MetricKind,
        name: str,
        labels: Mapping[str, str] | None,
        expected: float,
    ) -> None:
        actual = self.recorded_total(recorder, kind, name, labels or {})
        _expect(
            _close(actual, expected),
            f"{kind.value} {name}{dict(labels or {})} read back as {actual!r}, expected {expected!r}",
        )

    def test_implements_the_protocol(self) -> None:
        """The recorder is an instance of the runtime-checkable ``MetricsRecorder`` Protocol."""
        recorder = self.make()
        _expect(isinstance(recorder, MetricsRecorder), f"{type(recorder).__name__} is not a MetricsRecorder")

    def test_counter_takes_a_default_value_and_no_labels(self) -> None:
        """``record_counter(name)`` alone returns None and counts one."""
        recorder = self.make()
        _returns_none(recorder.record_counter, "contract_events_total")
        self._expect_total(recorder, MetricKind.COUNTER, "contract_events_total", None, 1.0)

    def test_every_method_accepts_labels_none_empty_or_a_mapping(self) -> None:
        """Every method takes ``labels`` as None, ``{}`` or a mapping; each label set is its own series."""
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
        for labels in label_sets[1:]:
            shared = 2 if not labels else 1  # None and {} are one series
            self._expect_total(recorder, MetricKind.COUNTER, "contract_requests_total", labels, 3.0 * shared)
            self._expect_total(recorder, MetricKind.GAUGE, "contract_queue_depth", labels, 7.0)
            self._expect_total(
                recorder, MetricKind.HISTOGRAM, "contract_payload_bytes", labels, 512.0 * shared
            )
            self._expect_total(
                recorder, MetricKind.HISTOGRAM, "contract_request_duration_seconds", labels, 0.25 * shared
            )

    def test_gauges_take_zero_negative_and_fractional_values(self) -> None:
        """A gauge may go to zero, below zero and to fractions; it reads back as the last value set."""
        recorder = self.make()
        for value in (0.0, -3.5, 0.001, 1e12, -2.25):
            recorder.record_gauge("contract_temperature_celsius", value, {"sensor": "a"})
            self._expect_total(
                recorder, MetricKind.GAUGE, "contract_temperature_celsius", {"sensor": "a"}, value
            )

    def test_counters_take_zero_and_integers(self) -> None:
        """A counter increment may be zero or given as an int."""
        recorder = self.make()
        recorder.record_counter("contract_bytes_total", 0)
        recorder.record_counter("contract_bytes_total", 4096, {"direction": "in"})
        recorder.record_counter("contract_bytes_total", 1, {"direction": "in"})
        self._expect_total(recorder, MetricKind.COUNTER, "contract_bytes_total", None, 0.0)
        self._expect_total(recorder, MetricKind.COUNTER, "contract_bytes_total", {"direction": "in"}, 4097.0)

    def test_durations_take_seconds_and_timedeltas(self) -> None:
        """``record_duration`` accepts float and int seconds and ``timedelta`` values, kept as seconds."""
        recorder = self.make()
        durations = (0.0, 0.003, 2, timedelta(0), timedelta(milliseconds=250), timedelta(hours=1))
        for duration in durations:
            _returns_none(
                recorder.record_duration, "contract_job_duration_seconds", duration, {"job": "sync"}
            )
        self._expect_total(
            recorder, MetricKind.HISTOGRAM, "contract_job_duration_seconds", {"job": "sync"}, 3602.253
        )

    def test_custom_metrics_of_every_kind(self) -> None:
        """``record_custom`` takes a ``CustomMetric`` of each kind, with and without labels, help and unit."""
        recorder = self.make()
        for number, kind in enumerate(MetricKind):
            name = f"contract_custom_{number}"  # a type name in a metric name is refused (promtool lints it)
            _returns_none(recorder.record_custom, CustomMetric(name, 1.0, kind))
            recorder.record_custom(
                CustomMetric(name, 2.5, kind, {"team": "platform"}, help="A custom metric.", unit="seconds")
            )
            self._expect_total(recorder, kind, name, None, 1.0)
            self._expect_total(recorder, kind, name, {"team": "platform"}, 2.5)

    def test_label_values_may_be_any_text(self) -> None:
        """Label values with spaces, quotes, newlines and non-ASCII text are accepted and kept exactly."""
        recorder = self.make()
        labels = {"path": '/a b/"c"\\d', "note": "line one\nline two", "city": "Zürich 東京"}
        recorder.record_counter("contract_odd_labels_total", 1.0, labels)
        recorder.record_histogram("contract_odd_labels_seconds", 0.1, labels)
        self._expect_total(recorder, MetricKind.COUNTER, "contract_odd_labels_total", labels, 1.0)
        self._expect_total(recorder, MetricKind.HISTOGRAM, "contract_odd_labels_seconds", labels, 0.1)

    def test_recording_from_several_threads(self) -> None:
        """Several threads may record the same metrics at once, and no observation is lost."""
        recorder = self.make()

        def work() -> None:
            for i in range(200):
                recorder.record_counter("contract_threaded_total", 1.0, {"shard": str(i % 4)})
                recorder.record_duration("contract_threaded_seconds", timedelta(microseconds=i))

        run_in_threads(work)
        for shard in range(4):
            labels = {"shard": str(shard)}
            self._expect_total(recorder, MetricKind.COUNTER, "contract_threaded_total", labels, 4 * 50.0)
        micros = sum(timedelta(microseconds=i).total_seconds() for i in range(200))
        self._expect_total(recorder, MetricKind.HISTOGRAM, "contract_threaded_seconds", None, 4 * micros)


_DEPENDENCIES: Mapping[str, CheckResult] = {
    "database": CheckResult(HealthState.HEALTHY, "connected"),
    "broker": CheckResult(HealthState.DEGRADED, "one replica behind", {"lag": 7}),
    "partner_api": CheckResult(HealthState.UNHEALTHY, "GET /ping returned 500", {"status": 500}),
}


class HealthCheckerContract(_Contract):
    """What every ``HealthChecker`` must do. Subclass as ``class TestMyChecker(HealthCheckerContract)``.

    Implement ``make_with(self, dependencies) -> HealthChecker``: a checker, ready to be asked, whose
    dependencies are exactly ``dependencies`` (name to the ``CheckResult`` each one finds), having run
    them if it runs checks. The contract reads them back through ``dependencies()``, so a checker that
    drops or changes one fails. ``make()`` defaults to ``make_with`` of three dependencies (healthy,
    degraded, unhealthy).
    """

    @abstractmethod
    def make_with(self, dependencies: Mapping[str, CheckResult]) -> HealthChecker:
        """Return a checker whose dependencies find exactly these results, by name."""

    def make(self) -> HealthChecker:
        """Return a checker with a healthy, a degraded and an unhealthy dependency."""
        return self.make_with(_DEPENDENCIES)

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
        _expect(status.checked_at is not None, "the overall status has no checked_at")
        _expect(status.checked_at is None or status.checked_at.tzinfo is not None, "checked_at is naive")
        _expect(status.duration_seconds >= 0, f"negative duration {status.duration_seconds}")

    def test_dependencies_returns_health_statuses(self) -> None:
        """``dependencies`` returns a sequence of ``HealthStatus``; one not checked yet is unknown."""
        dependencies = self.make().dependencies()
        _expect(isinstance(dependencies, Sequence), f"dependencies returned {type(dependencies).__name__}")
        for dependency in dependencies:
            _expect(isinstance(dependency, HealthStatus), f"{dependency!r} is not a HealthStatus")
            _expect(
                isinstance(dependency.state, HealthState), f"{dependency.name}: state is not a HealthState"
            )
            checked_at = dependency.checked_at
            if checked_at is None:
                _expect(
                    dependency.state is HealthState.UNKNOWN, f"{dependency.name}: never checked, yet known"
                )
            else:
                _expect(checked_at.tzinfo is not None, f"{dependency.name}: checked_at is naive")
            _expect(dependency.duration_seconds >= 0, f"{dependency.name}: negative duration")

    def test_dependencies_read_back_what_they_found(self) -> None:
        """Each dependency is reported under its name with the state, message and details it found."""
        checker = self.make_with(_DEPENDENCIES)
        found = {d.name: d for d in checker.dependencies()}
        _expect(
            set(found) == set(_DEPENDENCIES),
            f"dependencies {sorted(found)}, expected {sorted(_DEPENDENCIES)}",
        )
        for name, expected in _DEPENDENCIES.items():
            got = found[name]
            _expect(
                (got.state, got.message, dict(got.details))
                == (expected.state, expected.message, dict(expected.details)),
                f"{name} read back as {got.state.value} {got.message!r} {dict(got.details)}",
            )

    def test_dependencies_keep_a_stable_order(self) -> None:
        """Asking twice lists the dependencies in the same order."""
        checker = self.make()
        first = [d.name for d in checker.dependencies()]
        _expect(first == [d.name for d in checker.dependencies()], "dependencies changed order")

    def test_no_dependencies_is_an_empty_sequence(self) -> None:
        """A checker without dependencies lists none and still reports an overall status."""
        checker = self.make_with({})
        _expect(len(checker.dependencies()) == 0, f"unexpected dependencies {checker.dependencies()!r}")
        _expect(checker.status() in _STATES, "status is not a HealthState value")

    def test_status_is_the_overall_states_value(self) -> None:
        """``status`` returns a plain string, the value of ``health_check().state``."""
        checker = self.make()
        status = checker.status()
        _expect(isinstance(status, str), f"status returned {type(status).__name__}")
        _expect(status in _STATES, f"status {status!r} is not one of {sorted(_STATES)}")
        _expect(status == checker.health_check().state.value, "status() disagrees with health_check()")

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
    - ``variant(self) -> C``: a second valid configuration, different from ``sample()``; the contract
      saves one then the other and reads each back, so a provider that ignores what it is given fails.
    - ``notice_change(self, provider) -> None``: make ``provider`` notice now that its file was rewritten
      and notify its ``watch`` subscribers before returning (a polling provider polls once). The watch
      test calls it instead of waiting, so it never sleeps.

    Optionally override ``invalid(self) -> C | None`` to return a configuration ``validate`` must reject
    with a ``SharedConfigError``; the default ``None`` skips that test.
    """

    filename: ClassVar[str] = "config.yaml"

    @abstractmethod
    def make(self, tmp_path: Path) -> ConfigProvider[C]:
        """Return a new provider that loads ``self.config_file(tmp_path)``, without reading it yet."""

    @abstractmethod
    def sample(self) -> C:
        """Return a valid configuration that survives ``save`` then ``load`` unchanged."""

    @abstractmethod
    def variant(self) -> C:
        """Return another valid configuration, different from ``sample()``."""

    @abstractmethod
    def notice_change(self, provider: ConfigProvider[C]) -> None:
        """Make ``provider`` see now that its file changed, notifying its subscribers before returning."""

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

    def test_load_reads_back_what_was_saved_last(self, tmp_path: Path) -> None:
        """Saving ``variant()`` over ``sample()`` makes a new provider load the variant, not the sample."""
        try:
            self.assert_same(self.variant(), self.sample())
        except AssertionError:
            pass
        else:
            raise AssertionError("variant() must differ from sample() for this check to mean anything")
        path = self.config_file(tmp_path)
        self.make(tmp_path).save(self.sample(), path)
        self.make(tmp_path).save(self.variant(), path)
        self.assert_same(self.make(tmp_path).load(), self.variant())

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

    def test_watch_delivers_a_changed_file_until_unsubscribed(self, tmp_path: Path) -> None:
        """A subscriber receives the configuration a changed file holds, and nothing after unsubscribing."""
        path = self.config_file(tmp_path)
        self.make(tmp_path).save(self.sample(), path)
        provider = self.make(tmp_path)
        provider.load()
        received: list[C] = []
        unsubscribe = provider.watch(received.append)
        try:
            provider.save(self.variant(), path)
            self.notice_change(provider)
            _expect(len(received) == 1, f"the subscriber received {len(received)} configurations, not 1")
            self.assert_same(received[0], self.variant())
        finally:
            unsubscribe()
        provider.save(self.sample(), path)
        self.notice_change(provider)
        _expect(len(received) == 1, "the subscriber was called after unsubscribing")
