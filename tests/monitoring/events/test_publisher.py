"""EventPublisher: processors, sampling, schemas, counting every event left out, the drop announcement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sharedconfig.errors import SharedConfigError
from sharedconfig.monitoring.events import deadletter
from sharedconfig.monitoring.events.buffer import EventBuffer, OverflowPolicy
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.event import Category, Event, Severity
from sharedconfig.monitoring.events.publisher import DROPS_EVENT, EventPublisher, drop, enrich, keep
from sharedconfig.monitoring.events.schema import EventSchemas, SchemaViolation
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

SOURCE = "/test/host"


def event(type: str = "order.created", **kwargs: object) -> Event:
    kwargs.setdefault("data", {"n": 1})
    return Event(type, SOURCE, **kwargs)  # type: ignore[arg-type]


def taken(buffer: EventBuffer[Event]) -> list[Event]:
    return list(buffer.take(10_000).items)


class Rng:
    """Returns the given values in turn: what ``random.random`` would have drawn."""

    def __init__(self, *values: float) -> None:
        self.values: Iterator[float] = iter(values)

    def __call__(self) -> float:
        return next(self.values)


def make(
    capacity: int = 100,
    policy: OverflowPolicy = OverflowPolicy.DROP_NEWEST,
    **kwargs: object,
) -> tuple[EventPublisher, EventBuffer[Event], InMemoryMetricsRecorder]:
    metrics = InMemoryMetricsRecorder()
    publisher = EventPublisher(source=SOURCE, metrics=metrics, **kwargs)  # type: ignore[arg-type]
    buffer: EventBuffer[Event] = EventBuffer(capacity, policy=policy, on_drop=publisher.on_drop)
    publisher.attach(buffer)
    return publisher, buffer, metrics


def dropped(metrics: InMemoryMetricsRecorder) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metrics.get_metrics("events_dropped_total"):
        reason = m.labels["reason"]
        out[reason] = out.get(reason, 0.0) + m.value
    return out


class TestDisabled:
    def test_without_a_buffer_nothing_is_kept_nor_counted(self) -> None:
        metrics = InMemoryMetricsRecorder()
        publisher = EventPublisher(source=SOURCE, metrics=metrics)
        assert not publisher.enabled
        assert publisher.publish(event()) is False
        assert publisher.emit("x.y") is None
        assert metrics.names() == []


class TestPublish:
    def test_accepted_events_are_counted_by_type_and_buffered_in_order(self) -> None:
        publisher, buffer, metrics = make()
        events = [event("a"), event("b"), event("a")]
        assert all(publisher.publish(e) for e in events)
        assert taken(buffer) == events
        assert metrics.total("events_published_total", {"type": "a"}) == 2
        assert metrics.total("events_published_total", {"type": "b"}) == 1

    def test_a_registry_counts_by_type_past_its_cardinality_limit_too(self) -> None:
        """With a MetricsRegistry (the declared counter's cached children), every accepted event is counted
        under its type, and types past the cardinality limit in the overflow series."""
        registry = MetricsRegistry(cardinality_limit=2)
        publisher = EventPublisher(source=SOURCE, metrics=registry)
        publisher.attach(EventBuffer(100, policy=OverflowPolicy.DROP_NEWEST))
        for type in ("a", "b", "a", "c", "d", "a"):
            assert publisher.publish(event(type))
        assert registry.sample_value("events_published_total", {"type": "a"}) == 3
        assert registry.sample_value("events_published_total", {"type": "b"}) == 1
        assert registry.sample_value("events_published_total", {"overflow": "true"}) == 2

    def test_a_registry_declaring_the_counter_otherwise_still_counts_through_record_counter(self) -> None:
        """When the application declared events_published_total with other labels, publish still accepts
        events and counts them the way any recorder does (record_counter)."""
        registry = MetricsRegistry()
        registry.counter("events_published_total", "mine", ("kind",))
        publisher = EventPublisher(source=SOURCE, metrics=registry)
        publisher.attach(EventBuffer(100, policy=OverflowPolicy.DROP_NEWEST))
        assert publisher.publish(event("a"))
        assert registry.sample_value("metrics_dropped_total", {"reason": "label_mismatch"}) == 1

    def test_emit_builds_the_event_from_the_services_source(self) -> None:
        publisher, buffer, _ = make()
        made = publisher.emit(
            "order.paid",
            "order/7",
            {"total": 3},
            severity="high",
            category="business",
            extensions={"tenant": "a"},
        )
        assert made is not None
        (got,) = taken(buffer)
        assert got is made
        assert (got.source, got.subject, got.data) == (SOURCE, "order/7", {"total": 3})
        assert (got.severity, got.category, dict(got.extensions)) == (
            Severity.HIGH,
            Category.BUSINESS,
            {"tenant": "a"},
        )

    def test_emit_with_a_bad_attribute_raises_a_coded_error(self) -> None:
        publisher, _, _ = make()
        with pytest.raises(SharedConfigError) as info:
            publisher.emit("order.paid", severity="urgent")
        assert info.value.code.startswith("VALIDATION_05")

    def test_a_full_buffer_under_drop_newest_returns_false_and_counts(self) -> None:
        publisher, buffer, metrics = make(capacity=2)
        results = [publisher.publish(event(id=f"id-{i}")) for i in range(5)]
        assert results == [True, True, False, False, False]
        assert dropped(metrics) == {"drop_newest": 3}
        assert metrics.total("events_published_total") == 2
        assert [e.id for e in taken(buffer)] == ["id-0", "id-1"]


class TestProcessors:
    def test_processors_run_in_order_and_may_replace_the_event(self) -> None:
        publisher, buffer, _ = make()
        publisher.add_processor(enrich(region="eu", tenant="default"))
        publisher.add_processor(lambda e: e if e.subject != "secret" else None)
        publisher.publish(event(subject="a", extensions={"tenant": "t1"}))
        publisher.publish(event(subject="secret"))
        (got,) = taken(buffer)
        assert dict(got.extensions) == {"region": "eu", "tenant": "t1"}  # the event's own value wins

    def test_a_dropping_processor_counts_filtered(self) -> None:
        publisher, buffer, metrics = make()
        publisher.add_processor(keep(types=["order.*"], min_severity="medium"))
        publisher.publish(event("order.created", severity="high"))
        publisher.publish(event("order.created", severity="info"))
        publisher.publish(event("user.created", severity="critical"))
        assert [e.type for e in taken(buffer)] == ["order.created"]
        assert dropped(metrics) == {"filtered": 2}

    def test_a_raising_processor_drops_the_event_and_is_logged_once(self) -> None:
        logger = RecordingLogger()
        publisher, buffer, metrics = make(logger=logger)

        def broken(e: Event) -> Event:
            raise RuntimeError("boom")

        publisher.add_processor(broken)
        assert publisher.publish(event()) is False
        assert publisher.publish(event()) is False
        assert taken(buffer) == []
        assert dropped(metrics) == {"processor_error": 2}
        errors = [r for r in logger.records if r.level == "error"]
        assert len(errors) == 1
        assert "broken" in str(errors[0].fields["processor"])
        publisher.remove_processor(broken)
        assert publisher.publish(event()) is True

    @pytest.mark.parametrize(
        ("processor", "kept"),
        [
            (keep(), ["a", "b", "c", "d"]),
            (keep(categories=["audit"]), ["c"]),
            (keep(subjects=["user/*"]), ["b"]),
            (drop(types=["a"]), ["b", "c", "d"]),
            (drop(max_severity="low"), ["b", "d"]),
            (drop(categories=["audit", "error"]), ["a", "b"]),
            (drop(subjects=["order/*"]), ["b", "c", "d"]),
        ],
    )
    def test_filters(self, processor: object, kept: list[str]) -> None:
        publisher, buffer, _ = make()
        publisher.add_processor(processor)  # type: ignore[arg-type]
        publisher.publish(event("a", subject="order/1", severity="info"))
        publisher.publish(event("b", subject="user/1", severity="high"))
        publisher.publish(event("c", category="audit", severity="low"))
        publisher.publish(event("d", category="error", severity="critical"))
        assert [e.type for e in taken(buffer)] == kept


class TestSampling:
    def test_kept_events_say_one_in_how_many_and_the_others_are_counted(self) -> None:
        publisher, buffer, metrics = make(sample_rate=0.25, rng=Rng(0.1, 0.3, 0.24, 0.9))
        for _ in range(4):
            publisher.publish(event())
        got = taken(buffer)
        assert [e.sampledrate for e in got] == [4, 4]
        assert dropped(metrics) == {"sampled": 2}

    def test_high_severity_and_error_security_audit_events_are_never_sampled(self) -> None:
        publisher, buffer, metrics = make(sample_rate=0.0001, rng=Rng())  # no draw may happen
        publisher.publish(event(severity="high"))
        publisher.publish(event(severity="critical"))
        for category in ("error", "security", "audit"):
            publisher.publish(event(category=category))
        got = taken(buffer)
        assert len(got) == 5
        assert all(e.sampledrate is None for e in got)
        assert dropped(metrics) == {}

    def test_rate_zero_keeps_only_what_is_never_sampled(self) -> None:
        publisher, buffer, metrics = make(sample_rate=0.0)
        publisher.publish(event())
        publisher.publish(event(category="audit"))
        assert [e.category for e in taken(buffer)] == [Category.AUDIT]
        assert dropped(metrics) == {"sampled": 1}

    def test_rate_one_draws_nothing_and_stamps_nothing(self) -> None:
        publisher, buffer, _ = make(sample_rate=1.0, rng=Rng())
        publisher.publish(event())
        assert taken(buffer)[0].sampledrate is None


SCHEMA = {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}


class TestSchemas:
    def test_raise_mode_rejects_with_the_coded_error(self) -> None:
        publisher, buffer, _ = make()
        publisher.attach(buffer, schemas=EventSchemas({"order.created": SCHEMA}))
        with pytest.raises(SchemaViolation) as info:
            publisher.publish(event())
        assert info.value.code == "VALIDATION_051"
        assert publisher.publish(Event("order.created", SOURCE, {"total": 3}))
        assert publisher.publish(event("other.type"))  # types without a schema pass

    def test_dead_letter_mode_counts_and_writes_the_event(self, tmp_path: Path) -> None:
        publisher, buffer, metrics = make()
        letters = DeadLetterFile(tmp_path / "schema.jsonl", fsync=False)
        schemas = EventSchemas({"order.created": SCHEMA}, on_violation="return")
        publisher.attach(buffer, schemas=schemas, schema_dead_letter=letters)
        bad = event(data={"total": "three", "password": "hunter2"})
        assert publisher.publish(bad) is False
        assert taken(buffer) == []
        assert dropped(metrics) == {"schema": 1}
        (line,) = deadletter.read(tmp_path / "schema.jsonl")
        assert line.id == bad.id
        assert "hunter2" not in (tmp_path / "schema.jsonl").read_text()


class TestDropAnnouncement:
    def test_at_most_one_event_per_interval_summing_the_drops(self) -> None:
        clock = FakeClock()
        publisher, buffer, metrics = make(capacity=3, clock=clock, announce_every=60.0)
        for i in range(5):
            publisher.publish(event(id=f"e{i}"))
        taken(buffer)
        first = publisher.announce_drops()
        assert first is not None
        assert (first.type, first.severity, first.category) == (DROPS_EVENT, Severity.HIGH, Category.ERROR)
        assert first.data == {
            "dropped": {"drop_newest": 2},
            "total": 2,
            "dropped_since_start": {"drop_newest": 2},
        }
        taken(buffer)
        for i in range(7):
            publisher.publish(event(id=f"f{i}"))  # 4 more dropped
        clock.advance(59)
        assert publisher.announce_drops() is None  # within the minute
        clock.advance(1)
        taken(buffer)
        second = publisher.announce_drops()
        assert second is not None
        assert second.data == {
            "dropped": {"drop_newest": 4},
            "total": 4,
            "dropped_since_start": {"drop_newest": 6},
        }
        assert publisher.announce_drops() is None  # nothing new
        assert dropped(metrics) == {"drop_newest": 6}

    def test_drops_without_room_are_announced_once_room_is_back(self) -> None:
        clock = FakeClock()
        publisher, buffer, _ = make(capacity=2, clock=clock)
        for i in range(4):
            publisher.publish(event(id=f"e{i}"))
        taken(buffer)
        made = publisher.announce_drops()
        assert made is not None
        assert made.data == {
            "dropped": {"drop_newest": 2},
            "total": 2,
            "dropped_since_start": {"drop_newest": 2},
        }
        assert [e.type for e in taken(buffer)] == [DROPS_EVENT]
