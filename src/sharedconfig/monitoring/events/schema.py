"""Optional JSON Schemas per event type: ``EventSchemas`` checks an event's ``data`` against its type's.

``jsonschema`` is imported when the first schema is registered (``pip install 'sharedconfig[events]'``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from sharedconfig.errors import Location, ValidationError
from sharedconfig.monitoring.events.event import Event

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as JsonSchemaError
    from jsonschema.protocols import Validator

__all__ = ["EVENTS_EXTRA_HINT", "EventSchemas", "InvalidEventSchema", "OnViolation", "SchemaViolation"]

EVENTS_EXTRA_HINT: Final = "event schemas need jsonschema: pip install 'sharedconfig[events]'"


class SchemaViolation(ValidationError):
    """An event's data does not match the JSON Schema of its type (``VALIDATION_051``).

    ``path`` is the key path inside the event (``data.items[2].price``); the message names the schema
    keyword that failed and never quotes the value, which may be a secret. ``event`` is the event.
    """

    default_code = "VALIDATION_051"

    def __init__(self, message: str, *, event: Event, **kwargs: Any) -> None:
        self.event = event
        super().__init__(message, **kwargs)


class InvalidEventSchema(ValidationError):
    """A schema given for an event type is not a valid JSON Schema (``VALIDATION_053``)."""

    default_code = "VALIDATION_053"


class OnViolation(StrEnum):
    """What ``EventSchemas.check`` does with an event that fails its schema."""

    RAISE = "raise"
    """Raise ``SchemaViolation``: development, where the code that built the event should hear of it."""
    RETURN = "return"
    """Return the ``SchemaViolation``: production, where the publisher counts and dead-letters it."""


def _key_path(parts: Iterable[str | int]) -> str:
    path = "data"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(error: JsonSchemaError) -> str:
    # the schema's side only: error.message quotes the instance, which may be a secret
    expected = _json_text(error.validator_value)
    return f"does not satisfy {error.validator!r}: {expected}"


def _json_text(value: object, limit: int = 120) -> str:
    """A schema value as short JSON text for a message, cut at ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class EventSchemas:
    """A registry of JSON Schemas by event type, checking each event's ``data`` against its type's.

    Types without a schema always pass. ``on_violation`` chooses what ``check`` does with a failing
    event: ``RAISE`` (development) or ``RETURN`` (production: the caller counts and dead-letters it).
    Each schema is checked when registered, and its ``$schema`` picks the draft (2020-12 by default).
    """

    def __init__(
        self,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        on_violation: OnViolation | str = OnViolation.RAISE,
    ) -> None:
        self.on_violation = OnViolation(on_violation)
        self._validators: dict[str, Validator] = {}
        for event_type, schema in (schemas or {}).items():
            self.register(event_type, schema)

    def register(self, event_type: str, schema: Mapping[str, Any]) -> None:
        """Check ``schema`` and use it for events of ``event_type`` from now on (replacing any other)."""
        try:
            from jsonschema import exceptions, validators
        except ImportError:  # pragma: no cover - jsonschema is installed with the dev tools
            raise ImportError(EVENTS_EXTRA_HINT) from None
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        try:
            cls.check_schema(dict(schema))
        except exceptions.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            raise InvalidEventSchema(
                f"the schema of {event_type!r} is not a valid JSON Schema: {exc.message}",
                path=where,
                location=Location("event schema", event_type),
                hint="Check it against the JSON Schema draft it names ($schema; 2020-12 by default).",
                component="events",
            ) from None
        self._validators[event_type] = cls(dict(schema))

    def unregister(self, event_type: str) -> None:
        """Stop checking events of ``event_type`` (nothing happens when it had no schema)."""
        self._validators.pop(event_type, None)

    @property
    def types(self) -> frozenset[str]:
        """The event types that have a schema."""
        return frozenset(self._validators)

    def violation(self, event: Event) -> SchemaViolation | None:
        """The reason ``event`` fails its type's schema, or None when it passes (or has no schema)."""
        validator = self._validators.get(event.type)
        if validator is None:
            return None
        from jsonschema.exceptions import best_match

        error = best_match(validator.iter_errors(event.data))
        if error is None:
            return None
        path = _key_path(error.absolute_path)
        return SchemaViolation(
            f"event {event.type!r} {event.id}: {path} {_describe(error)}",
            event=event,
            path=path,
            location=Location("event", f"{event.type} {event.id}"),
            hint=f"Send data that matches the schema registered for {event.type!r}.",
            component="events",
        )

    def check(self, event: Event) -> SchemaViolation | None:
        """None when ``event`` passes; otherwise raise the ``SchemaViolation`` (``RAISE``) or return it
        (``RETURN``)."""
        violation = self.violation(event)
        if violation is not None and self.on_violation is OnViolation.RAISE:
            raise violation
        return violation
