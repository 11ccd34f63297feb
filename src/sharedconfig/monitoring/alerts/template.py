"""Alert templates: the part of Go's text/template that Prometheus rule labels and annotations use.

Parse once at load (``Template.parse(text, name)``: syntax errors, unknown functions, unknown variables
and wrong argument counts raise ``TemplateError`` with the line and column), render many times
(``template.render(data)``); ``expand(template, data)`` renders as Prometheus does for annotations,
turning an execution error into ``<error expanding template: ...>`` (Go's message, same columns).

What is supported, with Go's semantics:

* text and actions ``{{ ... }}``, trim markers ``{{-`` / ``-}}``, comments ``{{/* ... */}}``;
* pipelines ``a | b``, parenthesised pipelines, ``$x := ...`` and ``$x = ...``, ``$`` and ``.``, fields
  and map keys (``.Labels.job``, ``$labels.job``; a missing label is ``""``), string (``"..."``,
  raw), number, character and boolean literals;
* ``if``/``else if``/``else``, ``with``/``else with``, ``range $k, $v := ...`` over maps (sorted keys) and
  lists with ``else``, ``break``, ``continue``;
* builtins ``and or not eq ne lt le gt ge len index print printf println urlquery``; comparisons
  follow Go: ``gt $value 1`` is an error (float64 against int: write ``1.0``);
* Prometheus's ``humanize humanize1024 humanizeDuration humanizePercentage humanizeTimestamp toUpper
  toLower title reReplaceAll match``, with template.go's outputs (``template_functions``; numbers
  through ``goformat``).

The data is an ``AlertData`` (Prometheus's ``{Labels, ExternalLabels, ExternalURL, Value}``), or any
Go-like value (``goformat`` lists them); ``$labels``, ``$externalLabels``, ``$externalURL`` and
``$value`` are its fields, as Prometheus's header ``{{$labels := .Labels}}...`` defines them.

Left out (an unknown function at load): ``query``, ``first``, ``label``, ``value``, ``strvalue``,
``sortByLabel``, ``args``, ``safeHtml``, ``stripPort``, ``stripDomain``, ``parseDuration``, ``toTime``,
``graphLink``, ``tableLink``, ``pathPrefix``, ``externalURL``; Go's ``html``, ``js``, ``slice``, ``call``;
``define``/``template``/``block``. Differences from Prometheus:

* wrong argument counts and ``{{ nil }}`` fail at load (Go fails when the template runs), and so does
  ``$x = ...`` before ``$x :=``;
* ``range`` over an integer is an error, as in Prometheus 2 (Go before 1.22); ``{{ else with }}`` is
  accepted, as in Prometheus 3 (Go 1.23);
* regular expressions run on Python's ``re`` in ASCII mode, with ``$`` and ``\\z`` made end-of-text as
  in RE2: RE2's common syntax reads alike (``\\d \\w \\s \\b``, classes, groups, ``(?i)``, ``(?P<n>)``),
  but ``re`` accepts backreferences and lookarounds that RE2 rejects, reads POSIX classes
  (``[[:alpha:]]``) differently, folds ``(?i)`` in ASCII only, and words its syntax errors its own way
  but for the two commonest (``missing closing )``, ``unexpected )``);
* error columns count bytes after Prometheus's header on line 1 as Go does, except that a few errors
  name a nearby node rather than the exact one Go names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sharedconfig.errors import ValidationError
from sharedconfig.monitoring.alerts import goformat
from sharedconfig.monitoring.alerts import template_functions as tf
from sharedconfig.monitoring.alerts.goformat import GoStruct, go_type

__all__ = [
    "PROMETHEUS_HEADER",
    "AlertData",
    "Template",
    "TemplateError",
    "TemplateExecutionError",
    "expand",
]

PROMETHEUS_HEADER: Final = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}"
    "{{$value := .Value}}"
)
"""What Prometheus puts before every alert template; its length shifts the columns of line 1 in errors."""

_HEADER_VARIABLES: Final = ("$labels", "$externalLabels", "$externalURL", "$value")


class TemplateError(ValidationError):
    """A template cannot be parsed: syntax, an unknown function or variable, a wrong argument count.

    ``template_line`` and ``template_column`` (1-based, characters) point into the template's text.
    """

    default_code = "VALIDATION_065"

    def __init__(self, message: str, *, name: str, line: int, column: int) -> None:
        self.template_name = name
        self.template_line = line
        self.template_column = column
        super().__init__(
            f"template {name}:{line}:{column}: {message}",
            details={"template": name, "line": line, "column": column},
        )


class TemplateExecutionError(Exception):
    """A template failed while it ran; ``str()`` is Go's message (``template: NAME:1:3: executing ...``)."""

    def __init__(self, message: str, *, name: str, line: int, column: int, node: str) -> None:
        self.message = message
        self.name = name
        self.line = line
        self.column = column
        self.node = node
        super().__init__(f'template: {name}:{line}:{column}: executing "{name}" at <{node}>: {message}')


