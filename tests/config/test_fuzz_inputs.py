"""Fuzz every configuration input path: the outcome is a valid Config or coded, located issues, nothing else.

Hostile-but-plausible inputs go through ``check()``, ``load()`` and the CLI: files of each format (documents
generated from the schema's own key names, byte mutations of valid files, hand-written YAML/JSON/TOML
traps), the environment (prefixed, ``__``-nested, JSON values), ``--set``, a secrets directory of odd
files, ``.env`` files with odd bytes, and ``${VAR}`` / ``${VAR:-d}`` / ``${VAR:?m}`` interpolation.

The property, for every example:

- nothing but the documented outcome: a ``Config`` when the report has no error, otherwise
  ``ConfigValidationError`` (CONFIG_002) from ``load()``; never another exception;
- every issue has a registered code and a location that points into the inputs (a file given,
  ``$VAR``, ``FILE:LINE VAR`` of the .env file, ``--set KEY=VALUE``, a file of the secrets directory);
- every rendering (the issue lines, ``--format json``, ``str()`` of the error, ``show`` in YAML, JSON and
  ``--explain``) is at most ``OUTPUT_PER_INPUT_BYTE`` characters per input byte plus ``OUTPUT_BASE``;
- a value the docs call secret (secrets-directory contents, values of secret-looking variables or keys)
  appears in no output, and CLI output can be written to a UTF-8 terminal;
- each example finishes within the hypothesis deadline (and a hard limit stops a hang).

``make test`` runs a bounded, derandomized number of examples per target (``SHAREDCONFIG_FUZZ_EXAMPLES``
raises it, randomized, and ``make fuzz`` does so with a large count).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharedconfig import check, load
from sharedconfig.cli.main import main
from sharedconfig.config.issues import Issue
from sharedconfig.config.loader import Outcome
from sharedconfig.config.schema import config_schema
from sharedconfig.errors import REGISTRY, ConfigValidationError, Location
from sharedconfig.redaction import looks_secret

ROOT = Path(__file__).resolve().parents[2]

_COUNT = os.environ.get("SHAREDCONFIG_FUZZ_EXAMPLES")
EXAMPLES = int(_COUNT) if _COUNT else 40
"""Examples per target: a bounded number in ``make test``, many more under ``make fuzz``."""

OUTPUT_PER_INPUT_BYTE = 64
"""Characters of one rendering per byte of input: an issue line names its file and adds a hint, so a
4-byte ``a: 1`` costs a few hundred characters; an amplification (aliases, repeated digits) costs far more."""

OUTPUT_BASE = 256 * 1024
"""Characters any rendering may use whatever the input: the schema defaults ``show`` prints for every
module, and the fixed hints."""

HARD_LIMIT = 20.0
"""Real seconds after which an example is stopped as a hang (the deadline reports mere slowness)."""

settings.register_profile(
    "sharedconfig-fuzz",
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=2),
    derandomize=_COUNT is None,  # make test: the same examples every run; make fuzz: new ones
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)
FUZZ = settings.get_profile("sharedconfig-fuzz")
CLI_FUZZ = settings(FUZZ, max_examples=max(EXAMPLES // 2, 10))  # five CLI runs per example


# --- vocabulary ------------------------------------------------------------------------------------------


def _schema_words() -> tuple[list[str], list[str]]:
    """Every property name and every enum/const string of the configuration's JSON Schema."""
    keys: set[str] = set()
    words: set[str] = set()
    stack: list[Any] = [config_schema(None)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                keys.update(props)
            for name in ("enum", "const"):
                values = node.get(name)
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, str):
                        words.add(value)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(keys), sorted(words)


SCHEMA_KEYS, SCHEMA_WORDS = _schema_words()
MODULES = ["http", "monitoring", "pipeline", "security", "storage", "triggers", "validation"]
SECRET_KEYS = ["password", "api_key", "token", "secret_key", "access_key", "webhook_url", "X-Api-Key"]
ODD_KEYS = [
    "",
    " ",
    "__",
    "_",
    "a.b",
    "a..b",
    "²",
    "٣",
    "0",
    "1",
    "-1",
    "00",
    "ǅ",
    "ß",
    "İ",
    "ﬁ",
    "<<",
    "~",
    "null",
    "true",
    "1e309",
    "${X}",
    "&a",
    "*a",
    "!!str",
    "😀",
    "\u202e",
    "a\nb",
    "a: b",
    "#c",
    "k" * 300,
    "\t",
    "\x00",
    "\x85",
    "\ufeff",
]
ODD_STRINGS = [
    "30s",
    "1h30m",
    "30 seconds",
    "-5s",
    "0s",
    "9" * 300 + "s",
    "2GiB",
    "2 gigs",
    "1.5GB",
    "http://user:pw@host:9090",
    "redis://app:p%40ss@cache:6379/0",
    "https://h",
    "api.example.com",
    "http://[::1",
    "*/5 * * * *",
    "every night",
    "@daily",
    "true",
    "yes",
    "null",
    "1e309",
    "NaN",
    "-0",
    "9" * 60,
    "",
    " ",
    "$",
    "$${X}",
    "\x00",
    "\r\n",
    "a" * 500,
    "ǅ²٣",
    "\U0010ffff",
]
VARIABLES = ["BUCKET", "RATE", "X", "A", "B", "EMPTY", "DB_PASSWORD", "API_TOKEN", "Ü", "lower", "_U"]
PLAIN_VARIABLES = [v for v in VARIABLES if not looks_secret(v)]
PROFILES = ["production", "prod", "dev", "a.b", "ü", "-x", "*"]

