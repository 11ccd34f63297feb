"""Per-type JSON Schemas: registration, the two behaviours on a violation, and what an error shows."""

from __future__ import annotations

from typing import Any

import pytest

from sharedconfig.errors import SharedConfigError
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.events.schema import (
    EventSchemas,
    InvalidEventSchema,
    OnViolation,
    SchemaViolation,
)

ORDER = "com.example.order.created"
ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["amount", "items"],
    "properties": {
        "amount": {"type": "integer", "minimum": 0},
        "items": {"type": "array", "items": {"type": "object", "properties": {"price": {"type": "number"}}}},
        "card_token": {"type": "string", "pattern": "^tok_"},
    },
}


def _order(data: object) -> Event:
    return Event(ORDER, "/shop", data=data, id="019af5c2-0000-7000-8000-000000000001")  # type: ignore[arg-type]


class TestCheck:
    def test_matching_data_passes(self) -> None:
        """An event whose data matches its type's schema passes: check returns None."""
        schemas = EventSchemas({ORDER: ORDER_SCHEMA})
        assert schemas.check(_order({"amount": 3, "items": [{"price": 1.5}]})) is None

    def test_a_type_without_a_schema_always_passes(self) -> None:
        """Only registered types are checked."""
        schemas = EventSchemas({ORDER: ORDER_SCHEMA})
        assert schemas.check(Event("other.type", "/s", data="anything")) is None

    def test_a_violation_raises_a_coded_error_with_the_key_path(self) -> None:
        """In development (RAISE) a failing event raises VALIDATION_051 with the path into the data."""
        schemas = EventSchemas({ORDER: ORDER_SCHEMA})
        with pytest.raises(SchemaViolation) as caught:
            schemas.check(_order({"amount": 3, "items": [{"price": 1}, {"price": "free"}]}))
        error = caught.value
        assert isinstance(error, SharedConfigError)
        assert (error.code, error.path) == ("VALIDATION_051", "data.items[1].price")
        assert "'type'" in error.message and ORDER in error.hint
        assert str(error.location) == f"event {ORDER} 019af5c2-0000-7000-8000-000000000001"
        assert error.event.type == ORDER

    def test_a_violation_is_returned_in_production(self) -> None:
        """With RETURN a failing event never raises: check gives the violation to count and dead-letter."""
        schemas = EventSchemas({ORDER: ORDER_SCHEMA}, on_violation="return")
        assert schemas.on_violation is OnViolation.RETURN
        violation = schemas.check(_order({"items": []}))
        assert isinstance(violation, SchemaViolation) and violation.path == "data"
        assert "required" in violation.message

    def test_the_value_is_never_quoted(self) -> None:
        """The message names the schema keyword, never the data: a failing secret stays hidden."""
        schemas = EventSchemas({ORDER: ORDER_SCHEMA}, on_violation=OnViolation.RETURN)
        violation = schemas.check(_order({"amount": 1, "items": [], "card_token": "hunter2-canary"}))
        assert violation is not None and violation.path == "data.card_token"
        assert "hunter2-canary" not in str(violation)
        assert "hunter2-canary" not in repr(violation.to_dict())

    def test_no_data_is_checked_as_null(self) -> None:
        """An event without data is checked as JSON null, which an object schema refuses."""
        schemas = EventSchemas({ORDER: ORDER_SCHEMA}, on_violation="return")
        violation = schemas.check(_order(None))
        assert violation is not None and violation.path == "data"


class TestRegistry:
    def test_register_replace_and_unregister(self) -> None:
        """A later register replaces the schema; unregister stops checking the type."""
        schemas = EventSchemas(on_violation="return")
        schemas.register(ORDER, {"type": "string"})
        assert schemas.types == {ORDER} and schemas.check(_order(1)) is not None
        schemas.register(ORDER, {"type": "integer"})
        assert schemas.check(_order(1)) is None
        schemas.unregister(ORDER)
        assert schemas.types == frozenset() and schemas.check(_order("x")) is None
        schemas.unregister(ORDER)

    def test_an_invalid_schema_is_refused_when_registered(self) -> None:
        """A schema its draft rejects gives VALIDATION_053 pointing into the schema."""
        with pytest.raises(InvalidEventSchema) as caught:
            EventSchemas({ORDER: {"type": "object", "required": 5}})
        assert (caught.value.code, caught.value.path) == ("VALIDATION_053", "required")
        assert str(caught.value.location) == f"event schema {ORDER}"

    def test_the_draft_named_by_dollar_schema_is_used(self) -> None:
        """$schema picks the draft: draft-07's 'dependencies' applies, 2020-12 ignores it."""
        dependencies = {"dependencies": {"a": ["b"]}}
        draft7 = EventSchemas(
            {ORDER: {"$schema": "http://json-schema.org/draft-07/schema#", **dependencies}},
            on_violation="return",
        )
        default = EventSchemas({ORDER: dependencies}, on_violation="return")
        assert draft7.check(_order({"a": 1})) is not None
        assert default.check(_order({"a": 1})) is None

    def test_an_unknown_behaviour_is_refused(self) -> None:
        """on_violation takes 'raise' or 'return' only."""
        with pytest.raises(ValueError, match="'drop'"):
            EventSchemas(on_violation="drop")
