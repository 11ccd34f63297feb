"""Tests for sharedconfig.testing.fakes: the recorder, logger, health checker and clock doubles.

The recorder's thread-safety test runs 8 threads of 10,000 increments and counts every one.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from sharedconfig.interfaces import CheckResult, CustomMetric, HealthState, HealthStatus, MetricKind
from sharedconfig.testing import (
    FakeClock,
    InMemoryMetricsRecorder,
    LogRecord,
    NullMetricsRecorder,
    RecordedMetric,
    RecordingLogger,
    StaticHealthChecker,
)


class TestInMemoryMetricsRecorder:
    """InMemoryMetricsRecorder keeps every observation with its kind, value and labels."""

    def test_records_each_kind(self) -> None:
        """Counters, gauges, histograms, durations and custom metrics are kept under their kinds."""
        recorder = InMemoryMetricsRecorder()
        recorder.record_counter("jobs_total")
        recorder.record_counter("jobs_total", 2, {"queue": "a"})
        recorder.record_gauge("depth", 5.0)
        recorder.record_histogram("size_bytes", 100.0, {"kind": "x"})
        recorder.record_duration("job_seconds", timedelta(milliseconds=250))
        recorder.record_duration("job_seconds", 1.5)
        recorder.record_custom(CustomMetric("custom", 9.0, MetricKind.GAUGE, {"l": "v"}, help="h", unit="u"))
        assert recorder.get_metrics("jobs_total") == [
            RecordedMetric("jobs_total", MetricKind.COUNTER, 1.0, {}),
            RecordedMetric("jobs_total", MetricKind.COUNTER, 2.0, {"queue": "a"}),
        ]
        assert recorder.get_metrics("depth") == [RecordedMetric("depth", MetricKind.GAUGE, 5.0)]
        assert recorder.get_metrics("size_bytes")[0].kind is MetricKind.HISTOGRAM
        assert [m.value for m in recorder.get_metrics("job_seconds")] == [0.25, 1.5]
        assert recorder.get_metrics("job_seconds")[0].kind is MetricKind.HISTOGRAM
        assert recorder.get_metrics("custom") == [RecordedMetric("custom", MetricKind.GAUGE, 9.0, {"l": "v"})]
        assert recorder.names() == ["custom", "depth", "job_seconds", "jobs_total", "size_bytes"]

    def test_unknown_name_gives_an_empty_list(self) -> None:
        """get_metrics for a name never recorded returns an empty list."""
        assert InMemoryMetricsRecorder().get_metrics("nothing") == []

    def test_get_metrics_returns_a_copy(self) -> None:
        """Changing the returned list does not change what the recorder holds."""
        recorder = InMemoryMetricsRecorder()
        recorder.record_counter("c")
        recorder.get_metrics("c").clear()
        assert len(recorder.get_metrics("c")) == 1

    def test_labels_are_copied(self) -> None:
        """Changing the caller's label dict after recording does not change the kept observation."""
        recorder = InMemoryMetricsRecorder()
        labels = {"a": "1"}
        recorder.record_gauge("g", 1.0, labels)
        labels["a"] = "2"
        assert recorder.get_metrics("g")[0].labels == {"a": "1"}

    def test_total_sums_matching_labels(self) -> None:
        """total adds every value of a name, or only those with exactly the given labels."""
        recorder = InMemoryMetricsRecorder()
        recorder.record_counter("c", 1, {"k": "a"})
        recorder.record_counter("c", 2, {"k": "b"})
        recorder.record_counter("c", 4, {"k": "a"})
        assert recorder.total("c") == 7
        assert recorder.total("c", {"k": "a"}) == 5
        assert recorder.total("c", {}) == 0
        assert recorder.total("missing") == 0

    def test_clear_forgets_everything(self) -> None:
        """clear empties the recorder."""
        recorder = InMemoryMetricsRecorder()
        recorder.record_counter("c")
        recorder.clear()
        assert (recorder.names(), recorder.get_metrics("c")) == ([], [])

    def test_eight_threads_of_ten_thousand_increments_lose_nothing(self) -> None:
        """8 threads x 10,000 concurrent increments are all kept, per thread and in total."""
        recorder = InMemoryMetricsRecorder()
        start = threading.Barrier(8)

        def work(index: int) -> None:
            start.wait()
            for _ in range(10_000):
                recorder.record_counter("hits_total", 1.0, {"thread": str(index)})

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(recorder.get_metrics("hits_total")) == 80_000
        assert recorder.total("hits_total") == 80_000
        assert all(recorder.total("hits_total", {"thread": str(i)}) == 10_000 for i in range(8))


