"""RE2 regular expressions (what Prometheus's Go code reads) translated to Python's ``re``, or refused.

Prometheus matches label regexes with Go's RE2. Python's ``re`` reads much of the same syntax, but not
all of it the same way, so a pattern is rewritten where the meaning can be kept exactly and refused with
a ``PromQLError`` where it cannot:

- ``\\d \\w \\s \\b`` are ASCII in RE2 (Unicode in Python): spelled out as ASCII classes;
- ``$`` without ``(?m)`` is the end of the text in RE2 (Python also matches before a final newline):
  written ``\\Z``; ``\\z`` becomes ``\\Z``; ``\\x{...}`` becomes ``\\U........``; ``(?<name>`` becomes
  ``(?P<name>``; ``[[:alpha:]]`` POSIX classes are spelled out; ``a{,3}`` is literal text, as in RE2;
- inline flags ``i m s U`` anywhere (Python wants scoped groups): rewritten to scoped groups; ``U``
  (ungreedy) is applied by swapping each quantifier's greediness;
- refused: backreferences and octal escapes, lookarounds, atomic groups, possessive and nested
  quantifiers (``a*+``, ``a**``), ``\\Z``, ``\\p{..}`` Unicode classes, ``\\u``, the ``x`` flag and other
  flags, repeat counts over 1000.

Matching is always on the whole value (``Pattern.fullmatch``), as Prometheus anchors ``^(?:re)$``.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass, field

from sharedconfig.monitoring.alerts.promql.errors import PromQLError

__all__ = ["compile_re2", "translate_re2"]

_WORD = "0-9A-Za-z_"
_SPACE = "\\t\\n\\f\\r "
_PERL = {"d": "0-9", "w": _WORD, "s": _SPACE}
_BOUNDARY = f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
_NOT_BOUNDARY = f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": _WORD,
    "xdigit": "0-9A-Fa-f",
}
_SAME_ESCAPES = frozenset("aftnrvA")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_MAX_REPEAT = 1000
_CLASS_SPECIAL = frozenset("[]\\^-&~|")


def _refuse(pattern: str, why: str) -> PromQLError:
    return PromQLError(f"regex {pattern!r}: {why} (Prometheus reads it with Go's RE2)")


@dataclass
class _Group:
    ungreedy: bool
    multiline: bool
    scoped: list[str] = field(default_factory=list)  # "(?i:" groups opened by inline flags


@dataclass
class _Translator:
    pattern: str
    i: int = 0
    out: list[str] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=lambda: [_Group(False, False)])
    repeatable: bool = False

    def fail(self, why: str) -> PromQLError:
        return _refuse(self.pattern, why)

    def run(self) -> str:
        p = self.pattern
        while self.i < len(p):
            c = p[self.i]
            if c == "\\":
                self.escape()
            elif c == "[":
                self.char_class()
            elif c == "(":
                self.open_group()
            elif c == ")":
                self.close_group()
            elif c == "|":
                top = self.groups[-1]
                self.out.append(")" * len(top.scoped) + "|" + "".join(top.scoped))
                self.i += 1
                self.repeatable = False
            elif c in "*+?":
                self.quantifier(c, 1)
            elif c == "{" and (m := _REPEAT.match(p, self.i)):
                for bound in (m.group(1), m.group(3)):
                    if bound and int(bound) > _MAX_REPEAT:
                        raise self.fail(f"repeat count {bound} is over RE2's limit of {_MAX_REPEAT}")
                self.quantifier(m.group(0), len(m.group(0)))
            elif c in "{}":
                self.literal("\\" + c)
            elif c == "$":
                self.out.append("$" if self.groups[-1].multiline else "\\Z")
                self.i += 1
                self.repeatable = True
            else:
                self.literal(c)
        if len(self.groups) != 1:
            raise self.fail("missing closing )")
        return "".join(self.out) + ")" * len(self.groups[0].scoped)

    def literal(self, text: str, advance: int = 1) -> None:
        self.out.append(text)
        self.i += advance
        self.repeatable = True

    def quantifier(self, text: str, length: int) -> None:
        if not self.repeatable:
            raise self.fail(f"missing argument to repetition operator {text!r}")
        p = self.pattern
        self.i += length
        lazy = self.i < len(p) and p[self.i] == "?"
        if lazy:
            self.i += 1
        if self.groups[-1].ungreedy:
            lazy = not lazy
        self.out.append(text + ("?" if lazy else ""))
        self.repeatable = False
        if self.i < len(p) and (p[self.i] in "*+?" or _REPEAT.match(p, self.i)):
            raise self.fail("invalid nested repetition operator (possessive quantifiers are not RE2)")

    def escape(self) -> None:
        p = self.pattern
        if self.i + 1 >= len(p):
            raise self.fail("trailing backslash")
        c = p[self.i + 1]
        if c in _PERL:
            self.literal(f"[{_PERL[c]}]", 2)
        elif c.lower() in _PERL:
            self.literal(f"[^{_PERL[c.lower()]}]", 2)
        elif c == "b":
            self.out.append(_BOUNDARY)
            self.i += 2
        elif c == "B":
            self.out.append(_NOT_BOUNDARY)
            self.i += 2
        elif c == "z":
            self.out.append("\\Z")
            self.i += 2
        elif c == "Q":
            end = p.find("\\E", self.i + 2)
            text = p[self.i + 2 :] if end < 0 else p[self.i + 2 : end]
            self.literal(re.escape(text), (len(p) if end < 0 else end + 2) - self.i)
        elif c == "x":
            text, length = self.hex_escape()
            self.literal(text, length)
        elif c in _SAME_ESCAPES:
            self.literal("\\" + c, 2)
        elif c.isdigit():
            raise self.fail(f"\\{c}: backreferences and octal escapes are not supported")
        elif c in "pP":
            raise self.fail(f"\\{c}: Unicode character classes are not supported")
        elif c.isascii() and c.isalnum():
            raise self.fail(f"\\{c} is not an RE2 escape")
        else:
            self.literal(re.escape(c), 2)

    def hex_escape(self) -> tuple[str, int]:
        p = self.pattern
        if p.startswith("{", self.i + 2):
            end = p.find("}", self.i + 3)
            digits = p[self.i + 3 : end] if end > 0 else ""
            if (
                not digits
                or any(d not in "0123456789abcdefABCDEF" for d in digits)
                or int(digits, 16) > 0x10FFFF
            ):
                raise self.fail("bad \\x{...} escape")
            return f"\\U{int(digits, 16):08x}", end + 1 - self.i
        digits = p[self.i + 2 : self.i + 4]
        if len(digits) != 2 or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise self.fail("bad \\x escape")
        return "\\x" + digits, 4

    def char_class(self) -> None:
        p = self.pattern
        self.i += 1
        parts = ["["]
        if p.startswith("^", self.i):
            parts.append("^")
            self.i += 1
        first = True
        while True:
            if self.i >= len(p):
                raise self.fail("missing closing ]")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and p.startswith("[:", self.i):
                end = p.find(":]", self.i + 2)
                name = p[self.i + 2 : end] if end > 0 else ""
                if name.startswith("^") or name not in _POSIX:
                    raise self.fail(f"POSIX class [:{name}:] is not supported")
                parts.append(_POSIX[name])
                self.i = end + 2
            elif c == "\\":
                self.class_escape(parts)
            elif c == "-" and parts[-1] not in ("[", "^") and not p.startswith("]", self.i + 1):
                parts.append("-")
                self.i += 1
            else:
                parts.append("\\" + c if c in _CLASS_SPECIAL else c)
                self.i += 1
        parts.append("]")
        self.out.append("".join(parts))
        self.repeatable = True

    def class_escape(self, parts: list[str]) -> None:
        p = self.pattern
        if self.i + 1 >= len(p):
            raise self.fail("trailing backslash")
        c = p[self.i + 1]
        if c in _PERL:
            parts.append(_PERL[c])
            self.i += 2
        elif c == "x":
            text, length = self.hex_escape()
            parts.append(text)
            self.i += length
        elif c in "aftnrv":
            parts.append("\\" + c)
            self.i += 2
        elif c.isascii() and c.isalnum():
            raise self.fail(f"\\{c} is not supported inside a character class")
        else:
            parts.append(re.escape(c))
            self.i += 2

    def open_group(self) -> None:
        p = self.pattern
        top = self.groups[-1]
        if not p.startswith("(?", self.i):
            self.groups.append(_Group(top.ungreedy, top.multiline))
            self.out.append("(")
            self.i += 1
            self.repeatable = False
            return
        rest = p[self.i + 2 :]
        if rest.startswith("P<") or (rest.startswith("<") and not rest.startswith(("<=", "<!"))):
            start = self.i + (4 if rest.startswith("P<") else 3)
            end = p.find(">", start)
            name = p[start:end] if end > 0 else ""
            if not name.isidentifier() or not name.isascii():
                raise self.fail(f"bad capture group name {name!r}")
            self.groups.append(_Group(top.ungreedy, top.multiline))
            self.out.append(f"(?P<{name}>")
            self.i = end + 1
            self.repeatable = False
            return
        flags = re.match(r"([A-Za-z]*)(?:-([A-Za-z]*))?([:)])", rest)
        if flags is None:
            raise self.fail("lookarounds, atomic groups, comments and conditionals are not supported")
        on, off, closer = flags.group(1), flags.group(2) or "", flags.group(3)
        bad = sorted(set(on + off) - set("imsU"))
        if bad:
            raise self.fail(f"inline flag {bad[0]!r} is not supported (RE2 flags: i m s U)")
        if flags.group(2) is not None and not off:
            raise self.fail("missing flags after '-'")
        ungreedy = (top.ungreedy or "U" in on) and "U" not in off
        multiline = (top.multiline or "m" in on) and "m" not in off
        on_py, off_py = on.replace("U", ""), off.replace("U", "")
        opened = "(?" + on_py + (f"-{off_py}" if off_py else "") + ":"
        self.i += 2 + flags.end()
        if closer == ":":
            self.groups.append(_Group(ungreedy, multiline))
            self.out.append(opened)
        else:
            top.ungreedy, top.multiline = ungreedy, multiline
            if on_py or off_py:
                top.scoped.append(opened)
                self.out.append(opened)
        self.repeatable = False

    def close_group(self) -> None:
        if len(self.groups) == 1:
            raise self.fail("unexpected )")
        group = self.groups.pop()
        self.out.append(")" * len(group.scoped) + ")")
        self.i += 1
        self.repeatable = True


@functools.lru_cache(maxsize=4096)
def translate_re2(pattern: str) -> str:
    """``pattern`` (RE2 syntax) rewritten for Python's ``re``; ``PromQLError`` when it cannot be."""
    return _Translator(pattern).run()


@functools.lru_cache(maxsize=4096)
def compile_re2(pattern: str, *, dot_all: bool) -> re.Pattern[str]:
    """``pattern`` compiled to match as RE2 does; ``dot_all`` lets ``.`` match a newline (Prometheus 3).

    Match with ``fullmatch`` (PromQL anchors label regexes). Raises ``PromQLError``.
    """
    translated = translate_re2(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(translated, re.DOTALL if dot_all else 0)
    except (re.error, FutureWarning, DeprecationWarning) as error:
        raise _refuse(pattern, str(error)) from None