CANARY = re.compile(r"Cnry[0-9a-f]{6}Zq")
canaries = st.integers(0, 0xFFFFFF).map(lambda n: f"Cnry{n:06x}Zq")
"""A secret planted where the docs promise it is never shown; found again by ``CANARY`` in the inputs."""

small_text = st.text(max_size=12)
keys = st.one_of(st.sampled_from(SCHEMA_KEYS), st.sampled_from(ODD_KEYS), small_text)
yaml_keys = st.one_of(keys, st.integers(-5, 5), st.none(), st.booleans(), st.just(1.5))


@st.composite
def references(draw: st.DrawFn) -> str:
    """One ``${...}`` piece, well-formed or not."""
    name = draw(st.sampled_from(VARIABLES))
    arg = draw(st.text(max_size=8))
    return draw(
        st.sampled_from(
            [
                f"${{{name}}}",
                f"${{{name}:-{arg}}}",
                f"${{{name}:?{arg}}}",
                "$${",
                "${",
                "${}",
                "${1BAD}",
                "${A:-${B}}",
                "${A:=x}",
                "${A",
                "$$",
                "${A}${B}",
                "${ A }",
                "${A:-}",
                "${A:?}",
                "${" + "A" * 300 + "}",
            ]
        )
    )


interpolated = st.lists(st.one_of(references(), small_text), min_size=1, max_size=5).map("".join)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(ODD_STRINGS),
    st.sampled_from(SCHEMA_WORDS),
    st.text(max_size=30),
    interpolated,
)


def _nested(key_strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key_strategy, inner, max_size=5),
        max_leaves=25,
    )


@st.composite
def documents(draw: st.DrawFn, key_strategy: st.SearchStrategy[Any] = keys) -> dict[Any, Any]:
    """A nested mapping of module names to sections built from the schema's key names and odd ones; some
    strings under secret-looking keys carry a canary."""
    top = st.one_of(st.sampled_from(MODULES), key_strategy)
    doc = draw(st.dictionaries(top, _nested(key_strategy), max_size=4))
    if draw(st.booleans()):  # a secret in a file, under a key that says so
        module = draw(st.sampled_from(MODULES[:-1]))
        section = doc.setdefault(module, {})
        if isinstance(section, dict):
            holder = section
            for part in draw(st.lists(st.sampled_from(SCHEMA_KEYS), max_size=3)):
                holder = holder.setdefault(part, {})
                if not isinstance(holder, dict):
                    break
            else:
                holder[draw(st.sampled_from(SECRET_KEYS))] = draw(small_text) + draw(canaries)
    return doc


# --- writing documents in each format --------------------------------------------------------------------

_BARE_TOML_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: Any) -> str:
    text = str(key)
    return text if _BARE_TOML_KEY.fullmatch(text) else _toml_string(text)


def _toml_value(value: Any) -> str | None:
    if value is None:
        return None  # TOML has no null: the key is left out
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        items = [v for v in map(_toml_value, value) if v is not None]
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        pairs = [(_toml_key(k), _toml_value(v)) for k, v in value.items()]
        return "{" + ", ".join(f"{k} = {v}" for k, v in pairs if v is not None) + "}"
    return _toml_string(str(value))


def to_toml(doc: Mapping[Any, Any]) -> str:
    """``doc`` as TOML, one ``key = inline value`` line per top-level key."""
    pairs = [(_toml_key(k), _toml_value(v)) for k, v in doc.items()]
    lines = [f"{k} = {v}" for k, v in pairs if v is not None]
    return "\n".join(lines) + "\n"


def encode(fmt: str, doc: Any, flow: bool = False) -> bytes:
    """``doc`` written as ``fmt`` (yaml, json or toml)."""
    if fmt == "yaml":
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=flow)
    elif fmt == "json":
        text = json.dumps(doc, ensure_ascii=flow)
    else:
        text = to_toml(doc)
    return text.encode("utf-8")


