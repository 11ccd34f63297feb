"""The JSON form of health values: one rule over dataclass fields, shared by ``/health`` and its schema.

Field metadata says how: ``{"inline": True}`` writes a nested dataclass's fields in place, ``{"json": False}``
leaves a field out, ``{"description": ...}`` documents it in the schema.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, NamedTuple, get_type_hints

__all__ = ["Memo", "WireField", "encode", "to_json", "wire_fields"]


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


def _fields(value: object) -> Iterator[tuple[str, object]]:
    """(key, value) of each field of the dataclass ``value`` in its JSON form, inlined fields in place."""
    cls: type = type(value)
    for name, inline in _layout(cls):
        item = getattr(value, name)
        if inline:
            yield from _fields(item)
        else:
            yield name, item


def _fields_json(value: object, out: dict[str, object]) -> dict[str, object]:
    for name, item in _fields(value):
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


# what Starlette's JSONResponse renders: compact, UTF-8 text, no NaN
_dumps: Callable[[object], str] = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


# keys repeat on every request (field names, check names): their quoted form is kept
_key: Callable[[str], str] = functools.lru_cache(maxsize=1024)(_dumps)


class Memo:
    """The encoded text of immutable values of ``types``, kept by identity for values encoded repeatedly.

    ``/health`` encodes the same check statuses on every request until a check runs again; a status's text
    is made once. Each entry holds its value, so an identity can never be reused while it is cached; past
    ``size`` entries the memo starts again. Only for frozen values nobody changes after they are made.
    """

    def __init__(self, types: tuple[type, ...], size: int = 1024) -> None:
        self.types = frozenset(types)
        self.size = size
        self._texts: dict[int, tuple[object, str]] = {}

    def __len__(self) -> int:
        """How many texts are kept."""
        return len(self._texts)

    def text(self, value: object) -> str:
        """``encode(value)``, made once per value."""
        hit = self._texts.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = encode(value)
        if len(self._texts) >= self.size:
            self._texts.clear()
        self._texts[id(value)] = (value, text)
        return text


def encode(value: object, memo: Memo | None = None) -> str:
    """``value``'s JSON form as text, exactly as ``JSONResponse(to_json(value))`` renders it.

    Dataclasses and mappings are written part by part, so the values ``memo`` keeps are encoded once;
    everything else goes through ``to_json``.
    """
    cls: type = type(value)
    if memo is not None and cls in memo.types:
        return memo.text(value)
    if cls in _PLAIN or issubclass(cls, Enum):
        return _dumps(to_json(value))
    if dataclasses.is_dataclass(cls):
        items: Iterator[tuple[str, object]] = _fields(value)
    elif isinstance(value, Mapping):
        items = ((str(k), v) for k, v in value.items())
    else:
        return _dumps(to_json(value))
    return "{" + ",".join(f"{_key(key)}:{encode(item, memo)}" for key, item in items) + "}"
