"""promtool's rule unit-test files (``promtool test rules FILE``) read into typed, positioned models.

The format is promtool's, unchanged, so the same file runs here and under the real promtool::

    rule_files: [alerts.yml]            # relative to this file; globs allowed; no match is not an error
    evaluation_interval: 1m             # default 1m
    group_eval_order: [first, second]   # optional
    tests:
      - name: optional name
        interval: 1m                    # the step of input_series (see below when it is left out)
        external_labels: {region: eu}
        external_url: http://example
        input_series:
          - series: 'up{job="api", instance="a:9090"}'
            values: '1+1x10 _x3 stale 5'
        alert_rule_test:
          - eval_time: 10m
            alertname: InstanceDown
            exp_alerts:
              - exp_labels: {severity: page, job: api}
                exp_annotations: {summary: "a:9090 is down"}
        promql_expr_test:
          - expr: up == 0
            eval_time: 12m
            exp_samples:
              - labels: 'up{job="api", instance="a:9090"}'
                value: 0

Facts taken from promtool 2.42 (checked against it, see tests/monitoring/alerts/testdata/):

* Keys are strict: an unknown key is an error, as promtool's strict YAML decoding makes it.
* Durations are Prometheus durations (``model.ParseDuration``): integers with the units
  ``y w d h m s ms`` in that order, ``0`` alone; no fractions (``1.5m`` is refused), no bare numbers.
* ``value`` in ``exp_samples`` is a YAML number (``.inf``, ``.nan`` included); a quoted string is refused.
* The expanding notation of ``values``: ``a`` one sample; ``axn`` n+1 samples of ``a``; ``a+bxn`` and
  ``a-bxn`` n+1 samples ``a, a+b, ...`` accumulated by repeated addition (``0.1+0.1x9`` ends at
  0.9999999999999999, not 1); ``_`` one missing sample; ``_xn`` n missing samples (not n+1);
  ``stale`` a stale marker, and ``stale+bxn`` a stale marker followed by n plain NaNs (the stale NaN
  plus b is an ordinary NaN). Numbers are Go floats with an optional sign (``-1e2``, ``.5``, ``5.``,
  ``Inf``, ``-inf``, ``NaN``, any case); ``0x15`` is zero repeated 16 times, not hexadecimal. Items are
  separated by blanks; ``1+2 x3`` and ``1,2`` are errors. Native histograms (``{{...}}``) are not
  part of 2.42's notation and are refused.
* Sample ``i`` of an input series sits at ``i * interval`` ms from 0. When a test leaves ``interval``
  out, promtool 2.42 steps by 0, so every sample lands at 0 and the store keeps the first one (the
  documentation says the default is ``evaluation_interval``, which newer promtool versions do);
  ``RuleTestGroup.series_step_ms`` gives both readings.

Every error is a ``TestFileError`` naming the file, line and column, the key path and what is wrong.
"""

from __future__ import annotations

import glob
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sharedconfig.errors import ConfigFileError, Location
from sharedconfig.monitoring.alerts.promql.values import METRIC_NAME, STALE_NAN, Labels

__all__ = [
    "DEFAULT_EVALUATION_INTERVAL_MS",
    "MAX_FILE_SAMPLES",
    "MAX_SERIES_SAMPLES",
    "AlertTestCase",
    "ExpectedAlert",
    "ExpectedSample",
    "InputSeries",
    "PromqlTestCase",
    "RuleTestFile",
    "RuleTestGroup",
    "SeriesValue",
    "TestFileError",
    "expand_values",
    "load_test_file",
    "parse_metric",
    "parse_prometheus_duration",
    "parse_test_file",
]

CODE: Final = "CONFIG_050"
DEFAULT_EVALUATION_INTERVAL_MS: Final = 60_000
MAX_SERIES_SAMPLES: Final = 1_000_000
"""At most this many samples per input series (promtool has no bound and runs out of memory first)."""
MAX_FILE_SAMPLES: Final = 10_000_000
"""At most this many samples in all the input series of a file (YAML aliases can repeat a series)."""

