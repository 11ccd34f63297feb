"""Configuration files (YAML, JSON, TOML) read into layers that remember where each value sits.

YAML goes through libyaml's composer and our own safe constructor, which knows positions, reports
duplicate keys (PyYAML keeps the last silently), refuses unsafe tags and bounds alias expansion.
"""

from __future__ import annotations

import glob as globlib
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sharedconfig.config.issues import Issue, KeyPath
from sharedconfig.config.tree import InterpolationProblem as _Interp
from sharedconfig.config.tree import Layer, ReadContext, Spot, interpolate, number_problem
from sharedconfig.config.validation import PRODUCTION_PROFILES, did_you_mean
from sharedconfig.errors import ConfigFileError, Location
from sharedconfig.redaction import looks_secret

__all__ = [
    "FileSource",
    "ProfileSource",
    "expand",
    "interpolate_value",
    "parse_document",
    "profile_overlay",
    "read_file",
]

try:  # libyaml is in every PyYAML wheel; the pure-Python loader is a slow fallback
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}

_T = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _T + "str", _T + "map", _T + "seq", _T + "merge"
_constructor = SafeConstructor()
_SCALARS = {
    _T + tag: getattr(SafeConstructor, f"construct_yaml_{tag}")
    for tag in ("int", "float", "bool", "null", "timestamp")
}


def _fail(
    code: str,
    message: str,
    path: str,
    line: int | None = None,
    column: int | None = None,
    key: str = "",
    hint: str | None = None,
    cause: BaseException | None = None,
) -> ConfigFileError:
    return ConfigFileError(
        message, code=code, location=Location("file", path, line, column), path=key, hint=hint, cause=cause
    )


