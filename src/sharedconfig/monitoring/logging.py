"""The structlog-based ``Logger``: JSON lines or a console view, secrets redacted, stdlib logging routed in.

Every logger owns its processor chain and output stream; nothing calls ``structlog.configure()``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any, Final, Literal, TextIO, TypeAlias, overload

import structlog
from pydantic import Secret, SecretBytes, SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

from sharedconfig import tracecontext
from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.settings import LoggingSettings
from sharedconfig.redaction import REDACTED, looks_secret, mask_userinfo

__all__ = [
    "StructLogger",
    "add_trace_ids",
    "capture_stdlib",
    "default_processors",
    "make_logger",
    "module_logger",
    "redact_secrets",
]

Format: TypeAlias = Literal["json", "console"]
_ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]

_LEVELS: Final[Mapping[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# keys the pipeline writes itself; a caller's field of the same name is kept as ``name_`` instead
_RESERVED: Final = frozenset({"event", "level", "timestamp", "exception", "stack"})
# keys that lead every JSON line, in this order, so lines read alike whatever fields follow
_LEADING: Final = ("timestamp", "level", "event", "logger", "module", "component")
_MAX_DEPTH: Final = 8
_SECRET_TYPES: Final = (SecretStr, SecretBytes, Secret)
# attributes every LogRecord has; anything else on a record came from ``extra=`` and becomes a field
_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with ANSI colour codes: noise in structured logs
}


def _level_number(level: int | str) -> int:
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(_LEVELS)}") from None


def _method_for(levelno: int) -> str:
    """The Logger method matching a stdlib level number; levels between the named ones round down."""
    for name in ("critical", "error", "warning", "info"):
        if levelno >= _LEVELS[name]:
            return name
    return "debug"


def _safe_str(value: object) -> str:
    """``str(value)``, falling back to ``repr`` and then to the type name: rendering never raises."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def _free_name(key: str, taken: Mapping[str, object]) -> str:
    renamed = f"{key}_"
    while renamed in taken:
        renamed += "_"
    return renamed


def _without_reserved(fields: dict[str, object]) -> dict[str, object]:
    """Move caller fields named like pipeline keys (``level``, ``event``...) to ``level_``, ``event_``."""
    if _RESERVED.isdisjoint(fields):
        return fields
    out: dict[str, object] = {}
    for key, value in fields.items():
        out[_free_name(key, fields) if key in _RESERVED else key] = value
    return out


def _exc_info_of(value: object) -> _ExcInfo | None:
    """The exception ``value`` designates, as ``sys.exc_info()`` would give it, or None."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if value is True:
        current = sys.exc_info()
        return None if current[1] is None else current
    if (
        isinstance(value, tuple)
        and len(value) == 3
        and isinstance(value[0], type)
        and isinstance(value[1], BaseException)
    ):
        return value
    return None


def _clean(value: object, parents: tuple[int, ...] = ()) -> object:
    """A copy of ``value`` with secrets redacted and containers made plain and acyclic for rendering."""
    if isinstance(value, str):
        return mask_userinfo(value)
    if isinstance(value, int | bool | None):  # the common case first: nothing to do
        return value
    if isinstance(value, _SECRET_TYPES):
        return REDACTED
    if isinstance(value, float):
        return value if math.isfinite(value) else _safe_str(value)  # JSON has no NaN or Infinity
    if not isinstance(value, Mapping | list | tuple | set | frozenset):
        return value
    if id(value) in parents:
        return "<cycle>"
    if len(parents) >= _MAX_DEPTH:
        return _safe_str(value)
    inner = (*parents, id(value))
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            name = key if isinstance(key, str) else _safe_str(key)
            out[name] = REDACTED if looks_secret(name) else _clean(item, inner)
        return out
    return [_clean(item, inner) for item in value]


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor: secret-looking keys (at any depth) and pydantic secret values become ``REDACTED``.

    It also copies nested containers into plain ``dict``/``list`` values with string keys, no cycles
    (a container inside itself becomes ``"<cycle>"``, one nested deeper than eight levels its ``str``)
    and no NaN, so the renderers cannot fail on them.
    """
    for key, value in event_dict.items():
        if key in ("event", "exception", "stack"):
            if isinstance(value, str):  # a message or traceback built from a URL keeps no password
                event_dict[key] = mask_userinfo(value)
            continue
        event_dict[key] = REDACTED if looks_secret(key) else _clean(value)
    return event_dict