def _seeds() -> list[tuple[str, bytes]]:
    """Valid files of each format to mutate: the deployed examples and small documents."""
    small: list[dict[str, Any]] = [
        {"monitoring": {"sample_rate": 0.5, "flush_interval": "30s", "buffer_size": 1000}},
        {"storage": {"endpoint": "https://s3.example.com", "bucket": "acme-b", "region": "eu-west-1"}},
        {"monitoring": {"metrics": {"exporters": [{"type": "prometheus", "port": 9090}]}}},
        {"validation": {"ignore": ["VALIDATION_030"], "severity": {"VALIDATION_020": "warning"}}},
        {"http": {"profiles": {"api": {"base_url": "https://api.example.com", "timeout": "5s"}}}},
    ]
    out: list[tuple[str, bytes]] = []
    for path in sorted((ROOT / "deploy" / "config").glob("*.yaml")):
        raw = path.read_bytes()
        out.append(("yaml", raw))
        small.append(yaml.safe_load(raw))
    for doc in small:
        out.append(("yaml", encode("yaml", doc)))
        out.append(("json", json.dumps(doc, indent=2, default=str).encode()))
        out.append(("toml", to_toml(json.loads(json.dumps(doc, default=str))).encode()))
    return out


SEEDS = _seeds()
TOKENS = [
    b"\x00",
    b"\t",
    b"\r",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"&a ",
    b"*a",
    b"<<: ",
    b"${",
    b"${A}",
    b"$${",
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b"'",
    b":",
    b"- ",
    b"\n  ",
    b"!!int ",
    b"!!binary ",
    b"!!python/object:os.system ",
    b"!!set ",
    b"%TAG ! tag:x:\n---\n",
    b"\n---\n",
    b"9" * 5000,
    b"1e99999",
    b"0x" + b"f" * 100,
    b"[" * 200,
    b"{" * 200,
    "\u2028".encode(),
    "²".encode(),
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid file with a few byte-level changes: truncation, random bytes, tokens, repeated lines."""
    fmt, seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "insert", "replace", "delete", "token", "repeat"]))
        pos = draw(st.integers(0, len(data)))
        if op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "repeat":
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i] = [lines[i]] * draw(st.integers(1, 3))
            data = bytearray(b"\n".join(lines))
    return fmt, bytes(data)


@st.composite
def yaml_traps(draw: st.DrawFn) -> tuple[str, bytes]:
    """Hand-written YAML hazards: alias bombs, recursion, deep nesting, tags, huge numbers, directives."""
    n = draw(st.integers(1, 12))
    width = draw(st.integers(1, 2000))
    key = draw(st.sampled_from(["monitoring", "storage", "x", "monitoring:\n  tags"]))
    laughs = [f"a0: &a0 [{'x' * width}]"]
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * n)}]" for i in range(1, draw(st.integers(1, 8)))]
    traps = [
        "\n".join(laughs),
        "a: &x {b: *x}",
        "a: &x [*x]",
        "a: &x {<<: *x}",
        "a: &x\n  b: *x",
        "monitoring:\n  tags:\n    s: &s "
        + "y" * width
        + "\n"
        + "".join(f"    k{i}: *s\n" for i in range(n * 50)),
        "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(n * 20)),
        "a: " + "[" * (n * 30) + "]" * (n * 30),
        "a: " + "{b: " * (n * 30) + "1" + "}" * (n * 30),
        "a: !!python/object:os.system ls",
        "a: !!binary aGVsbG8=",
        "a: !!set {x, y}",
        "a: !!int abc",
        "a: !!float x",
        "a: !!timestamp 2020-99-99",
        "a: 2001-12-14t21:59:43.10-05:00",
        "a: !custom x",
        "a: " + "9" * (4000 + width),
        "a: 0x" + "f" * (3000 + width),
        "a: 0o" + "7" * (4000 + width),
        "a: 1e99999",
        "a: -.inf",
        "<<: 5",
        "a: {<<: [1, 2]}",
        "? [1, 2]\n: x",
        "[1]: x",
        "&k key: v\nother: *k",
        "%YAML 1.1\n---\na: 1",
        "%TAG ! tag:evil:\n---\na: !x 1",
        "a: 1\n---\nb: 2",
        "a: 1\nb:\t2",
        "\ta: 1",
        "a: 'unterminated",
        "a: |\n  block\n b: x",
        "a: " + "x" * (width * 10),
        "- 1\n- 2",
        "just a scalar",
        "",
        "# only a comment",
        "~",
        "a: b\na: c",
        "a:\n  b: 1\n  b: 2",
        "\ufeffa: 1",
        "a: 1\r\nb: 2\r\n",
        "a: \x00",
        "a: \x07",
        "a: \ud7ff\ue000",
    ]
    text = draw(st.sampled_from(traps))
    if key != "x" and text.startswith("a"):
        text = text.replace("a", key + ":\n  a", 1) if draw(st.booleans()) else text
    return "yaml", text.encode("utf-8", "surrogatepass")


@st.composite
def json_toml_traps(draw: st.DrawFn) -> tuple[str, bytes]:
    """Hand-written JSON and TOML hazards: depth, huge numbers, duplicates, NaN, BOM, odd tops."""
    n = draw(st.integers(50, 3000))
    traps = [
        ("json", "[" * n + "]" * n),
        ("json", '{"a": ' + "[" * n + "]" * n + "}"),
        ("json", '{"a": ' + '{"b": ' * n + "1" + "}" * n + "}"),
        ("json", '{"a": ' + "9" * (4000 + n) + "}"),
        ("json", '{"a": 1e99999, "b": NaN, "c": -Infinity}'),
        ("json", '{"a": 1, "a": 2}'),
        ("json", '{"a": "\\ud800"}'),
        ("json", '{"a": "\\u0000"}'),
        ("json", "\ufeff{}"),
        ("json", "[]"),
        ("json", '"text"'),
        ("json", "null"),
        ("json", ""),
        ("json", "{"),
        ("json", '{"monitoring": {"sample_rate": 1' + "0" * n + "}}"),
        ("toml", "a = " + "[" * n + "]" * n),
        ("toml", "a = " + "{b = " * n + "1" + "}" * n),
        ("toml", "a = " + "9" * (4000 + n)),
        ("toml", "a = 1\na = 2"),
        ("toml", "[a]\n[a]"),
        ("toml", "a = nan\nb = -inf"),
        ("toml", "a = 1979-05-27T07:32:00Z\nb = 07:32:00"),
        ("toml", 'a = "\\ud800"'),
        ("toml", "a = \x00"),
        ("toml", "[[a]]\nb = 1\n[a.c]\nd = 2"),
        ("toml", "a.b.c = 1\na.b = 2"),
        ("toml", ""),
        ("toml", "="),
    ]
    fmt, text = draw(st.sampled_from(traps))
    return fmt, text.encode("utf-8", "surrogatepass")


structured = st.tuples(st.sampled_from(["yaml", "json", "toml"]), documents(yaml_keys), st.booleans()).map(
    lambda t: (t[0], encode(t[0], t[1], t[2]))
)
contents = st.one_of(structured, mutated(), yaml_traps(), json_toml_traps())


# --- what one example feeds the loader -------------------------------------------------------------------


@dataclass(frozen=True)
class FileSpec:
    """A configuration file (or a thing named like one) to write into the example's directory."""

    name: str
    content: bytes
    kind: str = "file"  # file, missing, dir, fifo, loop, glob


@dataclass(frozen=True)
class SecretSpec:
    """An entry of the secrets directory."""

    name: str
    content: bytes
    kind: str = "file"  # file, dir, loop, dangling, fifo


@dataclass
class Case:
    """Every input of one load."""

    files: list[FileSpec] = field(default_factory=list)
    overlay: bytes | None = None  # the profile overlay of the first file
    profile: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    secrets: list[SecretSpec] | None = None
    dotenv: bytes | None = None

    def planted(self) -> set[str]:
        """The canaries planted in secret positions (they occur nowhere else in the inputs)."""
        found: set[str] = set()
        texts = [f.content for f in self.files] + [s.content for s in self.secrets or ()]
        texts += [self.overlay or b"", self.dotenv or b""]
        for raw in texts:
            found.update(CANARY.findall(raw.decode("utf-8", "replace")))
        for text in [*self.env.values(), *self.overrides]:
            found.update(CANARY.findall(text))
        return found


_EXT = {"yaml": [".yaml", ".yml", ".YAML"], "json": [".json"], "toml": [".toml"]}


@st.composite
def file_specs(draw: st.DrawFn) -> FileSpec:
    """A file of some format under a plain or odd name; now and then a directory, FIFO or missing file."""
    fmt, content = draw(contents)
    stem = draw(st.sampled_from(["app", "conf", "a b", "ü", "x[1]", "x*", "-dash", ".hidden", "q?"]))
    ext = draw(st.sampled_from([*_EXT[fmt], *_EXT[fmt], *_EXT[fmt], ".ini", ""]))
    kind = draw(st.sampled_from(["file"] * 12 + ["missing", "dir", "fifo", "loop", "glob"]))
    return FileSpec(stem + ext, content, kind)


def _key_parts(upper: bool) -> st.SearchStrategy[str]:
    odd = ["", "0", "1", "5", "00", "-1", "²", "٣", "9" * 30, " ", "_", "x y", "ǅ", "ß", "İ", "ﬁ", "é"]
    part = st.one_of(st.sampled_from(SCHEMA_KEYS), st.sampled_from(odd), st.text(min_size=1, max_size=6))
    return part.map(lambda p: p.upper() if upper else p)


env_prefixes = st.sampled_from(
    ["SHAREDCONFIG_", "sharedconfig_", "SharedConfig_", "SHAREDCONFIG__", "SHAREDCONFIG"]
)
config_var_names = st.builds(
    lambda prefix, parts: prefix + "__".join(parts),
    env_prefixes,
    st.lists(_key_parts(upper=True), min_size=1, max_size=6),
)


@st.composite
def env_values(draw: st.DrawFn) -> str:
    """What a variable holds: text, JSON of a nested value, broken or deep JSON, huge numbers."""
    n = draw(st.integers(50, 3000))
    return draw(
        st.one_of(
            st.text(max_size=30),
            st.sampled_from(ODD_STRINGS),
            _nested(keys).map(json.dumps),
            st.sampled_from(
                [
                    "[",
                    "{",
                    "[1,",
                    '{"a": }',
                    "[" * n + "]" * n,
                    '{"a": ' * n + "1" + "}" * n,
                    "[" + "9" * (4000 + n) + "]",
                    '{"a": 1e99999}',
                    "[NaN, Infinity]",
                    '{"a": 1, "a": 2}',
                    '["\\ud800"]',
                    "[]",
                    "{}",
                    "\udcff",
                ]
            ),
        )
    )


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    """A process environment: config variables, interpolation variables, odd names; secret-looking
    names hold a canary."""
    names = st.one_of(config_var_names, st.sampled_from(VARIABLES), st.text(max_size=10))
    env = draw(st.dictionaries(names, env_values(), max_size=6))
    for name in list(env):
        if name.upper() in ("SHAREDCONFIG_PROFILE", "SHAREDCONFIG_SECRETS_DIR"):
            del env[name]  # the tool's own settings: given by the case, not drawn at random
        elif looks_secret(name.rpartition("__")[2]):
            env[name] = draw(small_text) + draw(canaries)
    return env


@st.composite
def override_strings(draw: st.DrawFn) -> str:
    """A ``--set`` argument: a key path from the schema's names or odd parts, ``=``, a value that is text,
    a YAML flow collection (or JSON), or a trap; sometimes no ``=`` at all."""
    parts = draw(st.lists(_key_parts(upper=False), min_size=1, max_size=6))
    key = ".".join(parts)
    n = draw(st.integers(50, 3000))
    value = draw(
        st.one_of(
            st.text(max_size=30),
            st.sampled_from(ODD_STRINGS),
            _nested(yaml_keys).map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
            _nested(keys).map(json.dumps),
            st.sampled_from(
                [
                    "[&x [*x]]",
                    "{a: &x {b: *x}}",
                    "[&a [x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a],"
                    " &c [*b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c],"
                    " &e [*d, *d, *d, *d, *d, *d, *d, *d], [*e, *e, *e, *e, *e, *e, *e, *e]]",
                    "[" * n + "]" * n,
                    "[" + "9" * (4000 + n) + "]",
                    "{a: 0x" + "f" * (3000 + n) + "}",
                    "{a: !!binary aGk=}",
                    "[!!set {a}]",
                    "{? [1]: 2}",
                    "{null: 1, 1: 2, true: 3, 1.5: 4}",
                    "[.nan, .inf]",
                    "[2020-01-01, 2001-12-14 21:59:43.10 -5]",
                    "{<<: {a: 1}}",
                    "[!!python/object:os.system ls]",
                    "[!!int x]",
                    "null",
                    "~",
                    "[",
                    "{a: [}",
                    '["\\0"]',
                ]
            ),
        )
    )
    if parts and looks_secret(parts[-1]):
        value = draw(small_text) + draw(canaries)  # --set problems never quote a value
    return draw(
        st.sampled_from(
            [
                f"{key}={value}",
                f"{key}={value}",
                f"{key}={value}",
                f" {key} = {value}",
                f"={value}",
                key,
                f"{key}=",
                f"{key}=={value}",
            ]
        )
    )


@st.composite
def secret_specs(draw: st.DrawFn) -> SecretSpec:
    """A file of the secrets directory: a key path, a variable, or an odd name; text (with a canary),
    bytes that are not UTF-8, or a directory, link loop, dangling link or FIFO."""
    name = draw(
        st.one_of(
            st.lists(_key_parts(upper=False), min_size=2, max_size=5).map("__".join),
            st.lists(_key_parts(upper=False), min_size=2, max_size=4).map(
                lambda p: "SHAREDCONFIG_" + "__".join(p)
            ),
            st.sampled_from(VARIABLES),
            st.sampled_from(
                [".hidden", "..data", "a__", "__a", "a____b", "²__x", "x y__z", "ü__ö", "0__1", "tls.crt"]
            ),
            st.text(min_size=1, max_size=12),
        )
    )
    name = name.replace("/", "_").replace("\x00", "_")
    if name in ("", ".", "..") or len(name.encode("utf-8", "surrogatepass")) > 200:
        name = "x__y"
    kind = draw(st.sampled_from(["file"] * 8 + ["bytes", "dir", "loop", "dangling", "fifo"]))
    text = draw(st.sampled_from(["", "30s", "[1, 2]", "{}", "${A}", "https://u:p@h"])) + draw(small_text)
    trailer = draw(st.sampled_from(["", "\n", "\r\n", "\n\n"]))
    content = (text + draw(canaries) + trailer).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        content = draw(st.binary(max_size=20)) + b"\xff\xfe"
    return SecretSpec(name, content, kind)


@st.composite
def dotenv_files(draw: st.DrawFn) -> bytes:
    """A .env file: assignments (plain, ``export``, quoted, multi-line), comments and junk, then maybe a
    few odd bytes; secret-looking names hold a canary."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.one_of(config_var_names, st.sampled_from(VARIABLES), st.text(max_size=8)))
        value = draw(st.one_of(env_values(), st.sampled_from(PLAIN_VARIABLES).map(lambda v: f"${{{v}}}")))
        if looks_secret(name.rpartition("__")[2]):
            value = draw(small_text) + draw(canaries)
        value = value.replace("\n", " ") if not looks_secret(name) else value
        template = draw(
            st.sampled_from(
                [
                    "{n}={v}",
                    "export {n}={v}",
                    '{n}="{v}"',
                    "{n}='{v}'",
                    "{n} = {v}",
                    "# {n}={v}",
                    "{n}",
                    "={v}",
                    '{n}="multi\nline {v}"',
                ]
            )
        )
        lines.append(template.format(n=name, v=value))
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        pos = draw(st.integers(0, len(raw)))
        raw = (
            raw[:pos] + draw(st.sampled_from([b"\xff", b"\x00", b"\r", b"\xef\xbb\xbf", b"\xc3"])) + raw[pos:]
        )
    return raw


# --- running one example ---------------------------------------------------------------------------------


class HardLimitExceeded(Exception):
    """An example ran past ``HARD_LIMIT``: a hang (raised from the alarm, so hypothesis shrinks it)."""


def _expire(signum: int, frame: FrameType | None) -> None:
    raise HardLimitExceeded(f"the example ran over {HARD_LIMIT}s: it hangs")


@contextlib.contextmanager
def hard_limit() -> Iterator[None]:
    """Stop an example that never ends (a loop over a recursive value, say) instead of the whole run."""
    if not hasattr(
        signal, "setitimer"
    ):  # pragma: no cover - not on this platform: the deadline still reports
        yield
        return
    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, HARD_LIMIT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Written:
    """A case written into a directory: the arguments of the load, and how big its input was."""

    root: Path
    files: list[str]
    options: dict[str, Any]
    size: int
    env_file: str | None
    secrets_dir: str | None


def _b(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _write_secrets(case: Case, directory: Path) -> tuple[str, int]:
    """The secrets directory of ``case``, written; its path and the bytes of input it stands for."""
    directory.mkdir()
    size = _b(str(directory))
    for secret in case.secrets or ():
        entry = directory / secret.name
        if os.path.lexists(entry):
            continue
        if secret.kind in ("file", "bytes"):
            entry.write_bytes(secret.content)
        elif secret.kind == "dir":
            entry.mkdir()
        elif secret.kind == "loop":
            entry.symlink_to(entry)
        elif secret.kind == "dangling":
            entry.symlink_to(directory / "nowhere" / "x")
        elif secret.kind == "fifo":
            os.mkfifo(entry)
        size += _b(str(entry)) + len(secret.content)
    return str(directory), size


def write(case: Case, root: Path) -> Written:
    """Write the files, the overlay, the secrets directory and the .env of ``case`` under ``root``."""
    conf = root / "conf"
    conf.mkdir()
    files: list[str] = []
    size = 0
    for spec in case.files:
        path = conf / spec.name
        arg = str(conf / ("*" + path.suffix)) if spec.kind == "glob" else str(path)
        if os.path.lexists(path):
            pass  # the same name twice: the first one stays
        elif spec.kind in ("file", "glob"):
            path.write_bytes(spec.content)
        elif spec.kind == "dir":
            path.mkdir()
        elif spec.kind == "fifo":
            os.mkfifo(path)
        elif spec.kind == "loop":
            path.symlink_to(path)
        files.append(arg)
        size += _b(arg) + len(spec.content)
    if case.overlay is not None and case.profile and case.files:
        first = Path(files[0])
        overlay = first.with_name(f"{first.stem}.{case.profile}{first.suffix}")
        with contextlib.suppress(OSError):
            overlay.write_bytes(case.overlay)
        size += _b(str(overlay)) + len(case.overlay)
    secrets_dir = None
    if case.secrets is not None:
        secrets_dir, written = _write_secrets(case, root / "secrets")
        size += written
    env_file = None
    if case.dotenv is not None:
        env_file = str(root / ".env")
        Path(env_file).write_bytes(case.dotenv)
        size += _b(env_file) + len(case.dotenv)
    size += sum(_b(k) + _b(v) + 2 for k, v in case.env.items())
    size += sum(_b(o) + 1 for o in case.overrides)
    options: dict[str, Any] = {
        "environ": dict(case.env),
        "env_file": env_file,
        "secrets_dir": secrets_dir,
        "overrides": list(case.overrides),
        "profile": case.profile,
    }
    return Written(root, files, options, size, env_file, secrets_dir)


def _located(location: Location | None, written: Written, case: Case) -> bool:
    """True when ``location`` points into the inputs of the case."""
    if location is None:
        return False
    name = location.name
    if location.source == "file":
        conf = str(written.root / "conf")
        return name in written.files or name.startswith(conf)
    if location.source == "env":
        return name in case.env or name == ""
    if location.source == "dotenv":
        return written.env_file is not None and name.startswith(written.env_file)
    if location.source == "override":  # the key as written (cut at 80 when unreadable), "" without '='
        return any(o.partition("=")[0].strip().startswith(name) for o in case.overrides)
    if location.source == "secret":
        return written.secrets_dir is not None and name.startswith(written.secrets_dir)
    if location.source == "option":  # CONFIG_027: the profile option names a profile with no overlay
        return name == "profile" and case.profile is not None
    return False


def bound(written: Written) -> int:
    """The most characters one rendering of this input may have."""
    return OUTPUT_PER_INPUT_BYTE * written.size + OUTPUT_BASE


def _issue_lines(issues: Sequence[Issue]) -> str:
    return "".join(f"{issue}\n    hint: {issue.hint}\n" for issue in issues)


def assert_rendering(name: str, text: str, written: Written, planted: set[str]) -> None:
    """One output: within the size bound, free of every planted secret."""
    assert len(text) <= bound(written), (
        f"{name} is {len(text)} characters for {written.size} bytes of input "
        f"(bound {OUTPUT_PER_INPUT_BYTE} x input + {OUTPUT_BASE})"
    )
    leaked = [c for c in planted if c in text]
    assert not leaked, f"{name} shows a secret ({leaked[0]}):\n{text[:2000]}"


def assert_outcome(outcome: Outcome, written: Written, case: Case) -> None:
    """The property on the library's side: a config or located, coded issues; bounded, redacted renderings."""
    planted = case.planted()
    for issue in outcome.report.issues:
        assert issue.code in REGISTRY, f"unregistered code: {issue}"
        assert issue.severity in ("error", "warning"), issue
        assert _located(issue.location, written, case), f"issue not located in the inputs: {issue!r}"
    assert_rendering("issue lines", _issue_lines(outcome.report.issues), written, planted)
    rendered = json.dumps([i.to_dict() for i in outcome.report.issues], indent=2)
    assert_rendering("issues as JSON", rendered, written, planted)
    if outcome.report.ok:
        config = outcome.config
        assert config is not None
        dumped = json.dumps(config.to_dict(), indent=2, default=str)
        assert_rendering("to_dict()", dumped, written, planted)
        rows = config.explain()
        explained = "".join(f"{p} = {json.dumps(v, default=str)}  # {o}\n" for p, v, o in rows)
        assert_rendering("explain()", explained, written, planted)
    else:
        assert outcome.config is None
        with pytest.raises(ConfigValidationError) as caught:
            outcome.config_or_raise()
        assert caught.value.code == "CONFIG_002"
        assert_rendering("str(ConfigValidationError)", str(caught.value), written, planted)


def run_library(case: Case) -> None:
    """``check()`` and ``load()`` on the case: the property holds and both agree."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp, hard_limit():
        written = write(case, Path(tmp))
        outcome = check(written.files, **written.options)
        assert_outcome(outcome, written, case)
        if outcome.report.ok:
            assert load(written.files, **written.options) == outcome.config
        else:
            with pytest.raises(ConfigValidationError) as raised:
                load(written.files, **written.options)
            assert len(raised.value.issues) == len(outcome.report.issues)


def _cli(args: list[str], environ: Mapping[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {k: v for k, v in environ.items() if k and "=" not in k and "\x00" not in k + v}
    env["SHAREDCONFIG_DEBUG"] = "1"  # an unexpected exception propagates with its traceback
    with (
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def run_cli(case: Case) -> None:
    """``validate`` (text and JSON) and ``show`` (YAML, JSON, --explain) on the case, in process."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp, hard_limit():
        written = write(case, Path(tmp))
        planted = case.planted()
        common = [f"--env-file={written.env_file or ''}"]
        if written.secrets_dir:
            common.append(f"--secrets-dir={written.secrets_dir}")
        if case.profile:
            common.append(f"--profile={case.profile}")
        common += [f"--set={o}" for o in case.overrides]
        runs = {
            "validate": ["validate", *common],
            "validate --format json": ["validate", "--format", "json", *common],
            "show": ["show", *common],
            "show --format json": ["show", "--format", "json", *common],
            "show --explain": ["show", "--explain", *common],
        }
        codes: dict[str, int] = {}
        for label, args in runs.items():
            code, out, err = _cli([*args, "--", *written.files], case.env)
            codes[label] = code
            assert code in (0, 1), f"{label} exited {code}:\n{err[:2000]}"
            assert "internal error" not in err, err
            for stream, text in (("stdout", out), ("stderr", err)):
                assert_rendering(f"{label} {stream}", text, written, planted)
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    pytest.fail(f"{label} {stream} cannot be written to a UTF-8 terminal: {exc}")
            if label == "validate --format json":
                for item in json.loads(out):
                    assert item["code"] in REGISTRY and item["source"], item
        assert codes["validate"] == codes["validate --format json"] == codes["show"]


# --- the targets -----------------------------------------------------------------------------------------


class TestFuzzInputs:
    @FUZZ
    @given(st.lists(file_specs(), min_size=1, max_size=3))
    def test_files_of_each_format(self, files: list[FileSpec]) -> None:
        """YAML, JSON and TOML files, generated, mutated or hand-made traps: a config or located issues."""
        run_library(Case(files=files))

    @FUZZ
    @given(environments(), st.lists(file_specs(), max_size=1))
    def test_environment_mapping(self, env: dict[str, str], files: list[FileSpec]) -> None:
        """Prefixed, ``__``-nested variables with odd parts and JSON values, beside a file or none."""
        run_library(Case(files=files, env=env))

    @FUZZ
    @given(st.lists(override_strings(), min_size=1, max_size=4))
    def test_overrides(self, overrides: list[str]) -> None:
        """``--set KEY=VALUE`` strings: odd keys, flow collections, aliases, tags, huge numbers."""
        run_library(Case(overrides=overrides))

    @FUZZ
    @given(st.lists(secret_specs(), max_size=6), st.lists(file_specs(), max_size=1))
    def test_secrets_directory(self, secrets: list[SecretSpec], files: list[FileSpec]) -> None:
        """A secrets directory of odd names, bytes, links and FIFOs; its values are never shown."""
        run_library(Case(files=files, secrets=secrets))

    @FUZZ
    @given(dotenv_files(), st.lists(file_specs(), max_size=1))
    def test_dotenv_file(self, dotenv: bytes, files: list[FileSpec]) -> None:
        """A .env file with odd lines and bytes, beside a file or none."""
        run_library(Case(files=files, dotenv=dotenv))

    @FUZZ
    @given(
        st.sampled_from(["yaml", "json", "toml"]),
        st.dictionaries(st.sampled_from(MODULES), _nested(keys), min_size=1, max_size=3),
        environments(),
        st.lists(secret_specs(), max_size=3),
        dotenv_files(),
    )
    def test_interpolation(
        self,
        fmt: str,
        doc: dict[str, Any],
        env: dict[str, str],
        secrets: list[SecretSpec],
        dotenv: bytes,
    ) -> None:
        """``${VAR}`` forms in values of each format, with the variables in env, .env and secrets."""
        extra = {v: f"value-of-{v}" for v in PLAIN_VARIABLES[::2]}
        case = Case(
            files=[FileSpec(f"interp.{fmt}", encode(fmt, doc))],
            env={**extra, **env},
            secrets=secrets,
            dotenv=dotenv,
        )
        run_library(case)

    @FUZZ
    @given(
        st.lists(file_specs(), max_size=2),
        st.one_of(st.none(), contents.map(lambda c: c[1])),
        st.one_of(st.none(), st.sampled_from(PROFILES)),
        environments(),
        st.lists(override_strings(), max_size=2),
        st.one_of(st.none(), st.lists(secret_specs(), max_size=3)),
        st.one_of(st.none(), dotenv_files()),
    )
    def test_every_path_at_once(
        self,
        files: list[FileSpec],
        overlay: bytes | None,
        profile: str | None,
        env: dict[str, str],
        overrides: list[str],
        secrets: list[SecretSpec] | None,
        dotenv: bytes | None,
    ) -> None:
        """All sources together, a profile overlay included: merging them keeps the property."""
        run_library(Case(files, overlay, profile, env, overrides, secrets, dotenv))

    @CLI_FUZZ
    @given(
        st.lists(file_specs(), max_size=2),
        environments(),
        st.lists(override_strings(), max_size=2),
        st.one_of(st.none(), st.lists(secret_specs(), max_size=3)),
        st.one_of(st.none(), dotenv_files()),
    )
    def test_cli_outputs(
        self,
        files: list[FileSpec],
        env: dict[str, str],
        overrides: list[str],
        secrets: list[SecretSpec] | None,
        dotenv: bytes | None,
    ) -> None:
        """``validate`` and ``show`` in every format: exit 0 or 1, no internal error, bounded and redacted."""
        run_cli(Case(files, None, None, env, overrides, secrets, dotenv))
