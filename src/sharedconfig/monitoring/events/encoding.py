"""The CloudEvents wire formats of an ``Event``: structured and batch JSON, HTTP and Kafka binary modes.

Every encoder redacts first (``redacted``: the secret rules of ``sharedconfig.redaction``); every decoder
reads what the encoders write, and any CloudEvents 1.0 producer's JSON events, back into an ``Event``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, unquote

from sharedconfig.errors import Location, ValidationError
from sharedconfig.monitoring.events.event import (
    JSON_CONTENT_TYPE,
    SPECVERSION,
    Event,
    InvalidEvent,
    JsonValue,
)
from sharedconfig.redaction import REDACTED, looks_secret, mask_userinfo, scrub

__all__ = [
    "BATCH_CONTENT_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "UndecodableEvent",
    "from_batch",
    "from_http_binary",
    "from_kafka_binary",
    "from_structured",
    "redacted",
    "to_batch",
    "to_http_binary",
    "to_kafka_binary",
    "to_structured",
]

STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json; charset=utf-8"

KafkaHeaders = Sequence[tuple[str, bytes | None]] | Mapping[str, bytes | None]
"""Kafka headers as confluent-kafka gives them (a list of pairs) or as a mapping."""

# the percent-encoding of HTTP binary mode (CloudEvents HTTP binding 3.1.3.2): printable ASCII stays,
# but for space, '"' and '%', which are encoded with everything else
_HEADER_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


class UndecodableEvent(ValidationError):
    """Bytes that are not a CloudEvents 1.0 event in the expected mode (``VALIDATION_052``)."""

    default_code = "VALIDATION_052"


def _undecodable(
    message: str, location: Location | None, path: str = "", hint: str | None = None
) -> UndecodableEvent:
    return UndecodableEvent(
        message, path=path, hint=hint, location=location or Location("event"), component="events"
    )


# -- redaction --------------------------------------------------------------------------------------


def redacted(event: Event) -> Event:
    """``event`` as it may leave the process: the secret rules applied to its data, extensions and URIs.

    A value under a secret-looking key (``password``, ``token``, ``api_key``, ... at any depth of
    ``data``; an extension named so) becomes ``**********``; URL passwords in any string are masked.
    Returns ``event`` itself when nothing changes (the common case costs one walk of ``data``).
    """
    data: JsonValue = scrub(event.data)  # type: ignore[assignment]  # scrub keeps JSON JSON
    extensions = {
        name: REDACTED if looks_secret(name) else mask_userinfo(value)
        for name, value in event.extensions.items()
    }
    source = mask_userinfo(event.source)
    subject = mask_userinfo(event.subject) if event.subject is not None else None
    dataschema = mask_userinfo(event.dataschema) if event.dataschema is not None else None
    if (
        data == event.data
        and extensions == event.extensions
        and source == event.source
        and subject == event.subject
        and dataschema == event.dataschema
    ):
        return event
    return replace(
        event, data=data, extensions=extensions, source=source, subject=subject, dataschema=dataschema
    )


# -- attributes as text and back ----------------------------------------------------------------------


def _time_text(value: datetime) -> str:
    # RFC 3339 in UTC with a "Z"; microseconds always, so that every id's time has one width
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _attributes(event: Event) -> dict[str, Any]:
    """The context attributes of a (redacted) event in wire order, without the absent ones."""
    out: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
    }
    if event.subject is not None:
        out["subject"] = event.subject
    if event.time is not None:
        out["time"] = _time_text(event.time)
    out["datacontenttype"] = event.datacontenttype
    if event.dataschema is not None:
        out["dataschema"] = event.dataschema
    out["severity"] = event.severity.value
    out["category"] = event.category.value
    if event.traceparent is not None:
        out["traceparent"] = event.traceparent
    if event.sampledrate is not None:
        out["sampledrate"] = event.sampledrate
    out.update(event.extensions)
    return out


def _dumps(value: object, event: Event) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(
            f"event data is not JSON: {type(exc).__name__}",
            path="data",
            location=Location("event", f"{event.type} {event.id}"),
            hint="Give data made of dicts, lists, strings, finite numbers, booleans and None.",
            component="events",
        ) from None


def _document(event: Event) -> dict[str, Any]:
    event = redacted(event)
    document = _attributes(event)
    if event.data is not None:
        document["data"] = event.data
    return document


def _event(attributes: Mapping[str, Any], data: object, location: Location | None) -> Event:
    """An Event from decoded attributes (text or JSON values) and data; errors say what is wrong."""
    specversion = attributes.get("specversion")
    if specversion != SPECVERSION:
        raise _undecodable(
            f"specversion must be {SPECVERSION!r}, not {specversion!r}",
            location,
            "specversion",
            "Only CloudEvents 1.0 events can be read.",
        )
    fields: dict[str, Any] = {}
    extensions: dict[str, str] = {}
    for name, value in attributes.items():
        if name == "specversion":
            continue
        if name in ("id", "source", "type", "subject", "dataschema", "traceparent", "severity", "category"):
            if not isinstance(value, str):
                raise _undecodable(f"attribute {name!r} must be a string", location, name)
            fields[name] = value
        elif name == "time":
            fields["time"] = _parse_time(value, location)
        elif name == "datacontenttype":
            fields[name] = value
        elif name == "sampledrate":
            fields[name] = _parse_int(value, name, location)
        elif isinstance(value, bool):
            extensions[name] = "true" if value else "false"
        elif isinstance(value, int | str):
            extensions[name] = str(value)
        else:
            raise _undecodable(f"attribute {name!r} must be a string, number or boolean", location, name)
    for required in ("id", "source", "type"):
        if required not in fields:
            raise _undecodable(f"required attribute {required!r} is missing", location, required)
    fields.setdefault("time", None)
    fields.setdefault("traceparent", None)
    try:
        return Event(data=data, extensions=extensions, **fields)  # type: ignore[arg-type]
    except InvalidEvent as exc:
        raise _undecodable(exc.message, location, exc.path, exc.hint) from None


def _parse_time(value: object, location: Location | None) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise _undecodable(
        f"attribute 'time' is not an RFC 3339 timestamp: {value!r}",
        location,
        "time",
        "Write it like 2026-12-07T20:35:00Z.",
    )


def _parse_int(value: object, name: str, location: Location | None) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise _undecodable(f"attribute {name!r} must be a whole number", location, name)


def _loads(body: bytes | str, location: Location | None, what: str) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _undecodable(f"{what} is not JSON: {exc}", location) from None


def _from_document(document: object, location: Location | None) -> Event:
    if not isinstance(document, dict):
        raise _undecodable("a structured event must be a JSON object", location)
    if "data_base64" in document:
        raise _undecodable(
            "binary data (data_base64) is not supported", location, "data_base64", "Send JSON data."
        )
    data = document.pop("data", None)
    return _event(document, data, location)


# -- structured and batch modes -----------------------------------------------------------------------


def to_structured(event: Event) -> bytes:
    """The event in structured mode (``application/cloudevents+json``): one JSON object, UTF-8."""
    return _dumps(_document(event), event)


def from_structured(body: bytes | str, *, location: Location | None = None) -> Event:
    """The event of a structured-mode body; ``UndecodableEvent`` (``VALIDATION_052``) when it is none.

    ``location`` says where the body came from (a dead-letter file's line) in the error.
    """
    return _from_document(_loads(body, location, "the body"), location)


def to_batch(events: Iterable[Event]) -> bytes:
    """The events in batch mode (``application/cloudevents-batch+json``): a JSON array of structured
    events, in order; an empty iterable gives ``[]``."""
    documents = [(_document(e), e) for e in events]
    parts = [_dumps(d, e) for d, e in documents]
    return b"[" + b",".join(parts) + b"]"


def from_batch(body: bytes | str, *, location: Location | None = None) -> list[Event]:
    """The events of a batch-mode body, in order; the error of a bad item names its index."""
    documents = _loads(body, location, "the batch")
    if not isinstance(documents, list):
        raise _undecodable("a batch must be a JSON array of events", location)
    events = []
    for index, document in enumerate(documents):
        try:
            events.append(_from_document(document, location))
        except UndecodableEvent as exc:
            path = f"[{index}]" + (f".{exc.path}" if exc.path else "")
            raise _undecodable(f"batch item {index}: {exc.message}", location, path, exc.hint) from None
    return events


# -- binary modes -------------------------------------------------------------------------------------


def _body(event: Event) -> bytes:
    return b"" if event.data is None else _dumps(event.data, event)


def _data(body: bytes, location: Location | None) -> JsonValue:
    if not body:
        return None
    value: JsonValue = _loads(body, location, "the data")  # type: ignore[assignment]
    return value


def to_http_binary(event: Event) -> tuple[dict[str, str], bytes]:
    """The event in HTTP binary mode: ``ce-`` headers (percent-encoded as the binding says),
    ``content-type`` from ``datacontenttype``, and the data as the body (empty without data)."""
    event = redacted(event)
    headers = {"content-type": event.datacontenttype}
    for name, value in _attributes(event).items():
        if name != "datacontenttype":
            headers[f"ce-{name}"] = quote(str(value), safe=_HEADER_SAFE)
    return headers, _body(event)


def from_http_binary(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes, *, location: Location | None = None
) -> Event:
    """The event of an HTTP binary-mode request or response; header names in any case."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    attributes: dict[str, Any] = {}
    for name, value in pairs:
        lower = name.lower()
        if lower.startswith("ce-"):
            attributes[lower[3:]] = unquote(value)
        elif lower == "content-type":
            attributes["datacontenttype"] = value
    attributes.setdefault("datacontenttype", JSON_CONTENT_TYPE)
    return _event(attributes, _data(body, location), location)


def to_kafka_binary(
    event: Event, *, key_by: str = "subject"
) -> tuple[list[tuple[str, bytes]], bytes, bytes | None]:
    """The event in Kafka binary mode: ``(headers, value, key)``.

    Headers are ``ce_`` attributes and ``content-type``, UTF-8; value is the data (empty without data);
    the key is the attribute or extension named by ``key_by`` (``subject`` by default), None when the
    event has none, so that one subject's events stay in one partition, in order.
    """
    event = redacted(event)
    attributes = _attributes(event)
    headers = [("content-type", event.datacontenttype.encode())]
    headers += [(f"ce_{n}", str(v).encode()) for n, v in attributes.items() if n != "datacontenttype"]
    key = attributes.get(key_by)
    return headers, _body(event), (str(key).encode() if key is not None else None)


def from_kafka_binary(
    headers: KafkaHeaders, value: bytes | None, *, location: Location | None = None
) -> Event:
    """The event of a Kafka binary-mode record (its headers and value; the key is not an attribute)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    attributes: dict[str, Any] = {}
    for name, raw in pairs:
        lower = name.lower()
        if lower.startswith("ce_") or lower == "content-type":
            try:
                text = (raw or b"").decode()
            except UnicodeDecodeError:
                raise _undecodable(f"header {name!r} is not UTF-8", location, lower) from None
            attributes["datacontenttype" if lower == "content-type" else lower[3:]] = text
    attributes.setdefault("datacontenttype", JSON_CONTENT_TYPE)
    return _event(attributes, _data(value or b"", location), location)