def add_trace_ids(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor: add ``trace_id`` and ``span_id`` of ``sharedconfig.tracecontext.current()`` inside a trace.

    Fields the caller gave under those names win, as with ``StdlibLogger``.
    """
    trace = tracecontext.current()
    if trace is not None:
        event_dict.setdefault("trace_id", trace.trace_id)
        event_dict.setdefault("span_id", trace.span_id)
    return event_dict


def _render_exception(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor: an ``exc_info`` naming an exception becomes its formatted traceback under ``exception``.

    ``exc_info`` may be an exception, ``True`` (the exception being handled) or a ``sys.exc_info()``
    tuple, as in stdlib logging; any other value is an ordinary field, kept as ``exc_info_``.
    """
    if "exc_info" not in event_dict:
        return event_dict
    value = event_dict.pop("exc_info")
    exc_info = _exc_info_of(value)
    if exc_info is not None:
        try:
            event_dict["exception"] = "".join(traceback.format_exception(*exc_info)).rstrip("\n")
        except Exception:
            event_dict["exception"] = f"{exc_info[0].__name__}: {_safe_str(exc_info[1])}"
    elif value not in (None, False):
        event_dict[_free_name("exc_info", event_dict)] = value
    return event_dict


def _lead_with_standard_keys(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor: put timestamp, level, event, logger, module and component first, in that order."""
    ordered = {key: event_dict.pop(key) for key in _LEADING if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _fallback_line(event_dict: EventDict, error: Exception) -> str:
    """The line written when a renderer fails: the standard keys and what went wrong, as JSON."""
    line = {key: _safe_str(event_dict[key]) for key in ("timestamp", "level", "event") if key in event_dict}
    line["logging_error"] = f"{type(error).__name__}: {_safe_str(error)}"
    return json.dumps(line, ensure_ascii=False)


def _guarded(renderer: Processor) -> Processor:
    """Wrap a renderer so that a failure writes a fallback line instead of raising into the caller."""

    def render(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        snapshot = dict(event_dict)  # renderers pop keys; keep what the fallback line needs
        try:
            return renderer(logger, method_name, event_dict)
        except Exception as error:
            return _fallback_line(snapshot, error)

    return render


def default_processors(render: Format = "json", *, colors: bool = False) -> tuple[Processor, ...]:
    """The chain ``make_logger`` uses: trace ids, level, ISO UTC timestamp, exception, redaction, render.

    ``render="json"`` ends with one JSON object per line (values that JSON cannot hold go through
    ``str``); ``"console"`` ends with structlog's ``ConsoleRenderer``, colored only when ``colors``.
    """
    renderer: Processor
    if render == "json":
        renderer = structlog.processors.JSONRenderer(default=_safe_str, ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    chain: list[Processor] = [
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _render_exception,
        redact_secrets,
    ]
    if render == "json":
        chain.append(_lead_with_standard_keys)
    chain.append(_guarded(renderer))
    return tuple(chain)


class _Pipeline(structlog.BoundLoggerBase):
    """A structlog bound logger (sink, processor chain, immutable context) that emits prepared fields."""

    def emit(self, method_name: str, event: str, fields: dict[str, Any]) -> None:
        """Run the chain over the bound context, ``fields`` and ``event``, and write the result."""
        try:
            args, kwargs = self._process_event(method_name, event, fields)
        except structlog.DropEvent:
            return
        self._logger.msg(*args, **kwargs)


class _Threshold:
    """The level shared by a logger and every logger bound from it, so ``set_level`` reaches them all."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


class StructLogger:
    """A ``Logger`` writing through a structlog processor chain to its own stream.

    Build one with ``make_logger``, or directly from any processor chain (the last processor returns
    the line to write). Calls below ``level`` return before any work. Bound fields come first and a
    call's fields override them; fields named like the keys the pipeline writes (``event``, ``level``,
    ``timestamp``, ``exception``, ``stack``) are kept as ``event_``, ``level_``... A field ``exc_info``
    holding an exception, ``True`` or a ``sys.exc_info()`` tuple adds its traceback as ``exception``.
    Inside a trace (``sharedconfig.tracecontext.use(...)``) ``trace_id`` and ``span_id`` are added.
    A log call never raises: values are rendered with ``str`` when needed, and a failing stream drops
    the line. ``set_level`` changes the level of the logger and of every logger bound from the same
    root, at once (``Monitoring.apply`` does it when ``monitoring.logging.level`` changes).
    """

    __slots__ = ("_level", "_pipeline")
    _level: _Threshold

    def __init__(
        self,
        processors: Iterable[Processor],
        *,
        stream: TextIO | None = None,
        level: int | str = logging.INFO,
    ) -> None:
        sink = structlog.WriteLogger(stream if stream is not None else sys.stderr)
        self._pipeline = _Pipeline(sink, list(processors), {})
        self._level = _Threshold(_level_number(level))

    @classmethod
    def _derive(cls, pipeline: _Pipeline, level: _Threshold) -> StructLogger:
        logger = cls.__new__(cls)
        logger._pipeline = pipeline
        logger._level = level
        return logger

    @property
    def level(self) -> int:
        """The lowest stdlib level number that is written (``logging.INFO`` is 20)."""
        return self._level.value

    def set_level(self, level: int | str) -> None:
        """Write from ``level`` on (a number or a name such as ``"debug"``): this logger, the one it was
        bound from and every other logger bound from that root; ``ValueError`` for an unknown name."""
        self._level.value = _level_number(level)

    @property
    def fields(self) -> Mapping[str, object]:
        """The fields bound to this logger."""
        context: Mapping[str, object] = self._pipeline._context
        return context

    def is_enabled_for(self, level: int | str) -> bool:
        """True when a record at ``level`` (a number or a name such as ``"debug"``) would be written."""
        return _level_number(level) >= self._level.value

    def _log(self, levelno: int, method_name: str, message: str, fields: dict[str, object]) -> None:
        if levelno < self._level.value:
            return
        try:
            self._pipeline.emit(method_name, _safe_str(message), _without_reserved(fields))
        except Exception:  # a closed or failing stream: logging must not take the caller down
            return

    def _log_record(self, method_name: str, message: str, fields: dict[str, object]) -> None:
        """Emit a stdlib record's message with pipeline keys (``logger``, ``stack``) set by the handler."""
        try:
            self._pipeline.emit(method_name, message, fields)
        except Exception:
            return

    def debug(self, message: str, /, **fields: object) -> None:
        """Log at debug level."""
        self._log(logging.DEBUG, "debug", message, fields)

    def info(self, message: str, /, **fields: object) -> None:
        """Log at info level."""
        self._log(logging.INFO, "info", message, fields)

    def warning(self, message: str, /, **fields: object) -> None:
        """Log at warning level."""
        self._log(logging.WARNING, "warning", message, fields)

    def error(self, message: str, /, **fields: object) -> None:
        """Log at error level."""
        self._log(logging.ERROR, "error", message, fields)

    def critical(self, message: str, /, **fields: object) -> None:
        """Log at critical level; the process keeps running."""
        self._log(logging.CRITICAL, "critical", message, fields)

    def bind(self, **fields: object) -> StructLogger:
        """Return a logger on the same stream and chain with these fields added to the bound ones."""
        return StructLogger._derive(self._pipeline.bind(**_without_reserved(fields)), self._level)

    def __repr__(self) -> str:
        return f"StructLogger(level={logging.getLevelName(self.level)!r}, fields={sorted(self.fields)})"


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def make_logger(
    settings: LoggingSettings | None = None,
    *,
    stream: TextIO | None = None,
    component: str = "",
    module: str = "",
) -> StructLogger:
    """A ``StructLogger`` configured from the ``monitoring.logging`` settings, writing to ``stream``.

    ``stream`` defaults to ``sys.stderr`` (read now, not at import). Format ``auto`` is the console view
    on a terminal and JSON lines otherwise; the console view is colored only on a terminal and when
    ``NO_COLOR`` is unset. ``module`` and ``component``, when given, are bound to every line.
    ``settings.capture_stdlib`` is not acted on here: call ``capture_stdlib`` with the logger.
    """
    settings = settings if settings is not None else LoggingSettings()
    out = stream if stream is not None else sys.stderr
    tty = _is_tty(out)
    console = settings.format == "console" or (settings.format == "auto" and tty)
    render: Format = "console" if console else "json"
    colors = tty and "NO_COLOR" not in os.environ
    logger = StructLogger(default_processors(render, colors=colors), stream=out, level=settings.level)
    named = {key: value for key, value in (("module", module), ("component", component)) if value}
    return logger.bind(**named) if named else logger


@overload
def module_logger(base: StructLogger, module: str, component: str = "") -> StructLogger: ...
@overload
def module_logger(base: Logger, module: str, component: str = "") -> Logger: ...
def module_logger(base: Logger, module: str, component: str = "") -> Logger:
    """A logger adding ``module`` (and ``component`` when given) to every line: seed 1.2's module scope.

    ``module_logger(log, "config", "loader")`` is ``log.bind(module="config", component="loader")``.
    """
    if component:
        return base.bind(module=module, component=component)
    return base.bind(module=module)


class _RoutingHandler(logging.Handler):
    """A stdlib handler that writes records through a ``StructLogger``'s chain."""

    def __init__(self, logger: StructLogger, level: int) -> None:
        super().__init__(level)
        # module and component name the code that called the StructLogger; a record names its own logger
        self._logger = StructLogger._derive(logger._pipeline.try_unbind("module", "component"), logger._level)
        self._busy = threading.local()  # a record logged while rendering one must not recurse

    def emit(self, record: logging.LogRecord) -> None:
        """Render ``record`` as the logger's line: message, level, ``logger`` name, extras, traceback."""
        method_name = _method_for(record.levelno)
        if getattr(self._busy, "active", False) or not self._logger.is_enabled_for(record.levelno):
            return
        self._busy.active = True
        try:
            try:
                message = record.getMessage()
            except Exception:  # bad %-arguments: keep what the caller wrote
                message = f"{_safe_str(record.msg)} {_safe_str(record.args)}"
            extras = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}
            fields: dict[str, object] = _without_reserved(extras)
            fields["logger"] = record.name
            if record.exc_info and record.exc_info[1] is not None:
                fields["exc_info"] = record.exc_info
            if record.stack_info:
                fields["stack"] = record.stack_info
            self._logger._log_record(method_name, message, fields)
        finally:
            self._busy.active = False


def capture_stdlib(
    logger: StructLogger, level: int | str | None = None, *, exclusive: bool = False
) -> Callable[[], None]:
    """Route records of the stdlib ``logging`` module through ``logger``; return the function undoing it.

    A handler is added to the root logger and the root level set to ``level`` (default: the logger's
    own). Each record becomes one line with its message, level, ``logger`` (the record's logger name),
    its ``extra=`` fields, the logger's bound fields except ``module`` and ``component`` (they describe
    callers of ``logger``, not stdlib code) and, with ``exc_info``, the traceback under ``exception``. With
    ``exclusive`` the root's other handlers are detached meanwhile, so records are not written twice.
    The returned function restores the root's level and handlers as they were (undo captures in reverse
    order); calling it again does nothing.
    """
    root = logging.getLogger()
    levelno = logger.level if level is None else _level_number(level)
    saved_level = root.level
    saved_handlers = list(root.handlers)
    handler = _RoutingHandler(logger, levelno)
    if exclusive:
        for existing in saved_handlers:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(levelno)
    done = False

    def uninstall() -> None:
        nonlocal done
        if done:
            return
        done = True
        root.removeHandler(handler)
        if exclusive:
            added_since = [h for h in root.handlers if h not in saved_handlers]
            root.handlers[:] = [*saved_handlers, *added_since]
        root.setLevel(saved_level)

    return uninstall
