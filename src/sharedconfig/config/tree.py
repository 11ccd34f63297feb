"""Layers of configuration, merged with provenance per value, and ``${VAR}`` interpolation.

A ``Layer`` is what one source produced (data, where each value came from, issues found while reading);
``merge`` folds layers low to high into one tree; ``Provenance`` answers "where did this value come from".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sharedconfig.config.issues import Issue, KeyPath, format_path, key_path
from sharedconfig.errors import Location
from sharedconfig.redaction import REDACTED, looks_secret

T = TypeVar("T")

__all__ = [
    "REDACTED",
    "Layer",
    "Provenance",
    "ReadContext",
    "interpolate",
    "looks_secret",
    "mark_spots",
    "merge",
    "number_problem",
    "set_path",
]

# where a value sits in its source: (line, column) in a file, the file itself (JSON, TOML, defaults), or
# the whole origin (an env variable, a .env line, a secret file, an override: built by the source)
Spot = tuple[int, int] | str | Location


def number_problem(exc: Exception) -> str:
    """Why a parser could not read a number, without repeating it (it may be 5,000 digits long)."""
    digits = re.search(r"limit \((\d+) digits\)", str(exc))
    if digits:
        return f"an integer has more than {digits.group(1)} digits, the most Python reads"
    text = str(exc)
    return repr(text) if len(text) <= 200 else f"{text[:200]!r}... ({len(text)} characters)"


def nesting(value: object) -> int:
    """How many mappings and lists deep ``value`` goes (0 for a scalar), counted without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
    return deepest


@dataclass(frozen=True, slots=True)
class ReadContext:
    """What every source may need: interpolation variables and the reading limits."""

    variables: Mapping[str, str] = field(default_factory=dict)
    secret_variables: frozenset[str] = frozenset()
    max_file_size: int = 10 * 1024 * 1024
    max_alias_expansions: int = 10_000
    max_depth: int = 100  # nesting of mappings and lists; configuration needs a handful of levels
    # what one load already read (the .env file, the secrets directory), so no source reads it twice
    cache: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False)

    def once(self, kind: str, path: str, read: Callable[[], T]) -> T:
        """``read()`` the first time ``(kind, path)`` is asked for in this load; the same result after."""
        key = (kind, path)
        if key not in self.cache:
            self.cache[key] = read()
        result: T = self.cache[key]
        return result


@dataclass(slots=True)
class Layer:
    """One source's contribution: its data and where each value in it came from."""

    source: str  # "default", "file", "dotenv", "secret", "env", "override", "remote"
    name: str  # file path, "environment", ...
    data: dict[str, Any] = field(default_factory=dict)
    spots: dict[KeyPath, Spot] = field(default_factory=dict)
    interpolated: set[KeyPath] = field(default_factory=set)
    secret: set[KeyPath] = field(default_factory=set)
    issues: list[Issue] = field(default_factory=list)

    def location(self, path: KeyPath) -> Location | None:
        """The location of ``path`` in this layer, or None when the layer does not set it."""
        spot = self.spots.get(path)
        if spot is None:
            return None
        if isinstance(spot, Location):
            return spot
        if isinstance(spot, str):
            return Location(self.source, spot, interpolated=path in self.interpolated)
        return Location(self.source, self.name, spot[0], spot[1], interpolated=path in self.interpolated)

    def nearest(self, path: KeyPath) -> Location | None:
        """Where this layer set ``path``, its nearest ancestor, or else the first value below it (an
        override ``storage.endpoint.x=1`` is what sets keys below ``storage.endpoint``)."""
        for end in range(len(path), -1, -1):
            found = self.location(path[:end])
            if found is not None:
                return found
        return self.below(path)

    def below(self, path: KeyPath) -> Location | None:
        """The location of the first value this layer set below ``path``, or None."""
        size = len(path)
        first = next((p for p in self.spots if p[:size] == path and len(p) > size), None)
        return self.location(first) if first is not None else None

    def problem(
        self, code: str, path: KeyPath, message: str, *, spot: Spot | None = None, hint: str = ""
    ) -> None:
        """Record an issue found while reading, located in this layer."""
        if isinstance(spot, Location):
            loc: Location | None = spot
        elif isinstance(spot, tuple):
            loc = Location(self.source, self.name, spot[0], spot[1])
        elif isinstance(spot, str):
            loc = Location(self.source, spot)
        else:
            loc = self.nearest(path) or Location(self.source, "" if self.source == "env" else self.name)
        self.issues.append(Issue(code, format_path(path), message, hint=hint, location=loc))

    def put(self, path: KeyPath, value: Any, spot: Spot) -> None:
        """Set ``value`` at ``path`` from ``spot``: what this layer set there before, or at a list or
        scalar above it, is replaced, and its spots go with it (``A__B=1`` then ``A__B__C=2``)."""
        replaced = path  # the value set_path replaces: at ``path``, or a list or scalar above it
        for end in range(1, len(path)):
            above, _ = self.node(path[:end])
            if above is not _ABSENT and not isinstance(above, dict):
                replaced = path[:end]
                break
        size = len(replaced)
        for old in [p for p in self.spots if p[:size] == replaced]:
            del self.spots[old]
            self.secret.discard(old)
            self.interpolated.discard(old)
        set_path(self.data, path, value)
        mark_spots(self, value, path, spot)

    def node(self, path: KeyPath) -> tuple[Any, bool]:
        """The value this layer's data holds at ``path`` (``_ABSENT`` when none), and whether the walk
        stopped at a list or scalar above it: ``(value, stopped)``."""
        node: Any = self.data
        for part in path:
            if type(node) is not dict:  # the data of a layer is plain dicts; no ABC check on this path
                return _ABSENT, True
            nxt = node.get(part, _ABSENT)
            if nxt is _ABSENT and isinstance(part, str) and part.isascii() and part.isdigit():
                nxt = node.get(int(part), _ABSENT)  # a digit key part kept as int in the layer
            if nxt is _ABSENT:
                return _ABSENT, False
            node = nxt
        return node, False


