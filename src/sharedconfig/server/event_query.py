"""The events API's query parameters read into a store query: filters, and a page's limit, cursor and order.

Pure (no FastAPI), shared by the API, its stream and ``events tail``; a bad value raises ``ValidationError``
whose ``path`` names the parameter (each caller words it: a query parameter, a ``--option``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sharedconfig.durations import parse_duration
from sharedconfig.errors import ValidationError
from sharedconfig.monitoring.events.channels.sqlite import EventFilter

__all__ = [
    "DEFAULT_LIMIT",
    "FILTER_PARAMETERS",
    "MAX_LIMIT",
    "PAGE_PARAMETERS",
    "EventQuery",
    "parse_cursor",
    "parse_filters",
    "parse_query",
    "parse_stream",
    "parse_time",
]

DEFAULT_LIMIT: Final = 100
"""Events in a page when ``limit`` is not given."""
MAX_LIMIT: Final = 1000
"""The largest ``limit`` a page takes."""

FILTER_PARAMETERS: Final = ("type", "severity", "category", "subject", "trace_id", "since", "until")
"""The parameters that select events, the same for a page and the stream; only ``type`` repeats."""
PAGE_PARAMETERS: Final = ("limit", "cursor", "order")
"""The parameters of a page besides the filters."""

_CURSOR: Final = re.compile(r"[0-9]{1,18}")  # a store sequence number: a non-negative SQLite integer
_TRACE_ID: Final = re.compile(r"[0-9a-fA-F]{32}")
_TIME_HINT: Final = (
    "Write an RFC 3339 time such as 2026-12-07T20:35:00Z, or a duration such as 15m, 2h or 7d "
    "(meaning that long ago)."
)

Order = Literal["newest", "oldest"]


@dataclass(frozen=True, slots=True)
class EventQuery:
    """One page's query: what to select, how many, after which cursor, in which order."""

    filters: EventFilter
    limit: int = DEFAULT_LIMIT
    cursor: int | None = None
    order: Order = "newest"


def _invalid(name: str, message: str, code: str, hint: str | None = None) -> ValidationError:
    return ValidationError(message, code=code, path=name, hint=hint, component="events")


def parse_time(name: str, text: str, now: datetime) -> datetime:
    """``text`` as an aware datetime: an RFC 3339 time, or a duration (``15m``) meaning ``now`` minus it.

    Raises ``ValidationError`` (``VALIDATION_008``) naming the parameter ``name``: a time without a zone,
    a value that is neither form, or one too far back for a date.
    """
    value = text.strip()
    if not value:
        raise _invalid(name, "is empty", "VALIDATION_008", _TIME_HINT)
    try:
        stamp = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "zZ" else value)
    except ValueError:
        stamp = None
    if stamp is not None:
        if stamp.utcoffset() is None:
            raise _invalid(
                name,
                f"the time {value!r} has no time zone",
                "VALIDATION_008",
                "Add the zone: Z for UTC (2026-12-07T20:35:00Z) or an offset (+02:00).",
            )
        return stamp
    try:
        ago = parse_duration(value)
    except ValidationError:
        raise _invalid(
            name, f"{value!r} is neither an RFC 3339 time nor a duration", "VALIDATION_008", _TIME_HINT
        ) from None
    try:
        return now - ago
    except OverflowError:
        raise _invalid(
            name, f"{value!r} reaches back before the year 1", "VALIDATION_008", _TIME_HINT
        ) from None


def parse_cursor(name: str, text: str) -> int:
    """A cursor this API gave (``next_cursor``, an SSE ``id``); ``VALIDATION_008`` for anything else."""
    if not _CURSOR.fullmatch(text):
        raise _invalid(
            name,
            f"{text[:40]!r} is not a cursor of this API",
            "VALIDATION_008",
            "Pass back a next_cursor (or an SSE event's id) exactly as the server gave it, or leave it out "
            "to start at the newest events.",
        )
    return int(text)


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise _invalid(name, f"is given {len(values)} times", "VALIDATION_008", f"Give {name} once.")
    return values[0]


