"""``Logger`` implementations over the standard library's ``logging``, and one that discards everything.

Fields are rendered ``message key=value ...`` and passed as ``extra={"fields": {...}}``; secrets redacted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from sharedconfig import tracecontext
from sharedconfig.redaction import REDACTED, looks_secret, mask_userinfo

__all__ = ["REDACTED", "NullLogger", "StdlibLogger", "is_secret_key"]

is_secret_key = looks_secret  # the logger's name for the shared rule


def _render(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if not text or any(c.isspace() or c in '"=\\' for c in text):
        return json.dumps(text, ensure_ascii=False)  # quoted and escaped, logfmt style
    return text


class StdlibLogger:
    """A ``Logger`` that writes to ``logging.getLogger(name)``.

    Each call renders ``message key=value ...`` (values with spaces or quotes are JSON-quoted) and passes
    the fields, secrets redacted, as ``extra={"fields": {...}}`` so structured handlers can use them.
    Inside a trace (``sharedconfig.tracecontext.use(...)``) ``trace_id`` and ``span_id`` are added.
    Records point at the caller's file and line, not at this module. Nothing is formatted when the level
    is disabled.
    """

    __slots__ = ("_fields", "_logger")

    def __init__(self, name: str = "sharedconfig", **bound: object) -> None:
        self._logger = logging.getLogger(name)
        self._fields: Mapping[str, object] = bound

    @property
    def name(self) -> str:
        """The name of the underlying ``logging.Logger``."""
        return self._logger.name

    @property
    def fields(self) -> Mapping[str, object]:
        """The fields bound to this logger."""
        return self._fields

    def _log(self, level: int, message: str, fields: Mapping[str, object]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        merged = {**self._fields, **fields} if self._fields else dict(fields)
        trace = tracecontext.current()
        if trace is not None:
            merged.setdefault("trace_id", trace.trace_id)
            merged.setdefault("span_id", trace.span_id)
        safe = {
            key: REDACTED if is_secret_key(key) else mask_userinfo(value) if isinstance(value, str) else value
            for key, value in merged.items()
        }
        message = mask_userinfo(message)
        if safe:
            message = f"{message} " + " ".join(f"{key}={_render(value)}" for key, value in safe.items())
        # stacklevel 3: _log <- debug/info/... <- the caller, whose file and line the record should carry
        self._logger.log(level, message, extra={"fields": safe}, stacklevel=3)

    def debug(self, message: str, /, **fields: object) -> None:
        """Log at ``logging.DEBUG``."""
        self._log(logging.DEBUG, message, fields)

    def info(self, message: str, /, **fields: object) -> None:
        """Log at ``logging.INFO``."""
        self._log(logging.INFO, message, fields)

    def warning(self, message: str, /, **fields: object) -> None:
        """Log at ``logging.WARNING``."""
        self._log(logging.WARNING, message, fields)

    def error(self, message: str, /, **fields: object) -> None:
        """Log at ``logging.ERROR``."""
        self._log(logging.ERROR, message, fields)

    def critical(self, message: str, /, **fields: object) -> None:
        """Log at ``logging.CRITICAL``; the process keeps running."""
        self._log(logging.CRITICAL, message, fields)

    def bind(self, **fields: object) -> StdlibLogger:
        """Return a logger on the same ``logging.Logger`` with these fields added to the bound ones."""
        return StdlibLogger(self._logger.name, **{**self._fields, **fields})

    def __repr__(self) -> str:
        return f"StdlibLogger({self._logger.name!r}, fields={sorted(self._fields)})"


class NullLogger:
    """A ``Logger`` that discards everything; the default where no logger is configured."""

    __slots__ = ()

    def debug(self, message: str, /, **fields: object) -> None:
        """Discard the record."""

    def info(self, message: str, /, **fields: object) -> None:
        """Discard the record."""

    def warning(self, message: str, /, **fields: object) -> None:
        """Discard the record."""

    def error(self, message: str, /, **fields: object) -> None:
        """Discard the record."""

    def critical(self, message: str, /, **fields: object) -> None:
        """Discard the record."""

    def bind(self, **fields: object) -> NullLogger:
        """Return this logger: there is nothing to bind to."""
        return self