@dataclass(frozen=True, slots=True)
class AlertData:
    """What an alert's templates see: Prometheus's ``AlertTemplateData`` plus its external URL."""

    labels: Mapping[str, str]
    value: float
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""

    def go_fields(self) -> Sequence[tuple[str, object]]:
        """The struct's fields in Prometheus's order."""
        return (
            ("Labels", self.labels),
            ("ExternalLabels", self.external_labels),
            ("ExternalURL", self.external_url),
            ("Value", self.value),
        )

    def go_type(self) -> str:
        """The type as Go names it in ``can't evaluate field`` errors."""
        return (
            "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; "
            "Value float64 }"
        )


# -- nodes ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    pos: int

    def text(self) -> str:
        raise NotImplementedError


@dataclass(slots=True)
class _TextNode(_Node):
    value: str


@dataclass(slots=True)
class _Literal(_Node):
    """A string, number, bool, nil or dot: ``source`` is how it was written, ``value`` what it means."""

    source: str
    value: object
    kind: str  # "string", "number", "bool", "nil", "dot"

    def text(self) -> str:
        return self.source


@dataclass(slots=True)
class _Identifier(_Node):
    name: str

    def text(self) -> str:
        return self.name


@dataclass(slots=True)
class _Field(_Node):
    idents: tuple[str, ...]

    def text(self) -> str:
        return "".join("." + ident for ident in self.idents)


@dataclass(slots=True)
class _Variable(_Node):
    idents: tuple[str, ...]  # "$x", then fields

    def text(self) -> str:
        return ".".join(self.idents)


@dataclass(slots=True)
class _Chain(_Node):
    node: _Node
    fields: tuple[str, ...]

    def text(self) -> str:
        inner = f"({self.node.text()})" if isinstance(self.node, _Pipe) else self.node.text()
        return inner + "".join("." + ident for ident in self.fields)


@dataclass(slots=True)
class _Command(_Node):
    args: list[_Node]

    def text(self) -> str:
        return " ".join(f"({arg.text()})" if isinstance(arg, _Pipe) else arg.text() for arg in self.args)


@dataclass(slots=True)
class _Pipe(_Node):
    decl: list[str]
    is_assign: bool
    cmds: list[_Command]

    def text(self) -> str:
        head = ", ".join(self.decl) + (" = " if self.is_assign else " := ") if self.decl else ""
        return head + " | ".join(cmd.text() for cmd in self.cmds)


@dataclass(slots=True)
class _Action(_Node):
    pipe: _Pipe


@dataclass(slots=True)
class _Control(_Node):
    kind: str  # "if", "with", "range"
    pipe: _Pipe
    body: list[_Node]
    otherwise: list[_Node]


@dataclass(slots=True)
class _Jump(_Node):
    kind: str  # "break", "continue"


# -- lexing --------------------------------------------------------------------------------------------

_SPACE = " \t\r\n"
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*(?:[pP][+-]?[0-9_]+)?"
    r"|0[oObB][0-9_]+|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)i?"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[^\W\d]\w*")
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)
_STRING_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # space field variable ident keyword string number char bool nil dot pipe ( ) := = , end
    value: str
    pos: int


