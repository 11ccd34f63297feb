"""Tests for sharedconfig.monitoring.health.wire: the JSON form of health values and the fields it lists.

The body ``to_json`` writes and the schema ``wire_fields`` describes name the same keys, in the same order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from sharedconfig.interfaces import CheckResult, HealthState, HealthStatus
from sharedconfig.monitoring.health import HealthReport
from sharedconfig.monitoring.health.wire import Memo, encode, to_json, wire_fields

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Point:
    """A plain dataclass a check might put in its details."""

    x: int
    hidden: str = field(default="h", metadata={"json": False})


def status() -> HealthStatus:
    """A status with every field set."""
    result = CheckResult(HealthState.DEGRADED, "slow", {"ms": 900}, 0.5, WHEN)
    return HealthStatus("db", result, critical=True, tags={"tier": "data"}, description="orders")


class TestWireFields:
    def test_the_result_is_inlined_between_the_name_and_the_entry_fields(self) -> None:
        """HealthStatus's JSON keys: its name, the CheckResult's fields, then critical, tags, description."""
        assert [w.key for w in wire_fields(HealthStatus)] == [
            "name",
            "state",
            "message",
            "details",
            "duration_seconds",
            "checked_at",
            "critical",
            "tags",
            "description",
        ]

    def test_a_field_marked_json_false_is_left_out(self) -> None:
        """HealthReport.http_status is the response's code: it is not a key of the body."""
        assert [w.key for w in wire_fields(HealthReport)] == ["scope", "status", "checks", "checked_at"]

    def test_descriptions_come_from_field_metadata(self) -> None:
        """Each described field carries its description for the schema."""
        described = {w.key: w.description for w in wire_fields(HealthStatus)}
        assert described["checked_at"] == "When the run started; null until the check has run."


class TestToJson:
    def test_a_status_is_written_flat_by_its_wire_fields(self) -> None:
        """to_json of a HealthStatus has exactly the wire keys, in order, with JSON-ready values."""
        data = to_json(status())
        assert isinstance(data, dict)
        assert list(data) == [w.key for w in wire_fields(HealthStatus)]
        assert data == {
            "name": "db",
            "state": "degraded",
            "message": "slow",
            "details": {"ms": 900},
            "duration_seconds": 0.5,
            "checked_at": "2026-01-01T00:00:00+00:00",
            "critical": True,
            "tags": {"tier": "data"},
            "description": "orders",
        }
        assert type(data["state"]) is str  # the plain value, not the StrEnum

    def test_a_report_nests_its_checks_and_drops_http_status(self) -> None:
        """A report's body lists each check by name, flat, and has no http_status key."""
        report = HealthReport("all", HealthState.DEGRADED, 200, {"db": status()}, WHEN)
        data = report.to_dict()
        assert list(data) == ["scope", "status", "checks", "checked_at"]
        assert data["checks"] == {"db": to_json(status())}
        json.dumps(data)

    def test_details_values_become_json(self) -> None:
        """Times, durations, enums, tuples, sets and dataclasses in details become JSON; the rest str."""
        details = {
            "at": WHEN,
            "took": timedelta(milliseconds=250),
            "state": HealthState.HEALTHY,
            "hosts": ("a", "b"),
            "point": Point(3),
            "error": ValueError("boom"),
            7: None,
        }
        assert to_json(details) == {
            "at": "2026-01-01T00:00:00+00:00",
            "took": 0.25,
            "state": "healthy",
            "hosts": ["a", "b"],
            "point": {"x": 3},
            "error": "boom",
            "7": None,
        }


# what a check may put in its details: JSON values, plus the types to_json converts
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(list(HealthState))
    | st.datetimes(timezones=st.just(UTC))
    | st.timedeltas()
    | st.builds(Point, st.integers())
)
_details = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers(), inner, max_size=3)
    ),
    max_leaves=12,
)
_statuses = st.builds(
    lambda name, state, message, details, critical, tags: HealthStatus(
        name, CheckResult(state, message, details, 0.25, WHEN), critical=critical, tags=tags
    ),
    st.text(max_size=8),
    st.sampled_from(list(HealthState)),
    st.text(),
    st.dictionaries(st.text(max_size=6), _details, max_size=4),
    st.booleans(),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2),
)


class TestEncode:
    @given(st.lists(_statuses, max_size=4))
    def test_the_text_is_what_a_json_response_renders(self, statuses: list[HealthStatus]) -> None:
        """encode(report) is byte for byte the body JSONResponse(report.to_dict()) sends, memo or not."""
        report = HealthReport("all", HealthState.HEALTHY, 200, {s.name: s for s in statuses}, WHEN)
        rendered = JSONResponse(report.to_dict()).body
        memo = Memo((HealthStatus,))
        assert encode(report).encode() == rendered
        assert encode(report, memo).encode() == rendered
        assert encode(report, memo).encode() == rendered  # from the memo the second time

    def test_a_nan_is_refused_as_by_json_response(self) -> None:
        """A NaN in details is not valid JSON: encode raises as JSONResponse does (the server answers 500)."""
        report = HealthReport("all", HealthState.HEALTHY, 200, {"x": status_with({"v": float("nan")})}, WHEN)
        with pytest.raises(ValueError, match="not JSON compliant"):
            encode(report, Memo((HealthStatus,)))


def status_with(details: dict[str, object]) -> HealthStatus:
    """A healthy status named x with ``details``."""
    return HealthStatus("x", CheckResult(HealthState.HEALTHY, "", details, 0.0, WHEN))


class TestMemo:
    def test_a_value_is_encoded_once(self) -> None:
        """The memo gives the text it made for the same object, even if that object's dict changed since."""
        details: dict[str, object] = {"n": 1}
        value = status_with(details)
        memo = Memo((HealthStatus,))
        first = memo.text(value)
        details["n"] = 2  # nobody should; the memo shows the value as it was when first encoded
        assert memo.text(value) == first
        assert '"n":1' in first

    def test_an_equal_but_different_object_is_encoded_afresh(self) -> None:
        """Identity, not equality or id alone: a new status gets its own text."""
        memo = Memo((HealthStatus,))
        assert '"n":1' in memo.text(status_with({"n": 1}))
        assert '"n":2' in memo.text(status_with({"n": 2}))

    def test_the_memo_is_bounded(self) -> None:
        """Past its size the memo starts again rather than growing with every result ever seen."""
        memo = Memo((HealthStatus,), size=3)
        kept = [status_with({"n": n}) for n in range(10)]
        for value in kept:
            memo.text(value)
        assert len(memo) <= 3
