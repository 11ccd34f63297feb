"""Walking a settings schema along a key path: which models a path passes through, and whether a
secret-typed field lies on the way. Shared by the schema's error messages and validation's origin texts."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["secret_typed", "tag_values", "unwrap"]


def unwrap(annotation: Any) -> Iterator[Any]:
    """The model classes an annotation can hold (through Optional, Annotated, tuples, dicts, unions)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    elif origin is typing.Annotated:
        yield from unwrap(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType, tuple, list, dict, Mapping):
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                yield from unwrap(arg)


def tag_values(model: type[BaseModel]) -> tuple[str, ...]:
    """The values of a model's ``type`` discriminator (``("datadog",)``), or () when it has none."""
    field = model.model_fields.get("type")
    if field is None:
        return ()
    return tuple(a for a in typing.get_args(field.annotation) if isinstance(a, str))


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    """The field a key of the data names: by its name, or by its alias (``from`` for ``from_``)."""
    field = model.model_fields.get(key)
    if field is None:
        field = next((f for f in model.model_fields.values() if f.alias == key), None)
    return field


def secret_typed(schema: type[BaseModel], loc: tuple[int | str, ...]) -> bool:
    """True when a field on the way to ``loc`` is typed as a secret, or as a container of secrets
    (``dict[str, SecretStr]`` headers): a value given there is never quoted. ``loc`` is a pydantic
    location or a key path below the module (list indexes are skipped; in a union any member counts)."""
    models: list[type[BaseModel]] = [schema]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            field = _field(model, part)
            if field is None:
                if part in tag_values(model):
                    nxt.append(model)
                continue
            if "SecretStr" in repr(field.annotation):
                return True
            nxt.extend(unwrap(field.annotation))
        if nxt:  # otherwise ``part`` is a key of a mapping of models (a profile name): same models
            models = nxt
    return False
