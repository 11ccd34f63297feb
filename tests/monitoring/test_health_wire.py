"""Tests for sharedconfig.monitoring.health.wire: the JSON form of health values and the fields it lists.

The body ``to_json`` writes and the schema ``wire_fields`` describes name the same keys, in the same order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sharedconfig.interfaces import CheckResult, HealthState, HealthStatus
from sharedconfig.monitoring.health import HealthReport
from sharedconfig.monitoring.health.wire import to_json, wire_fields

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
