"""The event model: a frozen ``Event`` that is a CloudEvents 1.0 event, its enums and its time-ordered ids.

Encoders for the wire live in ``encoding.py``; this module only builds and checks events (stdlib only).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TypeAlias, TypeVar

from sharedconfig import tracecontext
from sharedconfig.errors import Location, ValidationError

__all__ = [
    "CORE_ATTRIBUTES",
    "JSON_CONTENT_TYPE",
    "SPECVERSION",
    "Category",
    "Event",
    "InvalidEvent",
    "JsonValue",
    "Severity",
    "UUIDv7",
    "new_event_id",
]

SPECVERSION: Final = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"

JsonValue: TypeAlias = "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
"""Any JSON value; Mapping and Sequence (covariant) so that a ``dict[str, int]`` is one too."""

CORE_ATTRIBUTES: Final = frozenset(
    {"id", "source", "specversion", "type", "subject", "time", "datacontenttype", "dataschema"}
)
"""The CloudEvents 1.0 context attributes; an extension may not take one of these names."""

_TYPED_EXTENSIONS: Final = frozenset({"severity", "category", "traceparent", "sampledrate"})
_RESERVED: Final = CORE_ATTRIBUTES | _TYPED_EXTENSIONS | {"data", "data_base64"}
_NAME: Final = re.compile(r"[a-z0-9]{1,20}")
_JSON_MEDIA: Final = re.compile(r"(application|text)/([a-zA-Z0-9.+-]+\+)?json(;.*)?", re.IGNORECASE)
_MAX_REMEMBERED: Final = 1024
_valid_names: set[str] = set()  # extension names already checked: the same few names repeat on a hot path


class Category(StrEnum):
    """The seed's event categories (its ``EventType*`` constants); the ``category`` extension."""

    SYSTEM = "system"
    BUSINESS = "business"
    ERROR = "error"
    SECURITY = "security"
    AUDIT = "audit"


class Severity(StrEnum):
    """How much an event matters, lowest first: the seed's ``low``/``medium``/``high``/``critical``,
    and ``info`` below them for what only reports (a reload that worked). The ``severity`` extension."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``info`` up to 4 for ``critical``: compare ranks to filter by "at least"."""
        return _RANKS[self]


_RANKS: Final = {s: n for n, s in enumerate(Severity)}


class InvalidEvent(ValidationError):
    """An event attribute is missing or malformed (``VALIDATION_050``); ``path`` names the attribute."""

    default_code = "VALIDATION_050"


def _invalid(message: str, path: str, hint: str | None = None) -> InvalidEvent:
    return InvalidEvent(message, path=path, hint=hint, location=Location("event"), component="events")


# -- UUIDv7 (RFC 9562) ------------------------------------------------------------------------------

_RAND_BITS: Final = 74  # rand_a (12 bits) and rand_b (62 bits) read as one counter
_RAND_LIMIT: Final = 1 << _RAND_BITS


class UUIDv7:
    """A source of UUIDv7 strings, strictly increasing within the process (RFC 9562, 6.2 method 2).

    A new millisecond starts the 74 random bits afresh, with the top one clear so that increments have
    room; within a millisecond (or when the clock goes back) the last value is incremented, and a full
    counter borrows the next millisecond. ``now_ms`` is the clock (Unix milliseconds), for tests.
    """

    __slots__ = ("_last_ms", "_last_rand", "_lock", "_now_ms")

    def __init__(self, now_ms: Callable[[], int] | None = None) -> None:
        self._now_ms = now_ms or (lambda: _time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def reset(self) -> None:
        """Forget the last id: a forked child must not continue its parent's sequence."""
        self._lock = threading.Lock()
        self._last_ms = -1

    def __call__(self) -> str:
        """The next id, in the canonical 8-4-4-4-12 lowercase hex form."""
        ms = self._now_ms()
        with self._lock:
            if ms > self._last_ms:
                rand = random.getrandbits(_RAND_BITS - 1)
            else:
                ms = self._last_ms
                rand = self._last_rand + 1
                if rand >= _RAND_LIMIT:
                    ms += 1
                    rand = random.getrandbits(_RAND_BITS - 1)
            self._last_ms, self._last_rand = ms, rand
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76
            | (rand >> 62) << 64
            | 0b10 << 62
            | (rand & ((1 << 62) - 1))
        )
        h = value.to_bytes(16).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


new_event_id: Final = UUIDv7()
"""A new time-ordered event id (UUIDv7): ``new_event_id()`` -> ``'019af5c2-...'``.

Ids are made with ``random`` (identifiers, not secrets, as ``tracecontext`` does); the sequence restarts
in a forked child, whose ``random`` the interpreter reseeds.
"""

if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=new_event_id.reset)


# -- the event ----------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _traceparent() -> str | None:
    trace = tracecontext.current()
    return tracecontext.format_traceparent(trace) if trace is not None else None