class _Parse:
    """One parse: the lexer of actions and a recursive-descent parser over their tokens."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.tokens: list[_Token] = []
        self.index = 0
        self.scopes: list[list[str]] = [["$", *_HEADER_VARIABLES]]
        self.range_depth = 0

    # errors
    def fail(self, message: str, pos: int) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return TemplateError(message, name=self.name, line=line, column=column)

    # the stream of text and actions
    def segments(self) -> Iterator[tuple[str, int, str, int]]:
        """``(kind, pos, content, end)``: kind "text" or "action" (content without delimiters and trims)."""
        text = self.text
        position = 0
        trim_next = False
        while True:
            start = text.find("{{", position)
            chunk = text[position : len(text) if start < 0 else start]
            if trim_next:
                stripped = chunk.lstrip(_SPACE)
                position += len(chunk) - len(stripped)
                chunk = stripped
            if start < 0:
                if chunk:
                    yield "text", position, chunk, len(text)
                return
            inner = start + 2
            if text.startswith("-", inner) and inner + 1 < len(text) and text[inner + 1] in _SPACE:
                chunk = chunk.rstrip(_SPACE)
                inner += 2
            if chunk:
                yield "text", position, chunk, start
            end, trim_next = self.action_end(start, inner)
            yield "action", inner, text[inner:end], end
            position = end + (4 if trim_next else 2)  # past " -}}" or "}}"

    def action_end(self, start: int, inner: int) -> tuple[int, bool]:
        """Where the action opened at ``start`` ends (at ``}}`` or `` -}}``) and whether it trims."""
        text = self.text
        if text.startswith("/*", inner):  # a comment opens right after the delimiter (and trim marker)
            comment = text.find("*/", inner + 2)
            if comment < 0:
                raise self.fail("unclosed comment", start)
            after = comment + 2
            if text.startswith("}}", after):
                return after, False
            if text.startswith("-}}", after + 1) and text[after : after + 1] in tuple(_SPACE):
                return after, True
            raise self.fail("comment ends before closing delimiter", comment)
        position = inner
        quote = ""
        quote_start = inner
        while position < len(text):
            char = text[position]
            if quote:
                if char == "\\" and quote != "`":
                    position += 2
                    continue
                if char == quote:
                    quote = ""
                elif char == "\n" and quote != "`":
                    raise self.fail("unterminated quoted string", quote_start)
            elif char in "\"'`":
                quote, quote_start = char, position
            elif text.startswith("}}", position):
                if text[position - 1] == "-" and position - 2 >= inner and text[position - 2] in _SPACE:
                    return position - 2, True
                return position, False
            position += 1
        if quote == "`":
            raise self.fail("unterminated raw quoted string", quote_start)
        if quote:
            raise self.fail("unterminated quoted string", quote_start)
        raise self.fail("unclosed action", start)

    def lex(self, content: str, base: int) -> list[_Token]:  # noqa: PLR0915 (one branch per token kind)
        tokens: list[_Token] = []
        position = 0
        while position < len(content):
            char = content[position]
            pos = base + position
            if char in _SPACE:
                end = position
                while end < len(content) and content[end] in _SPACE:
                    end += 1
                tokens.append(_Token("space", content[position:end], pos))
                position = end
                continue
            if char == '"':
                end = position + 1
                while content[end] != '"':
                    end += 2 if content[end] == "\\" else 1
                tokens.append(_Token("string", content[position : end + 1], pos))
                position = end + 1
                continue
            if char == "`":
                end = content.index("`", position + 1)
                tokens.append(_Token("raw", content[position : end + 1], pos))
                position = end + 1
                continue
            if char == "'":
                end = position + 1
                while end < len(content) and content[end] != "'":
                    end += 2 if content[end] == "\\" else 1
                if end >= len(content):
                    raise self.fail("unterminated character constant", pos)
                tokens.append(_Token("char", content[position : end + 1], pos))
                position = end + 1
                continue
            if char.isdigit() or (
                char in "+-." and position + 1 < len(content) and content[position + 1].isdigit()
            ):
                match = _NUMBER.match(content, position)
                assert match is not None
                end = match.end()
                if end < len(content) and (content[end].isalnum() or content[end] in "_."):
                    raise self.fail(f"bad number syntax: {content[position : end + 1]!r}", pos)
                tokens.append(_Token("number", content[position:end], pos))
                position = end
                continue
            if char in ".$":
                match = _IDENT.match(content, position + 1)
                if match is not None:
                    tokens.append(_Token("field" if char == "." else "variable", char + match.group(), pos))
                    position = match.end()
                    continue
                tokens.append(_Token("dot" if char == "." else "variable", char, pos))
                position += 1
                continue
            match = _IDENT.match(content, position)
            if match is not None:
                word = match.group()
                kind = (
                    "keyword"
                    if word in _KEYWORDS
                    else "bool"
                    if word in ("true", "false")
                    else "nil"
                    if word == "nil"
                    else "ident"
                )
                tokens.append(_Token(kind, word, pos))
                position = match.end()
                continue
            if content.startswith(":=", position):
                tokens.append(_Token(":=", ":=", pos))
                position += 2
                continue
            if char in "|()=,":
                tokens.append(_Token(char, char, pos))
                position += 1
                continue
            shown = f"U+{ord(char):04X}" + (f" {char!r}" if char.isprintable() and char != " " else "")
            raise self.fail(f"unrecognized character in action: {shown}", pos)
        tokens.append(_Token("end", "", base + len(content)))
        return tokens

    # token helpers
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def skip_space(self) -> _Token:
        while self.tokens[self.index].kind == "space":
            self.index += 1
        return self.tokens[self.index]

    # the template: a list of text and actions, nested for control structures
    def parse(self) -> list[_Node]:
        self.stream = list(self.segments())
        self.segment = 0
        nodes, stop = self.list_until()
        if stop is not None:
            raise self.fail(f"unexpected {{{{{stop.value}}}}}", stop.pos)
        return nodes

    def list_until(self) -> tuple[list[_Node], _Token | None]:
        """Nodes up to ``{{end}}``/``{{else ...}}`` (returned as the stopping token, the tokens after it
        left to read) or the end of the text (None)."""
        nodes: list[_Node] = []
        while self.segment < len(self.stream):
            kind, pos, content, _ = self.stream[self.segment]
            self.segment += 1
            if kind == "text":
                nodes.append(_TextNode(pos, content))
                continue
            if content.startswith("/*"):
                continue
            self.tokens = self.lex(content, pos)
            self.index = 0
            first = self.skip_space()
            if first.kind == "keyword":
                self.next()
                if first.value in ("end", "else"):
                    return nodes, first
                nodes.append(self.keyword(first))
            else:
                nodes.append(_Action(first.pos, self.pipeline("command", "end")))
                self.expect_end()
        return nodes, None

    def expect_end(self) -> None:
        token = self.skip_space()
        if token.kind != "end":
            raise self.fail(f"unexpected {token.value!r} in command", token.pos)

    def keyword(self, token: _Token) -> _Node:
        word = token.value
        if word in ("break", "continue"):
            if self.range_depth == 0:
                raise self.fail(f"{{{{{word}}}}} outside {{{{range}}}}", token.pos)
            self.expect_end()
            return _Jump(token.pos, word)
        if word in ("define", "template", "block"):
            raise self.fail(f"{{{{{word}}}}} is not supported in alert templates", token.pos)
        return self.control(token, word)

    def control(self, token: _Token, word: str) -> _Control:
        self.scopes.append([])
        try:
            pipe = self.pipeline(word, "end")
            self.expect_end()
            if word == "range":
                self.range_depth += 1
            try:
                body, stop = self.list_until()
            finally:
                if word == "range":
                    self.range_depth -= 1
            otherwise: list[_Node] = []
            if stop is None:
                raise self.fail(f"unexpected EOF in {{{{{word}}}}}", token.pos)
            if stop.value == "else":
                after = self.skip_space()
                if after.kind == "keyword" and after.value in ("if", "with") and word in ("if", "with"):
                    if after.value != word:
                        raise self.fail(f"unexpected {after.value!r} in else of {{{{{word}}}}}", after.pos)
                    self.next()
                    # {{else if x}} ... {{end}} is {{else}}{{if x}} ... {{end}}{{end}}: one end closes both
                    otherwise = [self.control(after, word)]
                    return _Control(token.pos, word, pipe, body, otherwise)
                self.expect_end()
                otherwise, stop = self.list_until()
                if stop is None or stop.value != "end":
                    where = stop.pos if stop else token.pos
                    raise self.fail(f"expected end; found {{{{{stop.value if stop else 'EOF'}}}}}", where)
            self.expect_end()
            return _Control(token.pos, word, pipe, body, otherwise)
        finally:
            self.scopes.pop()

    def declared(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def pipeline(self, context: str, closer: str) -> _Pipe:
        start = self.skip_space()
        decl: list[str] = []
        is_assign = False
        if start.kind == "variable":
            mark = self.index
            self.next()
            after = self.skip_space()
            if after.kind in (":=", "="):
                self.next()
                is_assign = after.kind == "="
                if is_assign and not self.declared(start.value):
                    raise self.fail(f"undefined variable {start.value!r}", start.pos)
                decl.append(start.value)
            elif after.kind == ",":
                self.next()
                second = self.skip_space()
                if context != "range":
                    raise self.fail(f"too many declarations in {context}", after.pos)
                if second.kind != "variable":
                    raise self.fail("range can only initialize variables", second.pos)
                self.next()
                equals = self.skip_space()
                if equals.kind not in (":=", "="):
                    raise self.fail(f"unexpected {equals.value!r} in range", equals.pos)
                self.next()
                is_assign = equals.kind == "="
                decl.extend((start.value, second.value))
            else:
                self.index = mark
        cmds: list[_Command] = []
        while True:
            token = self.skip_space()
            if token.kind == closer:
                break
            if cmds:
                if token.kind != "|":
                    raise self.fail(f"unexpected {token.value!r} in {context}", token.pos)
                self.next()
            cmds.append(self.command(context, len(cmds)))
        if not cmds:
            raise self.fail(f"missing value for {context}", start.pos)
        for name in decl:
            if not is_assign:
                self.scopes[-1].append(name)
        return _Pipe(start.pos, decl, is_assign, cmds)

    def command(self, context: str, stage: int) -> _Command:
        start = self.skip_space()
        args: list[_Node] = []
        while True:
            token = self.skip_space()
            if token.kind in ("end", ")", "|"):
                break
            if args and self.tokens[self.index - 1].kind != "space":
                raise self.fail(f"unexpected {token.value!r} in operand", token.pos)
            operand = self.operand()
            if operand is None:
                raise self.fail(f"unexpected {token.value!r} in operand", token.pos)
            args.append(operand)
        if not args:
            raise self.fail(f"missing value for {context}", start.pos)
        head = args[0]
        if stage > 0 and isinstance(head, _Literal):
            raise self.fail(f"non executable command in pipeline stage {stage + 1}", head.pos)
        if isinstance(head, _Literal) and head.kind == "nil":
            raise self.fail("nil is not a command", head.pos)
        if isinstance(head, _Identifier):
            self.check_arity(head, len(args) - 1 + (1 if stage > 0 else 0))
        for arg in args[1:] if isinstance(head, _Identifier) else args:
            # a function named as an operand (or chained: humanize.x) is called with no arguments
            called = arg.node if isinstance(arg, _Chain) else arg
            if isinstance(called, _Identifier):
                self.check_arity(called, 0)
        return _Command(start.pos, args)

    def check_arity(self, head: _Identifier, count: int) -> None:
        function = tf.FUNCTIONS[head.name]
        wanted = len(function.params)
        if function.variadic is not None:
            if count < wanted:
                raise self.fail(
                    f"wrong number of args for {head.name}: want at least {wanted} got {count}", head.pos
                )
        elif count != wanted:
            raise self.fail(f"wrong number of args for {head.name}: want {wanted} got {count}", head.pos)

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        fields: list[str] = []
        first_field = self.peek()
        while self.peek().kind == "field":
            fields.append(self.next().value[1:])
        if not fields:
            return node
        if isinstance(node, _Field):
            return _Field(first_field.pos, node.idents + tuple(fields))
        if isinstance(node, _Variable):
            return _Variable(first_field.pos, node.idents + tuple(fields))
        if isinstance(node, _Literal):
            raise self.fail(f"unexpected . after term {node.text()!r}", first_field.pos)
        return _Chain(first_field.pos, node, tuple(fields))

    def term(self) -> _Node | None:
        token = self.peek()
        kind = token.kind
        if kind == "ident":
            self.next()
            if token.value not in tf.FUNCTIONS:
                raise self.fail(f'function "{token.value}" not defined', token.pos)
            return _Identifier(token.pos, token.value)
        if kind == "dot":
            self.next()
            return _Literal(token.pos, ".", None, "dot")
        if kind == "nil":
            self.next()
            return _Literal(token.pos, "nil", None, "nil")
        if kind == "bool":
            self.next()
            return _Literal(token.pos, token.value, token.value == "true", "bool")
        if kind == "variable":
            self.next()
            if not self.declared(token.value):
                raise self.fail(f'undefined variable "{token.value}"', token.pos)
            return _Variable(token.pos, (token.value,))
        if kind == "field":
            self.next()
            return _Field(token.pos, (token.value[1:],))
        if kind in ("number", "char"):
            self.next()
            return _Literal(token.pos, token.value, self.number(token), "number")
        if kind in ("string", "raw"):
            self.next()
            return _Literal(token.pos, token.value, self.unquote(token), "string")
        if kind == "(":
            self.next()
            pipe = self.pipeline("parenthesized pipeline", ")")
            self.next()
            return pipe
        return None

    def unquote(self, token: _Token) -> str:
        source = token.value
        if source.startswith("`"):
            return source[1:-1]
        out: list[str] = []
        body = source[1:-1]
        position = 0
        while position < len(body):
            char = body[position]
            if char != "\\":
                out.append(char)
                position += 1
                continue
            escape = body[position + 1 : position + 2]
            if escape in _STRING_ESCAPES:
                out.append(_STRING_ESCAPES[escape])
                position += 2
            elif escape in ('"', "\\", "'"):
                out.append(escape)
                position += 2
            elif escape in ("x", "u", "U"):
                size = {"x": 2, "u": 4, "U": 8}[escape]
                digits = body[position + 2 : position + 2 + size]
                if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise self.fail(f"invalid syntax: {source}", token.pos)
                out.append(chr(int(digits, 16)))
                position += 2 + size
            elif escape in "01234567" and escape:
                digits = body[position + 1 : position + 4]
                if len(digits) != 3 or not all(c in "01234567" for c in digits):
                    raise self.fail(f"invalid syntax: {source}", token.pos)
                out.append(chr(int(digits, 8)))
                position += 4
            else:
                raise self.fail(f"invalid syntax: {source}", token.pos)
        return "".join(out)

    def number(self, token: _Token) -> object:
        """The value Go gives a number literal where its type is free: int, or float64 when written so."""
        text = token.value
        if token.kind == "char":
            inner = self.unquote(_Token("string", '"' + token.value[1:-1] + '"', token.pos))
            if len(inner) != 1:
                raise self.fail(f"malformed character constant: {text}", token.pos)
            return ord(inner)
        if text.endswith("i"):
            raise self.fail(f"complex numbers are not supported: {text}", token.pos)
        hex_int = text.lstrip("+-")[:2] in ("0x", "0X") and not any(c in text for c in ".pP")
        try:
            if hex_int or not any(c in text for c in ".eEpP"):
                clean = text.replace("_", "")
                digits = clean.lstrip("+-")
                sign = -1 if clean.startswith("-") else 1
                if digits[:2].lower() in ("0x", "0o", "0b"):
                    number = int(digits, 0)
                elif len(digits) > 1 and digits.startswith("0"):
                    number = int(digits, 8)
                else:
                    number = int(digits)
                number *= sign
                if not -(2**63) <= number < 2**63:
                    raise self.fail(f"{text} overflows int", token.pos)
                return number
            return goformat.parse_float(text.replace("_", ""))
        except ValueError:
            raise self.fail(f"bad number syntax: {text!r}", token.pos) from None


# -- execution -----------------------------------------------------------------------------------------


class _Fail(Exception):
    def __init__(self, message: str, node: _Node) -> None:
        self.message = message
        self.node = node
        super().__init__(message)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Run:
    """One execution: the variables (a stack, marked per control structure) and the output."""

    def __init__(self, data: object) -> None:
        self.out: list[str] = []
        self.at: _Node | None = None  # the node evaluated last, as Go's state.at: errors may name it
        fields = dict(data.go_fields()) if isinstance(data, AlertData) else {}
        self.vars: list[tuple[str, object]] = [("$", data)] + [
            (name, fields.get(name[1:][:1].upper() + name[2:], tf.MISSING)) for name in _HEADER_VARIABLES
        ]

    def lookup(self, name: str, node: _Node) -> object:
        for var_name, value in reversed(self.vars):
            if var_name == name:
                return value
        raise _Fail(f"undefined variable: {name}", node)

    def assign(self, name: str, value: object) -> None:
        for position in range(len(self.vars) - 1, -1, -1):
            if self.vars[position][0] == name:
                self.vars[position] = (name, value)
                return

    def walk(self, dot: object, nodes: list[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _TextNode):
                self.out.append(node.value)
            elif isinstance(node, _Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    missing = value is tf.MISSING or value is None
                    self.out.append("<no value>" if missing else goformat.format_value(value))
            elif isinstance(node, _Control):
                self.control(dot, node)
            elif isinstance(node, _Jump):
                raise _Break() if node.kind == "break" else _Continue()

    def control(self, dot: object, node: _Control) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(dot, node)
                return
            value = self.pipeline(dot, node.pipe)
            if tf.truth(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            else:
                self.walk(dot, node.otherwise)
        finally:
            del self.vars[mark:]

    def range(self, dot: object, node: _Control) -> None:
        pipe = node.pipe
        value = self.pipeline(dot, _Pipe(pipe.pos, [], False, pipe.cmds))
        items: list[tuple[object, object]]
        if isinstance(value, Mapping):
            items = [(key, value[key]) for key in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif value is None or value is tf.MISSING:
            items = []
        else:
            # Go reports the node it evaluated last
            raise _Fail(f"range can't iterate over {goformat.format_value(value)}", self.at or pipe)
        if not items:
            self.walk(dot, node.otherwise)
            return
        decl = pipe.decl
        if not pipe.is_assign:
            self.vars.extend((name, tf.MISSING) for name in decl)
        for key, element in items:
            if decl:
                self.assign(decl[-1], element)
            if len(decl) > 1:
                self.assign(decl[0], key)
            mark = len(self.vars)
            try:
                self.walk(element, node.body)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                del self.vars[mark:]

    def set_var(self, name: str, value: object, is_assign: bool) -> None:
        if is_assign:
            self.assign(name, value)
        else:
            self.vars.append((name, value))

    def pipeline(self, dot: object, pipe: _Pipe) -> object:
        value: object = tf.MISSING
        final: object = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, final)
            final = value
        for name in pipe.decl:
            self.set_var(name, value, pipe.is_assign)
        return value

    def command(self, dot: object, cmd: _Command, final: object) -> object:
        head = cmd.args[0]
        self.at = head
        if isinstance(head, _Field):
            return self.fields(dot, dot, head, head.idents, cmd.args, final)
        if isinstance(head, _Variable):
            value = self.lookup(head.idents[0], head)
            if len(head.idents) == 1:
                self.not_a_function(cmd.args, final)
                return value
            return self.fields(dot, value, head, head.idents[1:], cmd.args, final)
        if isinstance(head, _Chain):
            value = self.arg_value(dot, head.node)
            return self.fields(dot, value, head, head.fields, cmd.args, final)
        if isinstance(head, _Identifier):
            return self.call(dot, head, cmd, final)
        if isinstance(head, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, head)
        self.not_a_function(cmd.args, final)
        assert isinstance(head, _Literal)
        return dot if head.kind == "dot" else head.value

    def not_a_function(self, args: list[_Node], final: object) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise _Fail(f"can't give argument to non-function {args[0].text()}", args[0])

    def fields(
        self,
        dot: object,
        receiver: object,
        node: _Node,
        idents: Sequence[str],
        args: list[_Node],
        final: object,
    ) -> object:
        # Go names the node it evaluated last for a chain's field ((pipeline).Field), else the node
        where = (self.at or node) if isinstance(node, _Chain) else node
        for position, ident in enumerate(idents):
            last = position == len(idents) - 1
            if receiver is tf.MISSING or receiver is None:
                return tf.MISSING
            if isinstance(receiver, GoStruct):
                values = dict(receiver.go_fields())
                if ident not in values:
                    raise _Fail(f"can't evaluate field {ident} in type {go_type(receiver)}", where)
                if last and (len(args) > 1 or final is not _NO_FINAL):
                    raise _Fail(f"{ident} has arguments but cannot be invoked as function", where)
                receiver = values[ident]
            elif isinstance(receiver, Mapping):
                if last and (len(args) > 1 or final is not _NO_FINAL):
                    raise _Fail(f"{ident} is not a method but has arguments", where)
                receiver = receiver[ident] if ident in receiver else tf.zero_element(receiver)
            else:
                raise _Fail(f"can't evaluate field {ident} in type {go_type(receiver)}", where)
        return receiver

    def arg_value(self, dot: object, node: _Node) -> object:
        """An operand's value where its type is free (interface{}), as Go evaluates an argument."""
        self.at = node
        if isinstance(node, _Literal):
            return dot if node.kind == "dot" else node.value
        if isinstance(node, _Field):
            return self.fields(dot, dot, node, node.idents, [node], _NO_FINAL)
        if isinstance(node, _Variable):
            value = self.lookup(node.idents[0], node)
            return self.fields(dot, value, node, node.idents[1:], [node], _NO_FINAL)
        if isinstance(node, _Chain):
            return self.fields(dot, self.arg_value(dot, node.node), node, node.fields, [node], _NO_FINAL)
        if isinstance(node, _Pipe):
            return self.pipeline(dot, node)
        assert isinstance(node, _Identifier)
        return self.call(dot, node, _Command(node.pos, [node]), _NO_FINAL)

    def typed_arg(self, dot: object, param: str, node: _Node) -> object:
        if param == "string" and isinstance(node, _Literal) and node.kind == "nil":
            raise _Fail("cannot assign nil to string", node)
        if param == "string" and isinstance(node, _Literal) and node.kind in ("number", "bool"):
            raise _Fail(f"expected string; found {node.text()}", node)
        value = self.arg_value(dot, node)
        return self.check_type(param, value, node)

    def check_type(self, param: str, value: object, node: _Node) -> object:
        if param == "string" and not isinstance(value, str):
            if value is tf.MISSING or value is None:
                raise _Fail("invalid value; expected string", node)
            raise _Fail(f"wrong type for value; expected string; got {go_type(value)}", node)
        if param == "any" and value is tf.MISSING:
            return None
        return value

    def call(self, dot: object, ident: _Identifier, cmd: _Command, final: object) -> object:
        function = tf.FUNCTIONS[ident.name]
        arg_nodes = cmd.args[1:]
        params = [
            function.params[i] if i < len(function.params) else function.variadic or "any"
            for i in range(len(arg_nodes) + (final is not _NO_FINAL))
        ]
        if ident.name in ("and", "or"):
            value: object = tf.MISSING
            for node in arg_nodes:
                value = self.arg_value(dot, node)
                if tf.truth(value) == (ident.name == "or"):
                    return value
            return final if final is not _NO_FINAL else value
        args = [self.typed_arg(dot, param, node) for param, node in zip(params, arg_nodes, strict=False)]
        if final is not _NO_FINAL:
            args.append(self.check_type(params[-1], final, ident))
        try:
            return function.call(*args)
        except tf.CallError as error:
            raise _Fail(f"error calling {ident.name}: {error}", cmd) from None