def _check_names(params: Mapping[str, Sequence[str]], known: Sequence[str]) -> None:
    for name in params:
        if name not in known:
            raise _invalid(
                name[:40],
                "is not a parameter of this endpoint",
                "VALIDATION_001",
                f"The parameters are {', '.join(known)}.",
            )


def parse_filters(params: Mapping[str, Sequence[str]], now: datetime) -> EventFilter:
    """The ``EventFilter`` the filter parameters describe (each absent one matches anything).

    ``type`` may repeat (any of them matches; ``config.*`` is a prefix); ``severity`` is the least one
    kept; ``subject`` may be a glob; ``trace_id`` is 32 hex digits; ``since`` and ``until`` are RFC 3339
    times or durations before ``now``. Raises ``ValidationError`` whose ``path`` names the parameter.
    """
    types = tuple(params.get("type") or ())
    for kind in types:
        if not kind:
            raise _invalid(
                "type", "is empty", "VALIDATION_008", "Give an event type, or a prefix as config.*."
            )
    trace_id = _one(params, "trace_id")
    if trace_id is not None and not _TRACE_ID.fullmatch(trace_id):
        raise _invalid(
            "trace_id",
            f"{trace_id[:40]!r} is not a trace id",
            "VALIDATION_008",
            "Give the 32 hexadecimal digits of a W3C trace id (the second field of a traceparent).",
        )
    texts = {name: _one(params, name) for name in ("severity", "category", "subject", "since", "until")}
    for name in ("severity", "category", "subject"):
        if texts[name] == "":
            raise _invalid(name, "is empty", "VALIDATION_008", f"Give a value, or leave {name} out.")
    since, until = texts["since"], texts["until"]
    # EventFilter checks severity and category (VALIDATION_006, naming the field: the parameter's name)
    return EventFilter(
        type=types or None,
        severity=texts["severity"],  # type: ignore[arg-type]  # EventFilter takes the enum's text
        category=texts["category"],  # type: ignore[arg-type]
        subject=texts["subject"],
        trace_id=trace_id,
        since=parse_time("since", since, now) if since is not None else None,
        until=parse_time("until", until, now) if until is not None else None,
    )


def parse_stream(params: Mapping[str, Sequence[str]], now: datetime) -> tuple[EventFilter, int | None]:
    """The stream's filters and its ``cursor`` (start after it; None: only what arrives from now on)."""
    _check_names(params, (*FILTER_PARAMETERS, "cursor"))
    text = _one(params, "cursor")
    return parse_filters(params, now), parse_cursor("cursor", text) if text is not None else None


def parse_query(params: Mapping[str, Sequence[str]], now: datetime) -> EventQuery:
    """A page's ``EventQuery`` from the events API's query parameters (``params``: name to its values).

    ``limit`` is 1 to 1000 (default 100), ``cursor`` a ``next_cursor`` of an earlier page, ``order``
    ``newest`` (default) or ``oldest``. An unknown parameter is ``VALIDATION_001``; a bad value
    ``VALIDATION_002``, ``003``, ``006`` or ``008``, with ``path`` the parameter's name.
    """
    _check_names(params, (*FILTER_PARAMETERS, *PAGE_PARAMETERS))
    filters = parse_filters(params, now)
    limit = DEFAULT_LIMIT
    text = _one(params, "limit")
    if text is not None:
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise _invalid(
                "limit", f"{text[:40]!r} is not a whole number", "VALIDATION_002", "Give 1 to 1000."
            )
        limit = int(text)
        if not 1 <= limit <= MAX_LIMIT:
            raise _invalid(
                "limit",
                f"{limit} is out of range",
                "VALIDATION_003",
                f"Give 1 to {MAX_LIMIT}, and page on with next_cursor.",
            )
    text = _one(params, "cursor")
    cursor = parse_cursor("cursor", text) if text is not None else None
    order: Order = "newest"
    text = _one(params, "order")
    if text is not None:
        if text not in ("newest", "oldest"):
            raise _invalid(
                "order", f"{text[:40]!r} is not an order", "VALIDATION_006", "Give newest or oldest."
            )
        order = "oldest" if text == "oldest" else "newest"
    return EventQuery(filters, limit, cursor, order)
