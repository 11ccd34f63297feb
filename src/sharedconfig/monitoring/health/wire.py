"""The JSON form of health values: one rule over dataclass fields, shared by ``/health`` and its schema.

Field metadata says how: ``{"inline": True}`` writes a nested dataclass's fields in place, ``{"json": False}``
leaves a field out, ``{"description": ...}`` documents it in the schema.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, NamedTuple, get_type_hints

__all__ = ["WireField", "to_json", "wire_fields"]


class WireField(NamedTuple):
    """One key of a dataclass's JSON form, with its type and its description."""

    key: str
    hint: object
    description: str


def _shown(f: dataclasses.Field[Any]) -> bool:
    return f.metadata.get("json", True) is not False


@functools.cache
def wire_fields(cls: type) -> tuple[WireField, ...]:
    """The keys of the JSON form of the dataclass ``cls``, in field order, inlined fields in place."""
    hints = get_type_hints(cls)
    out: list[WireField] = []
    for f in dataclasses.fields(cls):
        if not _shown(f):
            continue
        if f.metadata.get("inline"):
            out.extend(wire_fields(hints[f.name]))
        else:
            out.append(WireField(f.name, hints[f.name], str(f.metadata.get("description", ""))))
    return tuple(out)


@functools.cache
def _layout(cls: type) -> tuple[tuple[str, bool], ...]:
    """(name, inline) of each field of ``cls`` in its JSON form; cached, as ``/health`` asks every request."""
    return tuple((f.name, bool(f.metadata.get("inline"))) for f in dataclasses.fields(cls) if _shown(f))


def _fields_json(value: object, out: dict[str, object]) -> dict[str, object]:
    cls: type = type(value)
    for name, inline in _layout(cls):
        item = getattr(value, name)
        if inline:
            _fields_json(item, out)
        else:
            out[name] = to_json(item)
    return out


_PLAIN: frozenset[type] = frozenset({type(None), bool, int, float, str})


def _mapping_json(value: Mapping[object, object]) -> dict[str, object]:
    return {str(k): to_json(v) for k, v in value.items()}


def _sequence_json(value: Any) -> list[object]:
    return [to_json(v) for v in value]


@functools.cache
def _converter(cls: type) -> Callable[[Any], object]:
    """How a value of type ``cls`` becomes JSON data, decided once per type.

    ``/health`` serializes every report on every request: dispatching on the exact type instead of a
    chain of ``isinstance`` tests keeps bench/health_load.sh's p99 under its 10 ms target.
    """
    if issubclass(cls, Enum):  # first: a StrEnum is also a str, but the body shows its plain value
        return lambda v: to_json(v.value)
    if issubclass(cls, bool | int | float | str):
        return lambda v: v
    if issubclass(cls, datetime | date):
        return lambda v: v.isoformat()
    if issubclass(cls, timedelta):
        return lambda v: v.total_seconds()
    if dataclasses.is_dataclass(cls):
        return lambda v: _fields_json(v, {})
    if issubclass(cls, Mapping):
        return _mapping_json
    if issubclass(cls, list | tuple | set | frozenset):
        return _sequence_json
    return str


def to_json(value: object) -> object:
    """``value`` as JSON-ready data.

    Dataclasses as objects of their fields (by the metadata rules above); enums by value; times as ISO
    text; ``timedelta`` as seconds; mappings and sequences recursively (keys as text); anything else as
    ``str``.
    """
    cls: type = type(value)
    if cls in _PLAIN:
        return value
    return _converter(cls)(value)