def test_null_metrics_recorder_keeps_nothing() -> None:
    """NullMetricsRecorder accepts every call and keeps no state at all."""
    recorder = NullMetricsRecorder()
    recorder.record_counter("c", 1.0, {"a": "b"})
    recorder.record_duration("d", timedelta(seconds=1))
    assert not hasattr(recorder, "__dict__")


class TestRecordingLogger:
    """RecordingLogger keeps level, message and fields of every call."""

    def test_records_each_level(self) -> None:
        """Each level method appends one record with its level name."""
        logger = RecordingLogger()
        logger.debug("d")
        logger.info("i", a=1)
        logger.warning("w")
        logger.error("e")
        logger.critical("c")
        assert [r.level for r in logger.records] == ["debug", "info", "warning", "error", "critical"]
        assert logger.records[1] == LogRecord("info", "i", {"a": 1})
        assert logger.messages() == ["d", "i", "w", "e", "c"]
        assert logger.messages("error") == ["e"]

    def test_bind_shares_records_and_merges_fields(self) -> None:
        """A bound logger appends to the parent's records, with bound fields overridable per call."""
        root = RecordingLogger(service="api")
        child = root.bind(request_id="r1")
        child.info("handled", status=200)
        child.info("override", service="worker")
        root.info("root")
        assert root.records is child.records
        assert [r.fields for r in root.records] == [
            {"service": "api", "request_id": "r1", "status": 200},
            {"service": "worker", "request_id": "r1"},
            {"service": "api"},
        ]
        assert root.fields == {"service": "api"}

    def test_message_is_positional_so_fields_may_use_its_name(self) -> None:
        """A field called message does not clash with the message argument."""
        logger = RecordingLogger()
        logger.info("text", message="field")
        assert logger.records == [LogRecord("info", "text", {"message": "field"})]

    def test_records_can_be_injected(self) -> None:
        """A caller-supplied list receives the records."""
        records: list[LogRecord] = []
        RecordingLogger(records).warning("x")
        assert records == [LogRecord("warning", "x", {})]


class TestStaticHealthChecker:
    """StaticHealthChecker reports what it was given, stamped with the injected clock."""

    def test_reports_its_state_and_dependencies(self) -> None:
        """health_check, status and dependencies reflect the constructor arguments."""
        clock = FakeClock()
        dependency = HealthStatus("db", CheckResult(HealthState.HEALTHY, checked_at=clock.wall()))
        checker = StaticHealthChecker(
            HealthState.DEGRADED, [dependency], name="api", message="slow", now=clock.wall
        )
        status = checker.health_check()
        assert status == HealthStatus(
            "api", CheckResult(HealthState.DEGRADED, "slow", checked_at=clock.wall())
        )
        assert checker.status() == "degraded"
        assert checker.dependencies() == (dependency,)

    def test_set_changes_the_state(self) -> None:
        """set makes later checks report the new state and message."""
        clock = FakeClock()
        checker = StaticHealthChecker(HealthState.HEALTHY, now=clock.wall)
        clock.advance(5)
        checker.set(HealthState.UNHEALTHY, "db down")
        status = checker.health_check()
        assert (status.state, status.message, checker.status()) == (
            HealthState.UNHEALTHY,
            "db down",
            "unhealthy",
        )
        assert status.checked_at == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)

    def test_state_may_be_given_as_its_string(self) -> None:
        """A state string is converted to the HealthState enum."""
        checker = StaticHealthChecker("healthy")
        assert checker.health_check().state is HealthState.HEALTHY


class TestFakeClock:
    """FakeClock moves only when told to."""

    def test_starts_where_told(self) -> None:
        """now starts at start and wall at epoch."""
        epoch = datetime(2030, 6, 1, 12, tzinfo=UTC)
        clock = FakeClock(100.0, epoch)
        assert (clock.now(), clock.wall()) == (100.0, epoch)

    def test_default_start(self) -> None:
        """By default now is 0.0 and wall is 2026-01-01T00:00Z."""
        clock = FakeClock()
        assert (clock.now(), clock.wall()) == (0.0, datetime(2026, 1, 1, tzinfo=UTC))

    def test_time_never_goes_backwards(self) -> None:
        """advance with a negative value is refused."""
        with pytest.raises(ValueError, match="backwards"):
            FakeClock().advance(-1)

    def test_naive_epoch_is_refused(self) -> None:
        """A naive epoch is refused, since wall() promises aware datetimes."""
        with pytest.raises(ValueError, match="timezone-aware"):
            FakeClock(epoch=datetime(2026, 1, 1))  # the naive value is the point

    def test_concurrent_advances_all_count(self) -> None:
        """Advances from several threads are all applied."""
        clock = FakeClock()

        def work() -> None:
            for _ in range(1_000):
                clock.advance(1)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert clock.now() == 4_000
