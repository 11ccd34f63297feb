"""A store's snapshot as configuration: one layer per entry, in name order, each value located at its
entry's URL and revision (``etcd://127.0.0.1:2379/app/base.yaml:3:5 @ revision 42``).

Entries named ``*.yaml``, ``*.yml``, ``*.json`` or ``*.toml`` are documents, read by the files' parser
(``${VAR}`` interpolated at load, in the service's own environment); any other entry is one leaf whose
key path is its name split at ``/`` and whose value is read as YAML (``0.5``, ``true``, ``[a, b]``).
``stored_tree`` gives the same merge with the text as written, placeholders kept, for ``push``/``pull``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any, Final

import yaml

from sharedconfig.config.issues import Issue, KeyPath, format_path
from sharedconfig.config.modules import installed
from sharedconfig.config.schema_paths import secret_typed
from sharedconfig.config.sources.files import SUFFIXES, interpolate_value, parse_document
from sharedconfig.config.stores.base import Snapshot
from sharedconfig.config.stores.url import StoreURL
from sharedconfig.config.tree import Layer, ReadContext, merge
from sharedconfig.errors import ConfigFileError, Location
from sharedconfig.redaction import REDACTED, looks_secret, mask_userinfo

__all__ = ["MISSING", "changes", "entry_kind", "shown", "snapshot_layers", "stored_tree"]

try:  # libyaml is in every PyYAML wheel
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def entry_kind(name: str) -> str | None:
    """``yaml``, ``json`` or ``toml`` for a document entry (by its suffix), None for a leaf."""
    return SUFFIXES.get(PurePosixPath(name).suffix.lower())


def _leaf_path(name: str) -> KeyPath:
    return tuple(part for part in name.split("/") if part)


_LIMITS: Final = ReadContext()
"""The limits of a read (entry size, alias expansion, nesting), as for files."""


def _bounded(value: Any) -> Any:
    """``value`` when its expansion stays within the read limits, else ``ValueError``: YAML aliases share
    nodes, so a few hundred bytes can stand for billions of values (a billion laughs); merging, redacting
    and printing would expand them all."""
    budget = _LIMITS.max_alias_expansions * 10
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0 or depth > _LIMITS.max_depth:
            raise ValueError("the entry expands past the limits of a read (aliases or nesting)")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return value


def _sized(text: str) -> str:
    if len(text) > _LIMITS.max_file_size:
        raise ValueError(f"the entry is over the limit of {_LIMITS.max_file_size} characters")
    return text


def _leaf_value(text: str) -> Any:
    return _bounded(yaml.load(_sized(text), Loader=_Loader))  # a safe loader: plain values only


def _relocate(layer: Layer, revision: int) -> None:
    """Every spot and issue of ``layer`` located in the store: source ``store``, with the revision."""
    for path, spot in list(layer.spots.items()):
        line, column = spot if isinstance(spot, tuple) else (None, None)
        layer.spots[path] = Location(
            "store", layer.name, line, column, interpolated=path in layer.interpolated, revision=revision
        )
    layer.issues[:] = [
        replace(issue, location=replace(issue.location, source="store", revision=revision))
        if issue.location is not None and issue.location.name == layer.name
        else issue
        for issue in layer.issues
    ]


def _leaf_layer(url: StoreURL, name: str, text: str, revision: int, ctx: ReadContext) -> Layer:
    layer = Layer("store", url.entry(name))
    path = _leaf_path(name)
    where = Location("store", layer.name, revision=revision)
    if not path:
        layer.issues.append(Issue("CONFIG_007", "", "an entry without a key path", location=where))
        return layer
    try:
        value = _leaf_value(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        problem = getattr(exc, "problem", None) or (str(exc) if isinstance(exc, ValueError) else None)
        problem = problem or "not a YAML value"
        message = f"cannot read the value: {problem}"
        if any(isinstance(part, str) and looks_secret(part) for part in path):
            message = f"cannot read the value ({len(text)} characters, not shown: the key looks secret)"
        layer.issues.append(Issue("CONFIG_007", format_path(path), message, location=where))
        return layer
    data: Any = interpolate_value(value, path, layer, ctx)
    for part in reversed(path):
        data = {part: data}
    layer.data = data
    for end in range(1, len(path) + 1):
        layer.spots[path[:end]] = layer.name
    _relocate(layer, revision)
    return layer


def snapshot_layers(url: StoreURL, snapshot: Snapshot, ctx: ReadContext) -> list[Layer]:
    """One layer per entry, in name order; an entry that cannot be read gives a layer holding its issue."""
    layers: list[Layer] = []
    for name, entry in snapshot.entries.items():
        kind = entry_kind(name)
        if kind is None:
            layers.append(_leaf_layer(url, name, entry.text, entry.revision, ctx))
            continue
        layer = Layer("store", url.entry(name))
        if len(entry.text) > ctx.max_file_size:
            size = f"the entry is {len(entry.text)} characters, over the limit of {ctx.max_file_size}"
            where = Location("store", layer.name, revision=entry.revision)
            layer.issues.append(Issue("CONFIG_005", "", size, location=where))
            layers.append(layer)
            continue
        try:
            parse_document(entry.text, kind, layer, ctx)
        except ConfigFileError as exc:
            layer = Layer("store", url.entry(name))
            layer.issues.append(Issue(exc.code, exc.path, exc.message, hint=exc.hint, location=exc.location))
        _relocate(layer, entry.revision)
        layers.append(layer)
    return layers


# -- the stored text, placeholders kept: what push and pull compare and print ------------------------------


def _raw_document(text: str, kind: str) -> Any:
    text = _sized(text)
    if kind == "json":
        return json.loads(text)
    if kind == "toml":
        return tomllib.loads(text)
    return _bounded(yaml.load(text, Loader=_Loader))  # a safe loader


def stored_tree(texts: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The entries merged in name order as written (``${VAR}`` kept), and the names that cannot be read."""
    layers: list[Layer] = []
    unreadable: list[str] = []
    for name, text in sorted(texts.items()):
        kind = entry_kind(name)
        try:
            if kind is None:
                value: Any = _leaf_value(text)
                for part in reversed(_leaf_path(name)):
                    value = {part: value}
            else:
                value = _raw_document(text, kind)
        except (ValueError, yaml.YAMLError, RecursionError):
            unreadable.append(name)
            continue
        if not isinstance(value, dict):
            unreadable.append(name)
            continue
        layers.append(Layer("store", name, data=value))
    return merge(layers), unreadable


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""A key path absent on one side of a change."""


def _leaves(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    else:
        yield path, value


_PLACEHOLDER = "${"


def shown(path: KeyPath, value: Any) -> Any:
    """``value`` as it may be printed: under a secret-looking key only a bare ``${VAR}`` placeholder is
    shown (a default after ``:-`` may be the secret), anything else is ``**********``; URL passwords are
    masked everywhere. Secret means a secret-looking key on the way, or a field an installed module's
    schema types as a secret (``headers: dict[str, SecretStr]``, a ``SecretUrl``), as ``show`` hides."""
    if any(isinstance(part, str) and looks_secret(part) for part in path) or _schema_secret(path):
        if isinstance(value, str) and _is_bare_placeholder(value):
            return value
        return REDACTED
    if isinstance(value, str):
        return mask_userinfo(value)
    if isinstance(value, list):
        return [shown((*path, i), item) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: shown((*path, k), v) for k, v in value.items()}
    return value


def _schema_secret(path: KeyPath) -> bool:
    """True when an installed module's schema types the field at ``path`` (or one on the way) as a secret."""
    if len(path) < 2:
        return False
    module = installed()[0].get(str(path[0]))
    return module is not None and secret_typed(module.schema, tuple(path[1:]))


def _is_bare_placeholder(text: str) -> bool:
    if not (text.startswith(_PLACEHOLDER) and text.endswith("}")):
        return False
    name = text[2:-1]
    return bool(name) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key.path, old, new)`` for every leaf that differs, values as ``shown``; ``MISSING`` on the side
    where the key is absent. In key path order."""
    before = dict(_leaves(dict(old)))
    after = dict(_leaves(dict(new)))
    for side in (before, after):  # an empty configuration has no leaves, not an empty one at the root
        side.pop((), None)
    rows: list[tuple[str, Any, Any]] = []
    for path in sorted(before.keys() | after.keys(), key=lambda p: [str(part) for part in p]):
        a, b = before.get(path, MISSING), after.get(path, MISSING)
        if a is MISSING or b is MISSING or a != b or type(a) is not type(b):
            rows.append(
                (
                    format_path(path),
                    a if a is MISSING else shown(path, a),
                    b if b is MISSING else shown(path, b),
                )
            )
    return rows