_ABSENT = object()


def concealed(location: Location, secret_at: Callable[[KeyPath], bool] | None) -> Location:
    """``location`` with an override's value replaced by ``**********`` when ``secret_at`` says its key
    holds a secret (a value already hidden, or shown as ``[...]``/``{...}``, is left as it is)."""
    if (
        secret_at is None
        or location.source != "override"
        or location.value in (None, REDACTED, "[...]", "{...}")
        or not secret_at(key_path(location.name.split(".")))
    ):
        return location
    return replace(location, value=REDACTED)


def _replaced(lower: Any, mapping: Any) -> bool:
    """True when merging ``mapping`` over ``lower`` replaces it rather than merging into it."""
    if isinstance(lower, dict):
        return False
    return not (isinstance(lower, list) and _indexed(mapping))


class Provenance:
    """Where each value of the merged tree came from: the highest layer that set it wins."""

    __slots__ = ("layers", "secret_at")

    def __init__(self, layers: Sequence[Layer] = ()) -> None:
        self.layers = tuple(layers)
        self.secret_at: Callable[[KeyPath], bool] | None = None

    def conceal(self, secret_at: Callable[[KeyPath], bool]) -> None:
        """Learn which key paths are secret by schema (validation tells, once it knows the types): the
        origin of an override there never shows its value."""
        self.secret_at = secret_at

    def origin(self, path: KeyPath) -> Location | None:
        """The exact origin of ``path``: the highest layer that set it, unless a higher one replaced a
        list or value above it whole; None means the value is a schema default.

        A higher layer that sets keys below a lower layer's list or scalar (``SHAREDCONFIG_A__B__C`` over
        ``a.b: text`` in a file) replaced it with a mapping: its first key below is the origin."""
        layer = self._winner(path)
        if layer is None:
            return None
        # no spot at ``path`` itself: the layer put keys below it over a lower list or scalar
        found = layer.location(path) or layer.below(path) or layer.nearest(path)
        return concealed(found, self.secret_at) if found is not None else None

    def _winner(self, path: KeyPath) -> Layer | None:
        """The layer whose value is at ``path`` in the merged tree, or None (a default, or gone)."""
        replacing: Layer | None = None  # the highest layer seen that sets keys below ``path``
        for layer in reversed(self.layers):
            if path in layer.spots:
                if replacing is not None and _replaced(layer.node(path)[0], replacing.node(path)[0]):
                    return replacing
                return layer
            if not layer.data:
                continue
            value, stopped = layer.node(path)
            if stopped:
                return None
            if replacing is None and type(value) is dict:
                replacing = layer
        return replacing

    def locate(self, path: KeyPath) -> Location | None:
        """Where to point an issue about ``path``: its origin or its nearest ancestor's; else the first
        value a source set below it or below its nearest ancestor (``SHAREDCONFIG_STORAGE__BUCKET`` sets
        ``storage.bucket`` only, and is where a missing ``storage.endpoint`` is reported)."""
        for end in range(len(path), 0, -1):
            found = self.origin(path[:end])
            if found is not None:
                return found
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            for layer in reversed(self.layers):
                for spot_path in layer.spots:
                    if spot_path[:end] == prefix and self._winner(spot_path) is layer:
                        return layer.location(spot_path)
        return None

    def is_secret(self, path: KeyPath) -> bool:
        """True when the value came from a secret (secrets dir, or interpolated from one)."""
        layer = self._winner(path)
        return layer is not None and path in layer.secret


