"""Structured events: CloudEvents 1.0 events (``Event``), their wire formats and per-type JSON Schemas.

``event`` builds and checks events, ``encoding`` writes and reads the structured, batch, HTTP binary and
Kafka binary modes (redacting first), ``schema`` checks an event's data against its type's schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig._lazy import lazy_exports

_EXPORTS = {
    "CORE_ATTRIBUTES": "event",
    "JSON_CONTENT_TYPE": "event",
    "SPECVERSION": "event",
    "Category": "event",
    "Event": "event",
    "InvalidEvent": "event",
    "JsonValue": "event",
    "Severity": "event",
    "UUIDv7": "event",
    "new_event_id": "event",
    "BATCH_CONTENT_TYPE": "encoding",
    "STRUCTURED_CONTENT_TYPE": "encoding",
    "UndecodableEvent": "encoding",
    "from_batch": "encoding",
    "from_http_binary": "encoding",
    "from_kafka_binary": "encoding",
    "from_structured": "encoding",
    "redacted": "encoding",
    "to_batch": "encoding",
    "to_http_binary": "encoding",
    "to_kafka_binary": "encoding",
    "to_structured": "encoding",
    "EventSchemas": "schema",
    "InvalidEventSchema": "schema",
    "OnViolation": "schema",
    "SchemaViolation": "schema",
}

__all__ = [
    "BATCH_CONTENT_TYPE",
    "CORE_ATTRIBUTES",
    "JSON_CONTENT_TYPE",
    "SPECVERSION",
    "STRUCTURED_CONTENT_TYPE",
    "Category",
    "Event",
    "EventSchemas",
    "InvalidEvent",
    "InvalidEventSchema",
    "JsonValue",
    "OnViolation",
    "SchemaViolation",
    "Severity",
    "UUIDv7",
    "UndecodableEvent",
    "from_batch",
    "from_http_binary",
    "from_kafka_binary",
    "from_structured",
    "new_event_id",
    "redacted",
    "to_batch",
    "to_http_binary",
    "to_kafka_binary",
    "to_structured",
]

if TYPE_CHECKING:
    from sharedconfig.monitoring.events.encoding import (
        BATCH_CONTENT_TYPE,
        STRUCTURED_CONTENT_TYPE,
        UndecodableEvent,
        from_batch,
        from_http_binary,
        from_kafka_binary,
        from_structured,
        redacted,
        to_batch,
        to_http_binary,
        to_kafka_binary,
        to_structured,
    )
    from sharedconfig.monitoring.events.event import (
        CORE_ATTRIBUTES,
        JSON_CONTENT_TYPE,
        SPECVERSION,
        Category,
        Event,
        InvalidEvent,
        JsonValue,
        Severity,
        UUIDv7,
        new_event_id,
    )
    from sharedconfig.monitoring.events.schema import (
        EventSchemas,
        InvalidEventSchema,
        OnViolation,
        SchemaViolation,
    )

__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{home}" for name, home in _EXPORTS.items()}, globals()
)
