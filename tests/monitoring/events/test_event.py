"""The event model: CloudEvents attributes and their checks, the enums, and UUIDv7 ids."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import os
import pickle
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sharedconfig import tracecontext
from sharedconfig.monitoring.events.event import (
    SPECVERSION,
    Category,
    Event,
    InvalidEvent,
    Severity,
    UUIDv7,
    new_event_id,
)


def _event(**kwargs: object) -> Event:
    return Event("com.example.order.created", "/shop", **kwargs)  # type: ignore[arg-type]


class TestDefaults:
    def test_a_new_event_is_a_cloudevents_1_0_event_with_an_id_and_a_time(self) -> None:
        """A bare event has specversion 1.0, a UUIDv7 id, now in UTC, JSON content, info and system."""
        before = datetime.now(UTC)
        event = _event()
        assert event.specversion == SPECVERSION == "1.0"
        assert uuid.UUID(event.id).version == 7
        assert event.time is not None and before <= event.time <= datetime.now(UTC)
        assert event.time.tzinfo is UTC
        assert event.datacontenttype == "application/json"
        assert (event.severity, event.category) == (Severity.INFO, Category.SYSTEM)
        assert event.data is None and event.subject is None and dict(event.extensions) == {}

    def test_traceparent_comes_from_the_active_trace(self) -> None:
        """Inside a trace the event carries its traceparent, and trace_id/span_id read it back."""
        trace = tracecontext.TraceContext.new()
        with tracecontext.use(trace):
            event = _event()
        assert event.traceparent == trace.traceparent
        assert (event.trace_id, event.span_id) == (trace.trace_id, trace.span_id)

    def test_outside_a_trace_there_is_no_traceparent(self) -> None:
        """Outside any trace traceparent, trace_id and span_id are None."""
        with tracecontext.use(None):
            event = _event()
        assert (event.traceparent, event.trace_id, event.span_id) == (None, None, None)

    def test_two_events_get_different_ids(self) -> None:
        """Each event gets an id of its own."""
        assert _event().id != _event().id


class TestAttributes:
    def test_time_in_another_zone_is_kept_in_utc(self) -> None:
        """An aware time in another zone is converted to the same instant in UTC."""
        local = datetime(2026, 12, 7, 22, 0, tzinfo=timezone(timedelta(hours=2)))
        event = _event(time=local)
        assert event.time == local and event.time is not None and event.time.tzinfo is UTC
        assert event.time.hour == 20

    def test_a_naive_time_is_refused(self) -> None:
        """A naive datetime could be any zone: VALIDATION_050 on 'time' with a hint."""
        with pytest.raises(InvalidEvent) as caught:
            _event(time=datetime(2026, 12, 7, 20, 0))
        assert (caught.value.code, caught.value.path) == ("VALIDATION_050", "time")
        assert "time zone" in caught.value.hint

    @pytest.mark.parametrize("name", ["id", "source", "type"])
    def test_required_attributes_must_not_be_empty(self, name: str) -> None:
        """An empty id, source or type is refused, naming the attribute."""
        fields = {"type": "t", "source": "/s", "id": "1"} | {name: ""}
        with pytest.raises(InvalidEvent) as caught:
            Event(**fields)  # type: ignore[arg-type]
        assert caught.value.path == name

    @pytest.mark.parametrize("name", ["subject", "dataschema"])
    def test_optional_attributes_are_absent_or_not_empty(self, name: str) -> None:
        """CloudEvents says subject and dataschema, when present, are non-empty strings."""
        with pytest.raises(InvalidEvent) as caught:
            _event(**{name: ""})
        assert caught.value.path == name

    def test_severity_and_category_take_their_values_as_text(self) -> None:
        """'high' and 'audit' become the enum members; the wire names are lowercase."""
        event = _event(severity="high", category="audit")
        assert event.severity is Severity.HIGH and event.category is Category.AUDIT
        assert [s.value for s in Severity] == ["info", "low", "medium", "high", "critical"]
        assert [c.value for c in Category] == ["system", "business", "error", "security", "audit"]

    def test_an_unknown_severity_is_refused_with_the_allowed_ones(self) -> None:
        """A severity outside the enum is VALIDATION_050 listing every allowed value."""
        with pytest.raises(InvalidEvent, match="info, low, medium, high, critical"):
            _event(severity="urgent")

    def test_severity_ranks_order_from_info_to_critical(self) -> None:
        """rank orders severities so that a filter can ask for "at least high"."""
        assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
        assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.LOW.rank

    @pytest.mark.parametrize("rate", [0, -1, 1.5, True])
    def test_sampledrate_is_a_whole_number_of_at_least_one(self, rate: object) -> None:
        """sampledrate 0, negative, fractional or a bool is refused."""
        with pytest.raises(InvalidEvent) as caught:
            _event(sampledrate=rate)
        assert caught.value.path == "sampledrate"

    def test_json_media_types_are_accepted_and_others_refused(self) -> None:
        """application/*+json is data this model carries; text/plain is not."""
        assert _event(datacontenttype="application/vnd.acme+json").datacontenttype.endswith("+json")
        with pytest.raises(InvalidEvent) as caught:
            _event(datacontenttype="text/plain")
        assert caught.value.path == "datacontenttype"


class TestExtensions:
    def test_extensions_are_kept_read_only(self) -> None:
        """Extensions are copied at construction and cannot be changed afterwards."""
        given = {"tenant": "acme"}
        event = _event(extensions=given)
        given["tenant"] = "other"
        assert event.extensions["tenant"] == "acme"
        with pytest.raises(TypeError):
            event.extensions["tenant"] = "x"  # type: ignore[index]

    @pytest.mark.parametrize("name", ["Tenant", "tenant_id", "tenant-id", "", "a" * 21, "región"])
    def test_names_outside_the_cloudevents_rules_are_refused(self, name: str) -> None:
        """Only 1 to 20 characters a-z0-9 make an extension name; the error names it and hints."""
        with pytest.raises(InvalidEvent) as caught:
            _event(extensions={name: "x"})
        assert caught.value.path == f"extensions.{name}"
        assert "a-z" in caught.value.hint
        assert str(caught.value.location) == "event com.example.order.created"

    def test_a_twenty_character_name_is_accepted(self) -> None:
        """20 characters is the longest name CloudEvents recommends, and it is accepted."""
        assert _event(extensions={"a" * 20: "x"}).extensions["a" * 20] == "x"

    @pytest.mark.parametrize("name", ["id", "time", "severity", "traceparent", "data"])
    def test_names_of_attributes_are_not_extensions(self, name: str) -> None:
        """An extension may not shadow an attribute the event has a field for."""
        with pytest.raises(InvalidEvent, match="attribute of its own"):
            _event(extensions={name: "x"})

    def test_values_are_strings(self) -> None:
        """A non-string value is refused: binary mode could not give its type back."""
        with pytest.raises(InvalidEvent, match="must be a string"):
            _event(extensions={"count": 3})


class TestIdentity:
    def test_events_are_frozen(self) -> None:
        """An event cannot be changed after it is built."""
        event = _event()
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.type = "other"  # type: ignore[misc]

    def test_events_hash_by_source_and_id(self) -> None:
        """Two events with the same source and id collapse in a set, as a consumer dedupes them."""
        first = _event(id="1", data={"a": [1]})
        again = dataclasses.replace(first)
        assert first == again and len({first, again}) == 1
        assert hash(first) != hash(_event(id="2"))

    def test_events_pickle_and_copy(self) -> None:
        """An event survives pickle and deepcopy equal, extensions still read-only."""
        event = _event(extensions={"tenant": "acme"}, data={"a": [1]})
        for again in (pickle.loads(pickle.dumps(event)), copy.deepcopy(event)):
            assert again == event and again.extensions["tenant"] == "acme"
            with pytest.raises(TypeError):
                again.extensions["tenant"] = "x"  # type: ignore[index]


class TestUUIDv7:
    def test_version_and_variant_bits(self) -> None:
        """Every id is version 7 with the RFC variant, in the canonical lowercase form."""
        for _ in range(1000):
            text = new_event_id()
            value = uuid.UUID(text)
            assert value.version == 7 and value.variant == uuid.RFC_4122
            assert str(value) == text

    def test_ids_are_strictly_increasing(self) -> None:
        """Over many ids made in a row (most within one millisecond) each sorts after the last."""
        ids = [new_event_id() for _ in range(50_000)]
        assert all(a < b for a, b in itertools.pairwise(ids))

    def test_the_timestamp_is_the_clock_in_milliseconds(self) -> None:
        """The 48-bit timestamp field is the Unix time in milliseconds when the id was made."""
        before = time.time_ns() // 1_000_000
        value = uuid.UUID(new_event_id())
        after = time.time_ns() // 1_000_000
        assert before <= value.int >> 80 <= after

    def test_within_one_millisecond_the_counter_increments(self) -> None:
        """With the clock standing still, ids keep the millisecond and still increase."""
        make = UUIDv7(lambda: 1_700_000_000_000)
        ids = [make() for _ in range(1000)]
        assert ids == sorted(set(ids))
        assert {uuid.UUID(i).int >> 80 for i in ids} == {1_700_000_000_000}

    def test_a_clock_going_back_does_not_break_the_order(self) -> None:
        """When the clock steps back, ids continue from the last one instead of sorting before it."""
        now = [1_700_000_000_005]
        make = UUIDv7(lambda: now[0])
        first = make()
        now[0] -= 5
        assert make() > first

    def test_a_full_counter_borrows_the_next_millisecond(self) -> None:
        """When the 74 counter bits overflow within a millisecond, the id moves to the next one."""
        make = UUIDv7(lambda: 1_000)
        make()
        make._last_rand = (1 << 74) - 1
        after = uuid.UUID(make())
        assert after.int >> 80 == 1_001 and after.version == 7

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_does_not_continue_the_parents_sequence(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A child forked within the same millisecond makes another id than the parent's next one."""
        monkeypatch.setattr(new_event_id, "_now_ms", lambda: 1_000)
        new_event_id()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.write(write, new_event_id().encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        child = os.read(read, 64).decode()
        os.close(read)
        assert new_event_id() != child
        new_event_id.reset()