class _NoFinal:
    __slots__ = ()


_NO_FINAL: Final = _NoFinal()


# -- the public face -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed alert template; ``render`` runs it, as often as needed, against alert data."""

    name: str
    text: str
    _nodes: tuple[_Node, ...]

    @classmethod
    def parse(cls, text: str, name: str = "template") -> Template:
        """Parse ``text``; ``TemplateError`` (with line and column) when it is not a valid template.

        ``name`` appears in messages: Prometheus names an alert's templates ``__alert_<alertname>``.
        """
        return cls(name, text, tuple(_Parse(text, name).parse()))

    def render(self, data: object) -> str:
        """The text the template produces for ``data``; ``TemplateExecutionError`` when it fails."""
        run = _Run(data)
        try:
            run.walk(data, list(self._nodes))
        except _Fail as failure:
            line, column = self._position(failure.node.pos)
            raise TemplateExecutionError(
                failure.message, name=self.name, line=line, column=column, node=failure.node.text()
            ) from None
        return "".join(run.out)

    def _position(self, pos: int) -> tuple[int, int]:
        """Go's error position: the line, and the byte offset in it (0-based) after Prometheus's header."""
        line = self.text.count("\n", 0, pos) + 1
        line_start = self.text.rfind("\n", 0, pos) + 1
        column = len(self.text[line_start:pos].encode())
        if line == 1:
            column += len(PROMETHEUS_HEADER)
        return line, column


def expand(template: Template | str, data: object, name: str = "template") -> str:
    """Render as Prometheus does for labels and annotations: an execution error becomes the result.

    ``<error expanding template: error executing template NAME: template: NAME:1:115: executing ...>``;
    a string is parsed first (its ``TemplateError`` is raised: parse at load time to report it there).
    """
    parsed = template if isinstance(template, Template) else Template.parse(template, name)
    try:
        return parsed.render(data)
    except TemplateExecutionError as error:
        return f"<error expanding template: error executing template {parsed.name}: {error}>"