SeriesValue: TypeAlias = float | None
"""One expanded item of ``values``: a float (``STALE_NAN`` for ``stale``), or None for ``_`` (missing)."""

try:  # libyaml is in every PyYAML wheel; the pure-Python loader is a slow fallback
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,unused-ignore]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_NULL: Final = "tag:yaml.org,2002:null"
_FLOAT_TAGS: Final = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_CONSTRUCTOR: Final = SafeConstructor()
_MAX_NODES: Final = 1_000_000


class TestFileError(ConfigFileError):
    """A rule unit-test file that cannot be read, or does not follow promtool's format."""

    __test__ = False  # not a pytest test class, whatever its name says
    default_code = CODE


# -- Prometheus durations -------------------------------------------------------------------------------

_DURATION: Final = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_DURATION_UNITS_MS: Final = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1)
_MAX_DURATION_MS: Final = (1 << 63) // 1_000_000  # Go's time.Duration is int64 nanoseconds


def parse_prometheus_duration(text: str) -> int:
    """Milliseconds of a Prometheus duration (``1h30m``, ``90s``, ``1d``, ``1w``, ``1y``, ``500ms``, ``0``).

    Exactly what Prometheus's ``model.ParseDuration`` accepts: integer amounts, units largest first,
    each at most once; ``0`` alone; no fractions, signs, spaces or bare numbers. ``ValueError`` otherwise.
    """
    if text == "0":
        return 0
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(
            f"not a valid duration: {text!r} (expected a Prometheus duration such as 90s, 5m, 1h30m, 1d)"
        )
    total = sum(
        int(amount) * unit for amount, unit in zip(match.groups(), _DURATION_UNITS_MS, strict=True) if amount
    )
    if total >= _MAX_DURATION_MS:
        raise ValueError(f"duration out of range: {text!r}")
    return total


# -- label sets: 'name{k="v", ...}' ---------------------------------------------------------------------

_IDENT: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SPACE: Final = re.compile(r"[ \t\n\r]*")
_SIMPLE_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
_HEX_ESCAPES: Final = {"x": 2, "u": 4, "U": 8}