def _read_text(path: str, ctx: ReadContext) -> str:
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise _fail("CONFIG_003", "file not found", path, cause=exc) from None
    except OSError as exc:
        raise _fail("CONFIG_004", f"cannot read file: {exc.strerror}", path, cause=exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise _fail("CONFIG_004", "is a directory, not a file", path)
    if not stat.S_ISREG(info.st_mode):  # opening a FIFO would wait for a writer forever
        raise _fail(
            "CONFIG_004",
            "is not a regular file (a FIFO, socket or device): nothing to read",
            path,
            hint="Give the path of a regular file; a glob must not match pipes or devices.",
        )
    size = info.st_size
    if size > ctx.max_file_size:
        raise _fail("CONFIG_005", f"file is {size} bytes, over the limit of {ctx.max_file_size} bytes", path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(ctx.max_file_size + 1)
    except IsADirectoryError:
        raise _fail("CONFIG_004", "is a directory, not a file", path) from None
    except OSError as exc:
        raise _fail("CONFIG_004", f"cannot read file: {exc.strerror}", path, cause=exc) from None
    if len(raw) > ctx.max_file_size:
        raise _fail("CONFIG_005", f"file is over the limit of {ctx.max_file_size} bytes", path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _fail(
            "CONFIG_006",
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
            path,
            line,
            column,
        ) from None


class _YamlReader:
    """Builds plain data from a composed YAML node graph, recording positions and problems."""

    __slots__ = ("aliases", "budget", "building", "built", "chars", "ctx", "layer", "path", "scalars")

    def __init__(self, layer: Layer, ctx: ReadContext, *, aliases: bool = True) -> None:
        self.layer = layer
        self.ctx = ctx
        self.path = layer.name
        self.budget = ctx.max_alias_expansions
        self.built: dict[int, tuple[Any, int, int]] = {}  # node id -> (value, nodes, characters)
        self.scalars: set[int] = set()  # scalar nodes built once: seeing one again is an alias
        self.chars = 0  # characters of every scalar built, aliases' copies included
        # without an anchor ("&") in the text there is no alias, so no cycle and nothing to charge:
        # skipping that bookkeeping keeps bench/config_load.py's load at its ratio to the floor
        self.aliases = aliases
        self.building: set[int] = set()  # ids of the nodes being built now: an alias to one is a cycle

    def build(self, node: Node, where: KeyPath) -> Any:
        if self.aliases and id(node) in self.building:
            mark = node.start_mark
            raise _fail(
                "CONFIG_026",
                "an alias refers to a node that contains it: a recursive structure cannot be configuration",
                self.path,
                mark.line + 1,
                mark.column + 1,
                _dotted(where),
            )
        if len(where) > self.ctx.max_depth:
            mark = node.start_mark
            raise _too_deep(self.path, self.ctx, mark.line + 1, mark.column + 1, _dotted(where))
        seen = self.built.get(id(node))
        if seen is not None:  # an alias: the same node again
            self.spend(node, where, seen[1], seen[2])
            return seen[0]
        mark = node.start_mark
        self.layer.spots[where] = (mark.line + 1, mark.column + 1)
        if isinstance(node, ScalarNode):
            if not self.aliases:
                return self.scalar(node, where)
            if id(node) in self.scalars:  # an alias to a scalar: counts, and its text counts again
                self.spend(node, where, 1, len(node.value))
            else:
                self.scalars.add(id(node))
                self.chars += len(node.value)
            return self.scalar(node, where)
        before, chars_before = self.budget, self.chars
        if self.aliases:
            self.building.add(id(node))
        try:
            if isinstance(node, MappingNode):
                value: Any = self.mapping(node, where)
            elif isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    raise self.unsafe(node, where)
                value = [self.build(item, (*where, i)) for i, item in enumerate(node.value)]
            else:  # pragma: no cover - the composer makes only these three
                raise self.unsafe(node, where)
        finally:
            self.building.discard(id(node))
        count = 1 + len(node.value) + (before - self.budget)
        if isinstance(node, MappingNode) or len(node.value) > 0:
            self.built[id(node)] = (value, count, self.chars - chars_before)
        return value

    def spend(self, node: Node, where: KeyPath, values: int, chars: int) -> None:
        """Charge an alias's expansion to both budgets: values, and characters (so the output of
        ``show`` stays within a constant of the file's size)."""
        self.budget -= values
        self.chars += chars
        limit = self.ctx.max_file_size
        if self.budget >= 0 and self.chars <= limit:
            return
        mark = node.start_mark
        what = (
            f"more than {self.ctx.max_alias_expansions} values"
            if self.budget < 0
            else f"more than {limit} characters of text"
        )
        raise _fail(
            "CONFIG_011",
            f"aliases expand to {what} (a 'billion laughs' document?)",
            self.path,
            mark.line + 1,
            mark.column + 1,
            _dotted(where),
        )

    def unsafe(self, node: Node, where: KeyPath) -> ConfigFileError:
        mark = node.start_mark
        return _fail(
            "CONFIG_010",
            f"tag {node.tag!r} is not allowed",
            self.path,
            mark.line + 1,
            mark.column + 1,
            _dotted(where),
        )

    def scalar(self, node: ScalarNode, where: KeyPath) -> Any:
        tag = node.tag
        if tag == _STR:
            text: str = node.value
            if "$" in text:
                return self.interpolate(text, node, where)
            return text
        construct = _SCALARS.get(tag)
        if construct is None:
            raise self.unsafe(node, where)
        try:
            return construct(_constructor, node)
        except (ValueError, yaml.YAMLError) as exc:
            mark = node.start_mark
            raise _fail(
                "CONFIG_007",
                _cannot_read(node.value, tag.rsplit(":", 1)[-1], exc, where),
                self.path,
                mark.line + 1,
                mark.column + 1,
                _dotted(where),
            ) from None

    def interpolate(self, text: str, node: ScalarNode, where: KeyPath) -> str:
        mark = node.start_mark
        return _substitute(text, where, self.layer, self.ctx, (mark.line + 1, mark.column + 1))

    def mapping(self, node: MappingNode, where: KeyPath) -> dict[str, Any]:
        if node.tag != _MAP:
            raise self.unsafe(node, where)
        out: dict[str, Any] = {}
        first: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merge_keys(out, value_node, where)
                continue
            if not isinstance(key_node, ScalarNode):
                mark = key_node.start_mark
                raise _fail(
                    "CONFIG_007",
                    "a mapping key must be a plain value, not a list or mapping",
                    self.path,
                    mark.line + 1,
                    mark.column + 1,
                    _dotted(where),
                )
            key = key_node.value if key_node.tag == _STR else str(self.scalar(key_node, where))
            if key in first:
                prev, mark = first[key].start_mark, key_node.start_mark
                raise _fail(
                    "CONFIG_009",
                    f"duplicate key {key!r}: first at line {prev.line + 1}, again at line {mark.line + 1}",
                    self.path,
                    mark.line + 1,
                    mark.column + 1,
                    _dotted((*where, key)),
                )
            first[key] = key_node
            out[key] = self.build(value_node, (*where, key))
            mark = key_node.start_mark  # a key's position is where people look for it
            self.layer.spots[(*where, key)] = (mark.line + 1, mark.column + 1)
        return out

    def merge_keys(self, out: dict[str, Any], value_node: Node, where: KeyPath) -> None:
        """YAML's ``<<: *defaults``: keys from the merged mappings, explicit keys win."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for src in sources:
            merged = self.build(src, where)
            if not isinstance(merged, dict):
                mark = src.start_mark
                raise _fail(
                    "CONFIG_007",
                    "'<<' merges mappings only",
                    self.path,
                    mark.line + 1,
                    mark.column + 1,
                    _dotted(where),
                )
            for key, value in merged.items():
                out.setdefault(key, value)


def _substitute(text: str, where: KeyPath, layer: Layer, ctx: ReadContext, spot: Spot | None) -> str:
    """Interpolate one string value; record a problem, or mark the value interpolated (and secret)."""
    try:
        out, used = interpolate(text, ctx.variables)
    except _Interp as exc:
        layer.problem(exc.code, where, exc.message, spot=spot)
        return text
    if used:
        layer.interpolated.add(where)
        # secret when a variable came from the secrets directory, or is named like a secret
        # (DB_PASSWORD, API_TOKEN) whoever supplied it: env, .env or the secrets directory
        if not used.isdisjoint(ctx.secret_variables) or any(looks_secret(name) for name in used):
            layer.secret.add(where)
    return out


def _dotted(where: KeyPath) -> str:
    return ".".join(str(p) for p in where)


_KEY_LINE = re.compile(r"^( *)(?:- +)?([^\s#:'\"\[\]{},&*!|>%@`-][^:#]*?|'[^']*'|\"[^\"]*\") *:(?: |$)")


def _path_at(text: str, line: int) -> str:
    """The key path that encloses ``line`` (1-based), read from block indentation.

    A syntax error has no parsed tree to ask, but the indentation of the lines above it says which keys
    it sits under; flow collections and list indexes are not tracked (the path stops at their key).
    """
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines()[: max(line, 1)]:
        m = _KEY_LINE.match(raw.expandtabs(4))  # a tab meant some indentation: read it as an editor would
        if m is None:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2).strip("'\"")))
    return ".".join(key for _, key in stack)


def _excerpt(text: str, limit: int = 40) -> str:
    """``text`` quoted, cut to ``limit`` characters with its length said: an error never repeats a
    5,000-digit number."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _cannot_read(value: str, kind: str, exc: Exception, where: KeyPath) -> str:
    """Why a scalar could not be read: an excerpt of it and the reason, or, under a secret-looking key,
    neither (the parser's reason quotes the value too)."""
    if any(isinstance(part, str) and looks_secret(part) for part in where):
        return f"cannot read the value as {kind} ({len(value)} characters, not shown: the key looks secret)"
    return f"cannot read {_excerpt(value)} as {kind}: {number_problem(exc)}"


def _too_deep(path: str, ctx: ReadContext, line: int | None, column: int | None, key: str) -> ConfigFileError:
    return _fail(
        "CONFIG_026",
        f"the document nests mappings and lists more than {ctx.max_depth} levels deep",
        path,
        line,
        column,
        key,
    )


def _codepoint(character: object) -> str:
    code = character if isinstance(character, int) else ord(str(character)[:1] or "\0")
    return f"U+{code:04X}"


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _yaml_error(exc: yaml.YAMLError, path: str, text: str) -> ConfigFileError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses (NUL, say): it has an offset
        line, column = _line_column(text, exc.position)
        return _fail(
            "CONFIG_007",
            f"YAML syntax error: character {_codepoint(exc.character)} is not allowed in YAML "
            "(control characters, NUL included, are refused)",
            path,
            line,
            column,
            _path_at(text, line),
        )
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    key = _path_at(text, line) if line is not None else ""
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return _fail("CONFIG_008", "tab character used for indentation", path, line, column, key)
    message = f"{context}, {problem}" if context else problem
    return _fail("CONFIG_007", f"YAML syntax error: {message}", path, line, column, key)


def _read_yaml(text: str, layer: Layer, ctx: ReadContext) -> dict[str, Any]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, layer.name, text) from None
    except RecursionError:  # block nesting deeper than the composer's recursion allows
        raise _too_deep(layer.name, ctx, None, None, "") from None
    finally:
        loader.dispose()
    if node is None or (isinstance(node, ScalarNode) and node.tag == _T + "null"):
        raise _fail("CONFIG_012", "file is empty (or holds only comments)", layer.name, 1, 1)
    data = _YamlReader(layer, ctx, aliases="&" in text).build(node, ())
    if not isinstance(data, dict):
        raise _fail(
            "CONFIG_013",
            f"the top level is a {type(data).__name__}, not a mapping",
            layer.name,
            node.start_mark.line + 1,
            node.start_mark.column + 1,
        )
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _interpolate_tree(value: Any, where: KeyPath, layer: Layer, ctx: ReadContext) -> Any:
    """Interpolate every string of a JSON/TOML document; positions are per file for these formats."""
    if len(where) > ctx.max_depth:
        raise _too_deep(layer.name, ctx, None, None, _dotted(where))
    layer.spots[where] = layer.name  # JSON and TOML positions are not kept: provenance names the file
    if isinstance(value, dict):
        return {k: _interpolate_tree(v, (*where, k), layer, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(v, (*where, i), layer, ctx) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        return _substitute(value, where, layer, ctx, None)
    return value


def read_file(path: str | os.PathLike[str], ctx: ReadContext | None = None) -> Layer:
    """Read one configuration file into a layer; raises ``ConfigFileError`` when it cannot be read."""
    ctx = ctx or ReadContext()
    name = os.fspath(path)
    kind = SUFFIXES.get(Path(name).suffix.lower())
    if kind is None:
        raise _fail("CONFIG_014", f"cannot tell the format of {Path(name).name!r} from its extension", name)
    layer = Layer("file", name)
    parse_document(_read_text(name, ctx), kind, layer, ctx)
    return layer


def parse_document(text: str, kind: str, layer: Layer, ctx: ReadContext) -> None:
    """Parse ``text``, a ``yaml``, ``json`` or ``toml`` document named ``layer.name``, into ``layer``
    (data, positions, interpolation); raises ``ConfigFileError`` located at ``layer.name``.

    Files and the documents of a shared store (``config/stores``) are read by this one function.
    """
    name = layer.name
    if kind == "yaml":
        layer.data = _read_yaml(text, layer, ctx)
        return
    if not text.strip():
        raise _fail("CONFIG_012", "file is empty", name, 1, 1)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates) if kind == "json" else tomllib.loads(text)
    except _Duplicate as exc:
        raise _fail("CONFIG_009", f"duplicate key {exc.key!r}", name, key=exc.key) from None
    except RecursionError:  # nesting deeper than the parser's recursion allows
        raise _too_deep(name, ctx, None, None, "") from None
    except json.JSONDecodeError as exc:
        raise _fail("CONFIG_007", f"JSON syntax error: {exc.msg}", name, exc.lineno, exc.colno) from None
    except tomllib.TOMLDecodeError as exc:
        line, column = _toml_position(str(exc))
        code = "CONFIG_009" if "overwrite" in str(exc) or "defined" in str(exc) else "CONFIG_007"
        raise _fail(code, f"TOML error: {exc}", name, line, column) from None
    except ValueError as exc:  # a JSON integer past Python's digit limit (after the decode errors above)
        raise _fail("CONFIG_007", f"JSON number cannot be read: {number_problem(exc)}", name) from None
    if not isinstance(data, dict):
        raise _fail("CONFIG_013", f"the top level is a {type(data).__name__}, not a mapping", name, 1, 1)
    layer.data = _interpolate_tree(data, (), layer, ctx)


def interpolate_value(value: Any, where: KeyPath, layer: Layer, ctx: ReadContext) -> Any:
    """``value`` (plain data set at ``where`` in ``layer``) with ``${VAR}`` interpolated in every string,
    as in a JSON file: problems recorded on the layer, interpolated (and secret) paths marked."""
    return _interpolate_tree(value, where, layer, ctx)


def _toml_position(message: str) -> tuple[int | None, int | None]:
    # tomllib says "... (at line 3, column 7)"
    m = re.search(r"line (\d+), column (\d+)", message)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def expand(patterns: Iterable[str | os.PathLike[str]]) -> list[str]:
    """File names for the given paths and globs, in order; a glob's matches are sorted.

    A glob never matches profile overlays of its own matches (``app.prod.yaml`` beside ``app.yaml``):
    those are read only under their profile.
    """
    out: list[str] = []
    for pattern in patterns:
        name = os.fspath(pattern)
        if globlib.has_magic(name) and not os.path.lexists(name):  # a file really named "app[1].yaml" wins
            matches = sorted(globlib.glob(name))
            out.extend(m for m in matches if not _is_overlay(m, matches))
        else:
            out.append(name)
    return out


def _is_overlay(name: str, names: Sequence[str]) -> bool:
    p = Path(name)
    base, dot, _profile = p.stem.rpartition(".")
    return bool(dot) and str(p.with_name(f"{base}{p.suffix}")) in names


def profile_overlay(path: str, profile: str) -> str:
    """``app.yaml`` with profile ``production`` -> ``app.production.yaml`` beside it."""
    p = Path(path)
    return str(p.with_name(f"{p.stem}.{profile}{p.suffix}"))


def _read_all(names: Sequence[str], ctx: ReadContext, *, optional: bool) -> list[Layer]:
    layers: list[Layer] = []
    for name in names:
        if optional and not os.path.exists(name):
            continue
        try:
            layers.append(read_file(name, ctx))
        except ConfigFileError as exc:
            failed = Layer("file", name)
            failed.issues.append(_as_issue(exc))
            layers.append(failed)
    return layers


def _as_issue(exc: ConfigFileError) -> Issue:
    return Issue(exc.code, exc.path, exc.message, hint=exc.hint, location=exc.location)


@dataclass(frozen=True, slots=True)
class FileSource:
    """Configuration files and globs, in the order given; a missing named file is an error."""

    files: tuple[str, ...]

    def read(self, ctx: ReadContext) -> list[Layer]:
        """One layer per file; a file that cannot be read gives a layer holding only its issue."""
        layers = _read_all(expand(self.files), ctx, optional=False)
        for pattern in self.files:
            if globlib.has_magic(pattern) and not os.path.lexists(pattern) and not globlib.glob(pattern):
                empty = Layer("file", pattern)
                wildcard = "*" in pattern or "?" in pattern
                # a glob that matches nothing may be fine (no drop-in files yet); a name whose only "glob"
                # is [...] is a file that is missing, and a missing file is an error
                empty.issues.append(
                    Issue(
                        "CONFIG_003",
                        "",
                        f"no file matches {pattern!r}" if wildcard else "file not found",
                        severity="warning" if wildcard else "error",
                        hint=""
                        if wildcard
                        else "Check the path; [ ] in a name are also read as a glob class.",
                        location=Location("file", pattern),
                    )
                )
                layers.append(empty)
        return layers


@dataclass(frozen=True, slots=True)
class ProfileSource:
    """The profile overlays (``app.<profile>.yaml`` beside each file), read when they exist; a profile
    with none anywhere is a CONFIG_027 warning."""

    files: tuple[str, ...]
    profile: str | None

    def read(self, ctx: ReadContext) -> list[Layer]:
        """One layer per overlay that exists; when none exists anywhere, a layer holding only a
        CONFIG_027 warning (a misspelt ``--profile prodution`` would otherwise read nothing, silently)."""
        if not self.profile:
            return []
        files = expand(self.files)
        names = [profile_overlay(n, self.profile) for n in files]
        layers = _read_all(names, ctx, optional=True)
        if names and not layers:
            found = sorted(_profiles_beside(files))
            # a production profile switches on the production checks, so with no overlays in use at all
            # it still does something: only a profile that does nothing is a likely mistake
            if found or self.profile not in PRODUCTION_PROFILES:
                missing = Layer("file", names[0])
                missing.issues.append(_no_overlay(self.profile, names, found))
                layers.append(missing)
        return layers


def _no_overlay(profile: str, names: Sequence[str], found: Sequence[str]) -> Issue:
    """CONFIG_027: where the overlays of ``profile`` were looked for, and the profiles that do exist."""
    places = list(dict.fromkeys(names))  # a file given twice is looked beside once
    shown = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
    suggestion = did_you_mean(profile, found)
    hint = f"Did you mean profile {suggestion!r}? " if suggestion else ""
    if found:
        hint += f"Overlays exist for: {', '.join(found)}."
    else:
        hint += (
            "No overlay exists beside these files for any profile: check the profile name "
            "(profile=, --profile or $SHAREDCONFIG_PROFILE)."
        )
    return Issue(
        "CONFIG_027",
        "",
        f"profile {profile!r} has no overlay file: looked for {shown}",
        severity="warning",
        hint=hint,
        location=Location("option", "profile"),
    )


def _profiles_beside(files: Iterable[str]) -> set[str]:
    """The profiles with an overlay (``<stem>.<profile>.<ext>``) beside any of ``files``."""
    found: set[str] = set()
    for name in files:
        p = Path(name)
        prefix = f"{p.stem}."
        pattern = globlib.escape(str(p.with_name(prefix))) + "*" + globlib.escape(p.suffix)
        for match in globlib.glob(pattern):
            middle = Path(match).name[len(prefix) : len(Path(match).name) - len(p.suffix)]
            if middle and os.path.isfile(match):
                found.add(middle)
    return found