@dataclass(frozen=True, slots=True, eq=True)
class Event:
    """One CloudEvents 1.0 event: the seed's Event under the CloudEvents names.

    =================  =============================  ===================================================
    seed               here (wire name)               notes
    =================  =============================  ===================================================
    ID                 ``id``                         UUIDv7 by default (``new_event_id``)
    Type               ``type``                       required, reverse-DNS by convention
    Source             ``source``                     required, a URI-reference (``/svc/orders``)
    Subject            ``subject``                    optional
    Timestamp          ``time``                       aware datetime, kept in UTC; now by default
    Data               ``data``                       any JSON value (None: no data)
    Metadata           ``extensions``                 str values; names ``[a-z0-9]{1,20}``
    TraceID, SpanID    ``traceparent``                W3C; the active trace's by default
    Severity           ``severity``                   ``Severity``
    Category           ``category``                   ``Category``
    =================  =============================  ===================================================

    ``specversion`` is always ``"1.0"``; ``datacontenttype`` is a JSON media type, ``dataschema`` an
    optional URI, ``sampledrate`` (>= 1) says that 1 in that many events was kept. Events are equal
    when every attribute is; they hash by ``source`` and ``id``, what a consumer dedupes on. ``data`` is
    not copied: do not change it after building the event.
    """

    type: str
    source: str
    data: JsonValue = None
    subject: str | None = None
    severity: Severity = Severity.INFO
    category: Category = Category.SYSTEM
    extensions: Mapping[str, str] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)
    time: datetime | None = field(default_factory=_now)
    traceparent: str | None = field(default_factory=_traceparent)
    sampledrate: int | None = None
    datacontenttype: str = JSON_CONTENT_TYPE
    dataschema: str | None = None

    specversion = SPECVERSION  # a class attribute, not a field: every Event is a 1.0 event

    def __post_init__(self) -> None:
        try:
            self._check()
        except InvalidEvent as exc:
            if not isinstance(self.type, str) or not self.type:
                raise
            # the error names the event's type where it can: "event com.example.order.created: ..."
            raise InvalidEvent(
                exc.message,
                path=exc.path,
                hint=exc.hint,
                location=Location("event", self.type),
                component="events",
            ) from None

    def _check(self) -> None:
        for name in ("id", "source", "type"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise _invalid(f"'{name}' must be a non-empty string", name)
        for name in ("subject", "dataschema"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise _invalid(f"'{name}' must be a non-empty string or None", name)
        if type(self.severity) is not Severity:
            object.__setattr__(self, "severity", _member(Severity, self.severity, "severity"))
        if type(self.category) is not Category:
            object.__setattr__(self, "category", _member(Category, self.category, "category"))
        if self.time is not None:
            object.__setattr__(self, "time", _utc(self.time))
        if self.sampledrate is not None and (type(self.sampledrate) is not int or self.sampledrate < 1):
            raise _invalid(
                f"'sampledrate' must be a whole number of at least 1, not {self.sampledrate!r}",
                "sampledrate",
                "1 in sampledrate events was kept: give 10 when one in ten was sent.",
            )
        if self.datacontenttype != JSON_CONTENT_TYPE and not (
            isinstance(self.datacontenttype, str) and _JSON_MEDIA.fullmatch(self.datacontenttype)
        ):
            raise _invalid(
                f"'datacontenttype' must be a JSON media type, not {self.datacontenttype!r}",
                "datacontenttype",
                "Events carry JSON data: use application/json or a type ending in +json.",
            )
        if not isinstance(self.extensions, Mapping):
            raise _invalid("'extensions' must be a mapping of names to strings", "extensions")
        if self.extensions:
            for name, value in self.extensions.items():
                _check_extension(name, value)
            object.__setattr__(self, "extensions", MappingProxyType(dict(self.extensions)))
        elif type(self.extensions) is dict:
            object.__setattr__(self, "extensions", _EMPTY)

    def __hash__(self) -> int:
        return hash((self.source, self.id))

    def __reduce__(self) -> tuple[Callable[[dict[str, Any]], Event], tuple[dict[str, Any]]]:
        # pickle and copy: the read-only view of the extensions cannot be pickled, a dict can
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state["extensions"] = dict(self.extensions)
        return _rebuild, (state,)

    @property
    def trace_id(self) -> str | None:
        """The trace id of ``traceparent`` (the seed's TraceID), or None."""
        trace = tracecontext.parse_traceparent(self.traceparent) if self.traceparent else None
        return trace.trace_id if trace else None

    @property
    def span_id(self) -> str | None:
        """The span id of ``traceparent`` (the seed's SpanID), or None."""
        trace = tracecontext.parse_traceparent(self.traceparent) if self.traceparent else None
        return trace.span_id if trace else None


_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


def _rebuild(state: dict[str, Any]) -> Event:
    return Event(**state)


_E = TypeVar("_E", Severity, Category)


def _member(enum: type[_E], value: object, path: str) -> _E:
    try:
        return enum(value)  # type: ignore[arg-type]  # any value may come in; ValueError says no
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise _invalid(f"'{path}' must be one of {allowed}, not {value!r}", path) from None


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise _invalid(f"'time' must be a datetime, not {type(value).__name__}", "time")
    offset = value.utcoffset()
    if offset is None:
        raise _invalid(
            "'time' must be an aware datetime",
            "time",
            "Give a time zone, e.g. datetime.now(UTC); a naive time could be any zone.",
        )
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _check_extension(name: object, value: object) -> None:
    if name not in _valid_names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _invalid(
                f"extension name {name!r} is not a CloudEvents attribute name",
                f"extensions.{name}",
                "Use 1 to 20 lowercase letters a-z and digits 0-9, e.g. 'tenant' or 'region2'.",
            )
        if name in _RESERVED:
            raise _invalid(
                f"extension name {name!r} is an attribute of its own",
                f"extensions.{name}",
                "Set it as the Event's own field, or pick another name.",
            )
        if len(_valid_names) < _MAX_REMEMBERED:
            _valid_names.add(name)
    if not isinstance(value, str):
        raise _invalid(
            f"extension {name!r} must be a string, not {type(value).__name__}",
            f"extensions.{name}",
            "Binary mode carries extensions as text: convert the value with str().",
        )