def set_path(data: dict[str, Any], path: KeyPath, value: Any) -> None:
    """Set ``value`` at ``path`` in nested dicts, creating them (int parts stay int keys until merge)."""
    node: dict[Any, Any] = data
    for part in path[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[path[-1]] = value


def mark_spots(layer: Layer, value: Any, path: KeyPath, spot: Spot) -> None:
    """Record ``spot`` for ``path`` and every value below it (a JSON env value, an override, defaults)."""
    layer.spots[path] = spot
    if isinstance(value, Mapping):
        for k, v in value.items():
            mark_spots(layer, v, (*path, k), spot)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            mark_spots(layer, v, (*path, i), spot)


def _indexed(value: dict[Any, Any]) -> bool:
    return bool(value) and all(isinstance(k, int) for k in value)


def _merge_into(base: Any, top: Any, path: KeyPath, layer: Layer) -> Any:
    if isinstance(top, dict):
        if isinstance(base, list) and _indexed(top):
            out_list = list(base)
            for index, value in top.items():
                if index < len(out_list):
                    out_list[index] = _merge_into(out_list[index], value, (*path, index), layer)
                elif index == len(out_list):
                    out_list.append(_merge_into(None, value, (*path, index), layer))
                else:
                    layer.problem(
                        "CONFIG_024",
                        (*path, index),
                        f"index {index} is out of range: the list has {len(out_list)} items",
                    )
            return out_list
        if isinstance(base, dict):
            out = dict(base)
            for key, value in top.items():
                k = _mapping_key(key, path, layer) if key not in out else key
                out[k] = _merge_into(out.get(k), value, (*path, k), layer)
            return out
        if base is not None and not isinstance(base, dict):
            layer.problem(
                "CONFIG_024",
                path,
                f"{layer.source} sets keys below {format_path(path) or 'the root'}, "
                f"which is a {type(base).__name__} in a lower source; the mapping replaces it",
            )
        if _indexed(top) and sorted(top) == list(range(len(top))):
            return [_merge_into(None, top[i], (*path, i), layer) for i in range(len(top))]
        out = {}
        for key, value in top.items():
            k = _mapping_key(key, path, layer)
            out[k] = _merge_into(None, value, (*path, k), layer)
        return out
    return top


def _mapping_key(key: Any, path: KeyPath, layer: Layer) -> Any:
    """``key`` as a key of a mapping in the tree: a digit part (``TAGS__1``) that lands in a mapping is the
    string "1" there, and what ``layer`` recorded below it (origin, secret, interpolated) moves with it, so
    provenance and redaction find the value under the key the tree has."""
    if not isinstance(key, int):
        return key
    old, new = (*path, key), (*path, str(key))
    size = len(old)
    for spot_path in [p for p in layer.spots if p[:size] == old]:
        layer.spots[(*new, *spot_path[size:])] = layer.spots.pop(spot_path)
    for marks in (layer.secret, layer.interpolated):
        moved = {p for p in marks if p[:size] == old}
        marks.difference_update(moved)
        marks.update((*new, *p[size:]) for p in moved)
    return new[-1]


def merge(layers: Iterable[Layer]) -> dict[str, Any]:
    """Deep-merge layers low to high: mappings merge key by key, anything else is replaced.

    Index paths (``exporters.1.api_key`` from env vars or overrides) reach into lists.
    """
    tree: dict[str, Any] = {}
    for layer in layers:
        if layer.data:
            tree = _merge_into(tree, layer.data, (), layer)
    return tree


_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)(.*))?", re.DOTALL)


class InterpolationProblem(Exception):
    """Raised inside ``interpolate``: code and message for the issue at the value's path."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def interpolate(text: str, variables: Mapping[str, str]) -> tuple[str, set[str]]:
    """Replace ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``; ``$${`` is a literal ``${``.

    Returns the new text and the names of the variables used. Every missing variable is reported at
    once (one ``InterpolationProblem`` naming them all). As in the shell, ``:?`` also refuses a variable
    that is set but empty (and ``:-`` uses its default for one).
    """
    used: set[str] = set()
    missing: list[str] = []
    empty: list[str] = []
    messages: list[str] = []

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "$${":
            return "${"
        inner = m.group(1)
        if inner is None:
            raise InterpolationProblem("CONFIG_016", "unterminated '${': add the closing '}'")
        spec = _NAME.fullmatch(inner)
        if spec is None:
            raise InterpolationProblem("CONFIG_016", f"'${{{inner}}}' is not a valid reference")
        name, op, arg = spec.groups()
        if arg and "${" in arg:
            raise InterpolationProblem(
                "CONFIG_016", f"'${{{inner}}}': a default cannot hold another ${{...}}"
            )
        value = variables.get(name)
        if op == ":-":
            if value:
                used.add(name)
                return value
            return arg or ""
        if value is None or (op == ":?" and not value):
            (missing if value is None else empty).append(name)
            if op == ":?" and arg:
                messages.append(f"{name}: {arg}")
            return token
        used.add(name)
        return value

    out = _VAR.sub(repl, text)
    if missing or empty:
        parts = []
        if missing:
            parts.append(f"{', '.join(missing)} not set")
        if empty:
            parts.append(f"{', '.join(empty)} {'are' if len(empty) > 1 else 'is'} empty")
        detail = f" ({'; '.join(messages)})" if messages else ""
        plural = "s" if len(missing) + len(empty) > 1 else ""
        raise InterpolationProblem("CONFIG_015", f"environment variable{plural} {'; '.join(parts)}{detail}")
    return out, used
