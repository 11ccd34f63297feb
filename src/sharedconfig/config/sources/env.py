"""Environment variables and ``.env`` files as configuration layers.

``SHAREDCONFIG_MONITORING__SAMPLE_RATE=0.5`` sets ``monitoring.sample_rate``: the prefix, then the key
path joined by ``__``. Lists and mappings are written as JSON; everything else is coerced by the schema.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from sharedconfig.config.issues import Issue, KeyPath, key_path
from sharedconfig.config.tree import Layer, ReadContext, nesting, number_problem
from sharedconfig.errors import Location

__all__ = ["DEFAULT_PREFIX", "DotenvSource", "EnvSource", "dotenv_lines", "env_path", "read_dotenv"]

DEFAULT_PREFIX = "SHAREDCONFIG_"


def env_path(name: str, prefix: str) -> KeyPath | None:
    """The key path a variable sets, or None when it is not a config variable.

    A config variable has the prefix and at least two parts (``MODULE__KEY``): ``SHAREDCONFIG_PROFILE``
    and ``SHAREDCONFIG_API_TOKEN`` are the tool's own settings, not config keys. Digit parts index lists.
    """
    if not name.upper().startswith(prefix.upper()):
        return None
    rest = name[len(prefix) :]
    if "__" not in rest:
        return None
    parts = rest.lower().split("__")
    if any(not p for p in parts):
        return None
    return key_path(parts)


def _malformed(name: str, prefix: str) -> bool:
    """True for a prefixed variable meant as a key path whose parts are not all there (``A____B``)."""
    if not name.upper().startswith(prefix.upper()):
        return False
    rest = name[len(prefix) :]
    return "__" in rest and any(not p for p in rest.split("__"))


def _layer_from(
    variables: Mapping[str, str],
    prefix: str,
    source: str,
    name: str,
    max_depth: int,
    lines: Mapping[str, int] | None = None,
) -> Layer:
    layer = Layer(source, name)

    def spot(var: str) -> Location:
        if source == "env":
            return Location("env", var)
        return Location(source, name, (lines or {}).get(var), variable=var)

    for var in sorted(variables):
        path = env_path(var, prefix)
        if path is None:
            if _malformed(var, prefix):  # reported, never silently dropped; a warning: it sets nothing
                layer.issues.append(
                    Issue(
                        "CONFIG_025",
                        "",
                        f"{var} has an empty key part (three or more underscores in a row, or two at "
                        "an end), so it sets no key",
                        severity="warning",
                        location=spot(var),
                    )
                )
            continue
        raw = variables[var]
        value: object = raw
        if raw[:1] in ("[", "{"):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                layer.problem(
                    "CONFIG_020",
                    path,
                    f"{var} starts like JSON but is not valid JSON: {exc.msg}",
                    spot=spot(var),
                )
                continue
            except RecursionError:
                layer.problem("CONFIG_026", path, f"{var} nests deeper than JSON can be read", spot=spot(var))
                continue
            except ValueError as exc:  # a number past Python's digit limit
                problem = f"{var} starts like JSON but a number in it cannot be read: {number_problem(exc)}"
                layer.problem("CONFIG_020", path, problem, spot=spot(var))
                continue
        if len(path) + nesting(value) > max_depth:
            layer.problem(
                "CONFIG_026", path, f"{var} nests more than {max_depth} levels deep", spot=spot(var)
            )
            continue
        layer.put(path, value, spot(var))
    return layer


@dataclass(frozen=True, slots=True)
class EnvSource:
    """Variables of the process environment (or of a given mapping) that carry the prefix."""

    prefix: str = DEFAULT_PREFIX
    environ: Mapping[str, str] | None = None

    def read(self, ctx: ReadContext) -> list[Layer]:
        """One layer with a value per matching variable."""
        env = os.environ if self.environ is None else self.environ
        return [_layer_from(env, self.prefix, "env", "environment", ctx.max_depth)]


def read_dotenv(path: str | os.PathLike[str]) -> tuple[dict[str, str], list[Issue]]:
    """The variables of a ``.env`` file (none when it does not exist), and the problems reading it.

    A file that cannot be read is CONFIG_004; one that is not UTF-8 is CONFIG_006 at its line and column.
    Either way no variable comes from it, and the load reports the issue instead of crashing.
    """
    name = os.fspath(path)
    text, problem = _dotenv_text(name)
    if problem is not None:
        return {}, [problem]
    if text is None:
        return {}, []
    from dotenv import dotenv_values  # only when a .env file exists

    values = dotenv_values(stream=io.StringIO(text))
    return {k: v for k, v in values.items() if v is not None}, []


def dotenv_lines(path: str | os.PathLike[str]) -> dict[str, int]:
    """The 1-based line of each variable of a ``.env`` file (the last assignment, the one that wins), by
    python-dotenv's own parser, which ``dotenv_values`` reads the file with; {} when it cannot be read."""
    text, _problem = _dotenv_text(os.fspath(path))
    if text is None:
        return {}
    from dotenv.parser import parse_stream

    lines: dict[str, int] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.key is None:
            continue
        # a binding's text starts with the blank lines before it: its key is that many lines further
        string = binding.original.string
        blank = string[: len(string) - len(string.lstrip())]
        lines[binding.key] = binding.original.line + blank.count("\n")
    return lines


def _dotenv_text(name: str) -> tuple[str | None, Issue | None]:
    """The text of a .env file; (None, None) when it does not exist, (None, issue) when it is unreadable."""
    if not os.path.isfile(name):
        return None, None
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        problem = f"cannot read the .env file: {exc.strerror or exc}"
        return None, Issue("CONFIG_004", "", problem, location=Location("dotenv", name))
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        problem = f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8"
        return None, Issue("CONFIG_006", "", problem, location=Location("dotenv", name, line, column))


@dataclass(frozen=True, slots=True)
class DotenvSource:
    """A ``.env`` file: its prefixed variables set config keys like environment variables do.

    All of its variables are also available to ``${VAR}`` interpolation (the environment wins).
    """

    path: str = ".env"
    prefix: str = DEFAULT_PREFIX
    required: bool = False
    """True for a file the caller named (``env_file=``, ``--env-file``): its absence is an error. The
    default ``.env`` is not required: it is read when it exists."""

    def read(self, ctx: ReadContext) -> list[Layer]:
        """One layer, empty when the file does not exist (holding the error when it is required)."""
        values, problems = ctx.once("dotenv", self.path, lambda: read_dotenv(self.path))
        lines = ctx.once("dotenv-lines", self.path, lambda: dotenv_lines(self.path)) if values else {}
        layer = _layer_from(values, self.prefix, "dotenv", self.path, ctx.max_depth, lines)
        layer.issues.extend(problems)
        if self.required and not os.path.isfile(self.path):
            layer.issues.append(_not_a_file(os.fspath(self.path)))
        return [layer]


def _not_a_file(name: str) -> Issue:
    """A named .env file that is missing (CONFIG_003) or is not a regular file (CONFIG_004)."""
    if not os.path.exists(name):
        code, what = "CONFIG_003", "does not exist"
    elif os.path.isdir(name):
        code, what = "CONFIG_004", "is a directory, not a file"
    else:  # reading a FIFO would wait for a writer forever
        code, what = "CONFIG_004", "is not a regular file (a FIFO, socket or device)"
    return Issue(
        code,
        "",
        f"the env file named by env_file= / --env-file {what}",
        hint="Check the path (relative paths are taken from the working directory); without the option "
        '.env is read only when it exists, and env_file=None / --env-file "" reads none.',
        location=Location("dotenv", name),
    )