class _Syntax(ValueError):
    """A syntax error at ``offset`` (0-based) of the text being read."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _go_string(text: str, start: int) -> tuple[str, int]:
    """Read the PromQL string literal at ``text[start]`` (Go's quoting rules): (value, end offset)."""
    quote = text[start]
    if quote == "`":
        end = text.find("`", start + 1)
        if end < 0:
            raise _Syntax("unterminated raw string", start)
        return text[start + 1 : end], end + 1
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\n":
            break
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i += 2
        elif escape == quote:
            out.append(quote)
            i += 2
        elif escape in _HEX_ESCAPES:
            digits = text[i + 2 : i + 2 + _HEX_ESCAPES[escape]]
            if len(digits) != _HEX_ESCAPES[escape] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise _Syntax(
                    f"invalid escape \\{escape} in string: needs {_HEX_ESCAPES[escape]} hex digits", i
                )
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise _Syntax(f"invalid escape \\{escape}{digits}: not a Unicode code point", i)
            out.append(chr(code))
            i += 2 + len(digits)
        elif escape in "01234567" and escape:
            digits = text[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                raise _Syntax("invalid octal escape in string: needs 3 octal digits up to \\377", i)
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise _Syntax(f"unknown escape sequence \\{escape} in string", i)
    raise _Syntax("unterminated quoted string", start)


def parse_metric(text: str) -> Labels:
    """The labels of a series written ``name{label="value", ...}`` (name or braces may be left out;
    ``{}`` is the empty set).

    Values are PromQL strings (double or single quotes with Go escapes, or backquotes); only ``=`` is
    allowed, a trailing comma is, empty values drop the label. ``ValueError`` (with ``.offset``) else.
    """
    pairs: dict[str, str] = {}
    i = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    name = _METRIC.match(text, i)
    if name is not None:
        pairs[METRIC_NAME] = name.group()
        i = _SPACE.match(text, name.end()).end()  # type: ignore[union-attr]
    if text.startswith("{", i):
        i = _read_label_set(text, i + 1, pairs)
    elif name is None and i < len(text):
        raise _Syntax(f"expected a metric name or '{{' but found {text[i]!r}", i)
    i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
    if i < len(text):
        raise _Syntax(f"unexpected {text[i]!r} after the label set", i)
    if name is None and not text.strip():
        raise _Syntax("empty series: give a metric name or at least one label", 0)
    return tuple(sorted((k, v) for k, v in pairs.items() if v != ""))


def _read_label_set(text: str, i: int, pairs: dict[str, str]) -> int:
    while True:
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
        if text.startswith("}", i):
            return i + 1
        ident = _IDENT.match(text, i)
        if ident is None:
            found = repr(text[i]) if i < len(text) else "the end"
            raise _Syntax(f"expected a label name or '}}' but found {found}", i)
        key = ident.group()
        i = _SPACE.match(text, ident.end()).end()  # type: ignore[union-attr]
        if not text.startswith("=", i) or text.startswith("=~", i):
            raise _Syntax(f"expected '=' after label {key!r} (a series has values, not matchers)", i)
        i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
        if i >= len(text) or text[i] not in "\"'`":
            raise _Syntax(f"expected a quoted value for label {key!r}", i)
        value, i = _go_string(text, i)
        if key in pairs:
            raise _Syntax(f"label {key!r} is given twice", ident.start())
        pairs[key] = value
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
        if text.startswith(",", i):
            i += 1
        elif not text.startswith("}", i):
            found = repr(text[i]) if i < len(text) else "the end"
            raise _Syntax(f"expected ',' or '}}' after label {key!r} but found {found}", i)


# -- the expanding notation of input series values -------------------------------------------------------

_UNUMBER: Final = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_ITEM: Final = re.compile(
    r"(?P<blank>_)(?:x(?P<blanks>[0-9]+))?"
    rf"|(?P<stale>stale)(?P<sstep>[+-]{_UNUMBER})x(?P<stimes>[0-9]+)"
    r"|(?P<stale1>stale)"
    rf"|(?P<word>[+-]?(?i:inf|nan))(?:(?P<wstep>[+-]{_UNUMBER})x(?P<wtimes>[0-9]+))?"
    rf"|(?P<number>[+-]?{_UNUMBER})(?:(?P<step>[+-]{_UNUMBER})?x(?P<times>[0-9]+))?"
)
_BLANKS: Final = re.compile(r"[ \t\n\r]+")


def expand_values(text: str, *, limit: int = MAX_SERIES_SAMPLES) -> tuple[SeriesValue, ...]:
    """Expand promtool's ``values`` notation (``1+2x3 _x2 stale -1e2 Inf``) into one item per step.

    See the module docstring for the rules. ``ValueError`` (with ``.offset``, 0-based in ``text``) for
    an item promtool refuses, or when the series would hold more than ``limit`` items.
    """
    out: list[SeriesValue] = []
    for start, item in _tokens(text):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise _Syntax(f"invalid item {item!r} in series values ({_EXPECTED_ITEM})", start)
        groups = match.groupdict()
        if groups["blank"]:
            count = int(groups["blanks"]) if groups["blanks"] is not None else 1
            _check_size(len(out) + count, limit, start)
            out.extend([None] * count)
            continue
        if groups["stale1"]:
            out.append(STALE_NAN)
            continue
        first, step, times = _item_parts(groups)
        value = STALE_NAN if groups["stale"] else float(first)
        increment = float(step) if step else 0.0
        if (math.isinf(value) and "inf" not in first.lower()) or math.isinf(increment):
            raise _Syntax(f"number out of range in {item!r}", start)  # as Go's ParseFloat says
        if times is None:
            out.append(value)
            continue
        count = int(times)
        _check_size(len(out) + count + 1, limit, start)
        out.append(value)
        if groups["stale"]:
            value = math.nan  # the stale NaN plus anything is an ordinary NaN, as in Go
        for _ in range(count):
            value += increment  # accumulated, as promtool does (0.1+0.1x9 does not end at exactly 1)
            out.append(value)
    return tuple(out)


_EXPECTED_ITEM: Final = "expected a number, a+bxn, a-bxn, axn, _, _xn or stale, separated by blanks"


def _tokens(text: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    i = 0
    for gap in _BLANKS.finditer(text):
        if gap.start() > i:
            tokens.append((i, text[i : gap.start()]))
        i = gap.end()
    if i < len(text):
        tokens.append((i, text[i:]))
    return tokens


def _item_parts(groups: dict[str, str | None]) -> tuple[str, str | None, str | None]:
    if groups["stale"]:
        return "stale", groups["sstep"], groups["stimes"]
    if groups["word"]:
        return groups["word"] or "", groups["wstep"], groups["wtimes"]
    return groups["number"] or "", groups["step"], groups["times"]


def _check_size(size: int, limit: int, offset: int) -> None:
    if size > limit:
        raise _Syntax(f"the series would hold more than {limit} samples", offset)


# -- the models ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputSeries:
    """One ``input_series`` entry: its labels and its expanded values (one per step from 0)."""

    labels: Labels
    values: tuple[SeriesValue, ...]
    line: int

    def samples(self, step_ms: int) -> tuple[tuple[int, SeriesValue], ...]:
        """``(timestamp ms, value)`` per item, at ``i * step_ms``; None marks a missing sample (``_``)."""
        return tuple((i * step_ms, value) for i, value in enumerate(self.values))

    def stored(self, step_ms: int) -> tuple[tuple[int, float], ...]:
        """The samples a store keeps: missing ones left out and, at a repeated timestamp (a step of 0),
        only the first, as promtool's storage does."""
        kept: list[tuple[int, float]] = []
        for timestamp, value in self.samples(step_ms):
            if value is not None and (not kept or kept[-1][0] < timestamp):
                kept.append((timestamp, value))
        return tuple(kept)


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    """One ``exp_alerts`` entry: the alert's labels (without ``alertname``, which promtool adds) and
    annotations, both as written."""

    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]
    line: int


@dataclass(frozen=True, slots=True)
class AlertTestCase:
    """One ``alert_rule_test`` entry: the firing alerts of ``alertname`` expected at ``eval_time_ms``."""

    eval_time_ms: int
    alertname: str
    expected: tuple[ExpectedAlert, ...]
    line: int


@dataclass(frozen=True, slots=True)
class ExpectedSample:
    """One ``exp_samples`` entry: labels (``{}`` when left out) and value. promtool 2.42 never finds a
    NaN result equal to an expected NaN, so a file expecting NaN fails there."""

    labels: Labels
    value: float
    line: int


@dataclass(frozen=True, slots=True)
class PromqlTestCase:
    """One ``promql_expr_test`` entry: ``expr`` evaluated at ``eval_time_ms`` gives ``expected``."""

    expr: str
    eval_time_ms: int
    expected: tuple[ExpectedSample, ...]
    line: int
    expr_line: int
    expr_column: int


@dataclass(frozen=True, slots=True)
class RuleTestGroup:
    """One entry of ``tests``: input series, external labels and URL, and the expectations."""

    name: str
    interval_ms: int | None
    """``interval`` as written; None when left out (see ``series_step_ms``)."""
    input_series: tuple[InputSeries, ...]
    alert_rule_tests: tuple[AlertTestCase, ...]
    promql_expr_tests: tuple[PromqlTestCase, ...]
    external_labels: tuple[tuple[str, str], ...]
    external_url: str
    line: int

    def series_step_ms(self, evaluation_interval_ms: int, *, promtool_242: bool = True) -> int:
        """The step between input samples: ``interval``; when left out, 0 as promtool 2.42 does
        (``promtool_242``), else ``evaluation_interval`` as promtool's documentation says."""
        if self.interval_ms is not None:
            return self.interval_ms
        return 0 if promtool_242 else evaluation_interval_ms

    def max_eval_time_ms(self) -> int:
        """The latest ``eval_time`` of any expectation: how far promtool evaluates the rules."""
        times = [case.eval_time_ms for case in self.alert_rule_tests]
        times += [case.eval_time_ms for case in self.promql_expr_tests]
        return max(times, default=0)


@dataclass(frozen=True, slots=True)
class RuleTestFile:
    """A whole rule unit-test file."""

    path: Path
    rule_files: tuple[Path, ...]
    """Rule files found: each ``rule_files`` pattern resolved from the test file's directory and
    globbed, in the order written (sorted within a pattern)."""
    unmatched_rule_patterns: tuple[str, ...]
    """Patterns that matched no file (promtool only warns about them)."""
    evaluation_interval_ms: int
    group_eval_order: tuple[str, ...]
    tests: tuple[RuleTestGroup, ...]


# -- reading ---------------------------------------------------------------------------------------------

_T = TypeVar("_T")


class _Reader:
    """Builds the models from YAML nodes, failing with the node's position and key path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.budget = _MAX_NODES  # YAML aliases can make a small file a huge tree: walk it boundedly
        self.samples_left = MAX_FILE_SAMPLES

    def visit(self, node: Node, where: str) -> None:
        self.budget -= len(node.value) if isinstance(node, MappingNode | SequenceNode) else 1
        if self.budget < 0:
            raise self.fail(node, where, f"the file expands to more than {_MAX_NODES} YAML nodes (aliases?)")

    def fail(self, node: Node, where: str, message: str, *, offset: int | None = None) -> TestFileError:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if offset is not None and isinstance(node, ScalarNode):
            line, column = _position_in_scalar(node, offset)
        return TestFileError(message, location=Location("file", str(self.path), line, column), path=where)

    def mapping(self, node: Node, where: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        if _is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise self.fail(node, where, f"expected a mapping, found {_kind(node)}")
        self.visit(node, where)
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            at = f"{where}.{key}" if where else str(key)
            if key not in allowed:
                raise self.fail(key_node, at, f"unknown key {key!r}; allowed here: {', '.join(allowed)}")
            if key in out:
                raise self.fail(key_node, at, f"duplicate key {key!r}")
            out[key] = value_node
        return out

    def sequence(self, node: Node | None, where: str, item: Callable[[Node, str], _T]) -> tuple[_T, ...]:
        if node is None or _is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            raise self.fail(node, where, f"expected a list, found {_kind(node)}")
        self.visit(node, where)
        return tuple(item(child, f"{where}[{i}]") for i, child in enumerate(node.value))

    def string(self, node: Node | None, where: str, *, default: str = "") -> str:
        if node is None or _is_null(node):
            return default
        if not isinstance(node, ScalarNode):
            raise self.fail(node, where, f"expected a string, found {_kind(node)}")
        return str(node.value)

    def duration(self, node: Node | None, where: str) -> int | None:
        if node is None or _is_null(node):
            return None
        text = self.string(node, where)
        try:
            return parse_prometheus_duration(text)
        except ValueError as exc:
            raise self.fail(node, where, str(exc)) from None

    def number(self, node: Node | None, where: str) -> float:
        if node is None or _is_null(node):
            return 0.0
        if not isinstance(node, ScalarNode) or node.tag not in _FLOAT_TAGS:
            shown = f"the string {node.value!r}" if isinstance(node, ScalarNode) else _kind(node)
            raise self.fail(node, where, f"expected a number (.inf and .nan included), found {shown}")
        return float(_scalar_value(node))

    def string_map(self, node: Node | None, where: str) -> tuple[tuple[str, str], ...]:
        if node is None or _is_null(node):
            return ()
        if not isinstance(node, MappingNode):
            raise self.fail(node, where, f"expected a mapping of strings, found {_kind(node)}")
        out: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, where)
            at = f"{where}.{key}"
            if key in out:
                raise self.fail(key_node, at, f"duplicate key {key!r}")
            out[key] = self.string(value_node, at)
        return tuple(sorted(out.items()))

    def labels(self, node: Node | None, where: str, *, required: bool) -> Labels:
        text = self.string(node, where)
        if not text.strip() and not required:
            return ()
        try:
            found = parse_metric(text)
        except _Syntax as exc:
            assert node is not None  # an empty text is refused above when node is None
            raise self.fail(node, where, f"{exc} in series {text!r}", offset=exc.offset) from None
        if required and not found:
            assert node is not None  # as above
            raise self.fail(node, where, f"empty label set in series {text!r}: promtool refuses to store it")
        return found

    # -- the format's parts --

    def file(self, root: Node) -> RuleTestFile:
        keys = self.mapping(root, "", ("rule_files", "evaluation_interval", "group_eval_order", "tests"))
        patterns = self.sequence(keys.get("rule_files"), "rule_files", self.string)
        found: list[Path] = []
        unmatched: list[str] = []
        for pattern in patterns:
            full = pattern if Path(pattern).is_absolute() else str(self.path.parent / pattern)
            matches = sorted(glob.glob(full))
            found.extend(Path(match) for match in matches)
            if not matches:
                unmatched.append(full)
        interval = self.duration(keys.get("evaluation_interval"), "evaluation_interval")
        order = self.sequence(keys.get("group_eval_order"), "group_eval_order", self.string)
        return RuleTestFile(
            path=self.path,
            rule_files=tuple(found),
            unmatched_rule_patterns=tuple(unmatched),
            evaluation_interval_ms=interval or DEFAULT_EVALUATION_INTERVAL_MS,
            group_eval_order=order,
            tests=self.sequence(keys.get("tests"), "tests", self.group),
        )

    def group(self, node: Node, where: str) -> RuleTestGroup:
        keys = self.mapping(
            node,
            where,
            (
                "interval",
                "input_series",
                "alert_rule_test",
                "promql_expr_test",
                "external_labels",
                "external_url",
                "name",
            ),
        )
        return RuleTestGroup(
            name=self.string(keys.get("name"), f"{where}.name"),
            interval_ms=self.duration(keys.get("interval"), f"{where}.interval"),
            input_series=self.sequence(keys.get("input_series"), f"{where}.input_series", self.series),
            alert_rule_tests=self.sequence(
                keys.get("alert_rule_test"), f"{where}.alert_rule_test", self.alert_test
            ),
            promql_expr_tests=self.sequence(
                keys.get("promql_expr_test"), f"{where}.promql_expr_test", self.expr_test
            ),
            external_labels=self.string_map(keys.get("external_labels"), f"{where}.external_labels"),
            external_url=self.string(keys.get("external_url"), f"{where}.external_url"),
            line=node.start_mark.line + 1,
        )

    def series(self, node: Node, where: str) -> InputSeries:
        keys = self.mapping(node, where, ("series", "values"))
        if "series" not in keys:
            raise self.fail(node, where, "missing key 'series'")
        labels = self.labels(keys["series"], f"{where}.series", required=True)
        values_node = keys.get("values")
        text = self.string(values_node, f"{where}.values")
        try:
            values = expand_values(text, limit=min(MAX_SERIES_SAMPLES, self.samples_left))
        except _Syntax as exc:
            assert values_node is not None  # an empty text expands to nothing
            raise self.fail(values_node, f"{where}.values", str(exc), offset=exc.offset) from None
        self.samples_left -= len(values)
        return InputSeries(labels, values, node.start_mark.line + 1)

    def alert_test(self, node: Node, where: str) -> AlertTestCase:
        keys = self.mapping(node, where, ("eval_time", "alertname", "exp_alerts"))
        return AlertTestCase(
            eval_time_ms=self.duration(keys.get("eval_time"), f"{where}.eval_time") or 0,
            alertname=self.string(keys.get("alertname"), f"{where}.alertname"),
            expected=self.sequence(keys.get("exp_alerts"), f"{where}.exp_alerts", self.expected_alert),
            line=node.start_mark.line + 1,
        )

    def expected_alert(self, node: Node, where: str) -> ExpectedAlert:
        keys = self.mapping(node, where, ("exp_labels", "exp_annotations"))
        return ExpectedAlert(
            labels=self.string_map(keys.get("exp_labels"), f"{where}.exp_labels"),
            annotations=self.string_map(keys.get("exp_annotations"), f"{where}.exp_annotations"),
            line=node.start_mark.line + 1,
        )

    def expr_test(self, node: Node, where: str) -> PromqlTestCase:
        keys = self.mapping(node, where, ("expr", "eval_time", "exp_samples"))
        expr_node = keys.get("expr")
        spot = expr_node if expr_node is not None else node
        return PromqlTestCase(
            expr=self.string(expr_node, f"{where}.expr"),
            eval_time_ms=self.duration(keys.get("eval_time"), f"{where}.eval_time") or 0,
            expected=self.sequence(keys.get("exp_samples"), f"{where}.exp_samples", self.sample),
            line=node.start_mark.line + 1,
            expr_line=spot.start_mark.line + 1,
            expr_column=spot.start_mark.column + 1,
        )

    def sample(self, node: Node, where: str) -> ExpectedSample:
        keys = self.mapping(node, where, ("labels", "value"))
        return ExpectedSample(
            labels=self.labels(keys.get("labels"), f"{where}.labels", required=False),
            value=self.number(keys.get("value"), f"{where}.value"),
            line=node.start_mark.line + 1,
        )


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return f"{node.value!r}"


def _scalar_value(node: ScalarNode) -> float:
    loaded = _CONSTRUCTOR.construct_object(node)  # the tag says int or float: no other object is built
    return float(loaded)


def _position_in_scalar(node: ScalarNode, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset`` of a scalar's value, exact for plain and
    single-line quoted scalars (a folded or escaped multi-line value points at its start)."""
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if node.style in ('"', "'"):
        column += 1
    elif node.style in ("|", ">"):
        return line, column
    if node.start_mark.line == node.end_mark.line:
        return line, column + offset
    return line, column


def parse_test_file(text: str, path: str | Path) -> RuleTestFile:
    """Read a test file's text (``path`` places rule files and names the file in errors)."""
    where = Path(path)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise TestFileError(
            f"YAML syntax error: {exc.problem or exc}",
            code="CONFIG_007",
            location=Location("file", str(where), line, column),
        ) from None
    except yaml.YAMLError as exc:
        raise TestFileError(
            f"YAML syntax error: {exc}", code="CONFIG_007", location=Location("file", str(where))
        ) from None
    if root is None:
        return RuleTestFile(where, (), (), DEFAULT_EVALUATION_INTERVAL_MS, (), ())
    return _Reader(where).file(root)


def load_test_file(path: str | Path) -> RuleTestFile:
    """Read and check the test file at ``path``."""
    where = Path(path)
    try:
        data = where.read_bytes()
    except FileNotFoundError:
        raise TestFileError(
            f"test file not found: {where}", code="CONFIG_003", location=Location("file", str(where))
        ) from None
    except OSError as exc:
        raise TestFileError(
            f"test file cannot be read: {exc.strerror or exc}",
            code="CONFIG_004",
            location=Location("file", str(where)),
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TestFileError(
            f"test file is not UTF-8 (byte {exc.start})",
            code="CONFIG_006",
            location=Location("file", str(where)),
        ) from None
    return parse_test_file(text, where)
